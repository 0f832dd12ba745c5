"""Opaque keyset cursors for paginated lists."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from ordermill.errors import Code, InvalidInput

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_ID = 2_147_483_647


def _invalid() -> InvalidInput:
    return InvalidInput(
        "cursor is not valid; use the Link header of the previous page",
        code=Code.INVALID_CURSOR,
        field="cursor",
    )


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """Decode a cursor made by :func:`encode_cursor`; a tampered one is invalid input."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise _invalid() from None
    if not isinstance(values, list) or len(values) != arity:
        raise _invalid()
    return values


def _checked_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise _invalid()
    return value


def decode_id_cursor(cursor: str) -> int:
    """The last id of the previous page."""
    (last_id,) = decode_cursor(cursor, 1)
    return _checked_id(last_id)


def page_by_id(session: Session, stmt: Any, model: Any, limit: int, cursor: str | None) -> Any:
    """One page of ``stmt``'s ``model`` rows by id, after the cursor's id (a ``Page``)."""
    if cursor is not None:
        stmt = stmt.where(model.id > decode_id_cursor(cursor))
    rows = list(session.scalars(stmt.order_by(model.id).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def decode_time_id_cursor(cursor: str) -> tuple[datetime, int]:
    """The (timestamp, id) of the previous page's last row."""
    moment, last_id = decode_cursor(cursor, 2)
    if not isinstance(moment, str):
        raise _invalid()
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        raise _invalid() from None
    if parsed.tzinfo is None:
        raise _invalid()
    return parsed, _checked_id(last_id)
