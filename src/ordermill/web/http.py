"""HTTP plumbing shared by the routers: JSON bodies, ETags, pagination links, idempotency."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy.orm import Session

from ordermill.db import Database
from ordermill.errors import PreconditionFailed
from ordermill.services import idempotency
from ordermill.services.accounts import Principal
from ordermill.services.pagination import Page

JSON = "application/json"

# A response body: a model, or the same as plain JSON-ready values (``present.order_document``).
Body = BaseModel | dict[str, Any]


def json_bytes(body: Body | list[Any]) -> bytes:
    """``body`` as JSON, as the model's own ``model_dump_json`` writes it."""
    if isinstance(body, BaseModel):
        return body.model_dump_json().encode()
    if isinstance(body, dict) or all(isinstance(item, dict) for item in body):
        return to_json(body)  # plain values, a list of them at once
    return b"[" + b",".join(json_bytes(item) for item in body) + b"]"


def json_response(
    body: Body | list[Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(json_bytes(body), status_code=status_code, media_type=JSON, headers=headers)


def etag_for(body: bytes | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def _etag_list(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def _none_match(request: Request, tag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    return header.strip() == "*" or tag in _etag_list(header)


def resource_response(request: Request, model: Body, status_code: int = 200) -> Response:
    """A single resource with its ETag; a read whose ``If-None-Match`` matches gives 304."""
    body = json_bytes(model)
    tag = etag_for(body)
    if status_code == 200 and request.method in ("GET", "HEAD") and _none_match(request, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, status_code=status_code, media_type=JSON, headers={"ETag": tag})


def check_if_match(request: Request, current: BaseModel) -> None:
    """Check a change's preconditions before making it (RFC 9110): else 412, nothing done.

    ``If-Match`` must name the current ETag; an ``If-None-Match`` that matches it
    means the client asked for the change only if the resource is not as it is.
    """
    tag = etag_for(current.model_dump_json())
    if_match = request.headers.get("if-match")
    if if_match and if_match.strip() != "*" and tag not in _etag_list(if_match):
        raise PreconditionFailed(
            "The resource changed since you read it; fetch it again and retry.",
        )
    if _none_match(request, tag):
        raise PreconditionFailed("If-None-Match matches the resource as it is; nothing done.")


def page_response(request: Request, page: Page[Any], items: list[Any]) -> Response:
    """A list page; ``Link: <…>; rel="next"`` points at the following page."""
    headers = {}
    if page.next_cursor is not None:
        url = request.url.include_query_params(cursor=page.next_cursor)
        headers["Link"] = f'<{url}>; rel="next"'
    return json_response(items, headers=headers)


class _InFlight:
    """Keys of requests running in this process (the database covers other processes)."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._lock:
            if key in self._keys:
                raise idempotency.in_use(key)
            self._keys.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._keys.discard(key)


_in_flight = _InFlight()
_REPLAYED_HEADERS = ("location", "etag")


def run_idempotent(
    database: Database,
    request: Request,
    key: str | None,
    payload: Any,
    work: Callable[[Session], Response],
    *,
    owner: Principal,
) -> Response:
    """Run ``work`` in one write transaction, once per ``Idempotency-Key``.

    Keys belong to the user who sent them: another user's identical key is a
    different key, and reveals nothing.
    """
    if key is None:
        with database.write() as session:
            return work(session)
    key = f"{owner.user_id or 0}:{idempotency.validate_key(key)}"
    fingerprint = idempotency.fingerprint(request.method, request.url.path, payload)
    with _in_flight.hold(key), database.write() as session:
        stored = idempotency.claim(session, key, fingerprint)
        if stored is not None:
            headers = dict(stored.headers)
            headers["Idempotent-Replayed"] = "true"
            return Response(
                stored.body, status_code=stored.status_code, media_type=JSON, headers=headers
            )
        response = work(session)
        body = bytes(response.body).decode()
        kept = {
            name: value for name, value in response.headers.items() if name in _REPLAYED_HEADERS
        }
        idempotency.store(
            session, key, fingerprint, idempotency.StoredResponse(response.status_code, body, kept)
        )
        return response
