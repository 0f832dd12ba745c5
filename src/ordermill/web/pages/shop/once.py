"""A storefront form that does its work once, however often it is sent.

Each such form carries a key made when the page was rendered (``form_key``). The POST
goes through the API's idempotency store (``web.http.run_idempotent``): the work and
the key are committed in one transaction, and the same form sent again (a double
click, a resubmitted page, a retry after a lost answer) gets the first answer's
redirect instead of doing the work twice. A second send that arrives while the first
is still running waits for it, so the browser, which shows the answer to the last
request it sent, lands where the first one went.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from ordermill.db import Database
from ordermill.errors import Code, Conflict, InvalidInput
from ordermill.services import idempotency
from ordermill.services.accounts import Principal
from ordermill.web.http import run_idempotent
from ordermill.web.pages.render import redirect

KEY_FIELD = "form_key"
FORM_DAMAGED = (
    "This form was damaged on its way, so nothing was done. Reload the page and send it again."
)
WAIT_FOR_FIRST = 15.0  # seconds a second send waits for the first one to finish
_PAUSES = (0.02, 0.05, 0.1, 0.2)


def new_form_key() -> str:
    """A fresh key for a form being rendered."""
    return uuid.uuid4().hex


def submit_once(
    request: Request,
    database: Database,
    key: str,
    payload: Any,
    work: Callable[[Session], Response],
    *,
    owner: Principal,
    replayed: str | None = None,
    fallback: str = "/account/orders",
) -> Response:
    """``work`` (which answers with a redirect) in one write transaction, once per ``key``.

    A form sent again is sent where the first went, with the message ``replayed``
    (the first answer's message was shown with it). An empty ``key`` (a form from
    before keys) runs the work without the store. Refusals raise as the work raised
    them, with nothing done; a damaged key is refused as ``FORM_DAMAGED`` (field
    ``KEY_FIELD``).
    """
    if key.strip():
        try:
            idempotency.validate_key(key)
        except InvalidInput:
            raise InvalidInput(FORM_DAMAGED, field=KEY_FIELD) from None
    deadline = time.monotonic() + WAIT_FOR_FIRST
    attempt = 0
    while True:
        try:
            answer = run_idempotent(
                database, request, key.strip() or None, payload, work, owner=owner
            )
            break
        except Conflict as exc:
            if exc.code != Code.IDEMPOTENCY_KEY_IN_USE or time.monotonic() > deadline:
                raise
        time.sleep(_PAUSES[min(attempt, len(_PAUSES) - 1)])
        attempt += 1
    if answer.headers.get("Idempotent-Replayed"):
        return redirect(request, answer.headers.get("location") or fallback, ok=replayed)
    return answer
