"""Idempotency keys: a retried request gets the first response, and the work happens once.

The completed response is stored in the same transaction as the change it
describes, so a key is either stored with its effect or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ordermill.errors import Code, Conflict, IdempotencyKeyReused, InvalidInput
from ordermill.models import utcnow
from ordermill.services.tables import idempotency_keys

# Stored as "<user id>:<key>" in a 255-character column.
MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: str
    headers: dict[str, str]


def validate_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            code=Code.INVALID_IDEMPOTENCY_KEY,
            field="Idempotency-Key",
        )
    return key


def fingerprint(method: str, path: str, payload: Any) -> str:
    """A digest of what the request asks for; the same key must always ask the same."""
    canonical = json.dumps([method.upper(), path, payload], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def in_use(key: str) -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        code=Code.IDEMPOTENCY_KEY_IN_USE,
    )


def claim(session: Session, key: str, request_fingerprint: str) -> StoredResponse | None:
    """Take the key for this transaction; return the stored response if it already ran.

    On PostgreSQL a transaction-scoped advisory lock tells a concurrent duplicate
    (from any process) that the first request is still running.
    """
    if session.get_bind().dialect.name == "postgresql":
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        if not session.execute(select(func.pg_try_advisory_xact_lock(lock_id))).scalar_one():
            raise in_use(key)
    row = session.execute(
        select(
            idempotency_keys.c.fingerprint,
            idempotency_keys.c.status_code,
            idempotency_keys.c.body,
            idempotency_keys.c.headers,
        ).where(idempotency_keys.c.key == key)
    ).one_or_none()
    if row is None:
        return None
    if row.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request.",
        )
    return StoredResponse(row.status_code, row.body, dict(row.headers or {}))


def store(session: Session, key: str, request_fingerprint: str, response: StoredResponse) -> None:
    """Record the response of a completed request, in the request's transaction."""
    session.execute(
        insert(idempotency_keys).values(
            key=key,
            fingerprint=request_fingerprint,
            status_code=response.status_code,
            body=response.body,
            headers=response.headers,
            created=utcnow(),
        )
    )
