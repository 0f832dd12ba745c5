"""Reading the order forms: text fields, amounts, a return's lines, where to go back to.

Every check here raises ``FormError`` naming the field, so the page comes back with
the message next to it and what was typed still in it (400); nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request

from ordermill.domain.money import parse_amount
from ordermill.errors import InvalidInput
from ordermill.services.workflow import ReturnLine
from ordermill.web.pages.sessions import STAFF, safe_next

MAX_QUANTITY = 1_000_000
_LINE_FIELD = re.compile(r"line_([0-9]{1,10})")
_COUNT = re.compile(r"[0-9]{1,7}")


async def posted(request: Request) -> dict[str, str]:
    """Every text field of the posted form (for a form whose fields depend on the order)."""
    sent = await request.form()
    return {key: value for key, value in sent.items() if isinstance(value, str)}


Posted = Annotated[dict[str, str], Depends(posted)]


class FormError(Exception):
    """A field of a form is wrong: which one, and what to do about it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def text(
    values: Mapping[str, Any], name: str, *, limit: int, required: str | None = None
) -> str | None:
    """A text field, trimmed: ``None`` when empty (``required`` says why it may not be)."""
    raw = values.get(name)
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        if required:
            raise FormError(name, required)
        return None
    if len(value) > limit:
        raise FormError(name, f"Use at most {limit} characters ({len(value)} now).")
    return value


def amount(values: Mapping[str, Any], name: str = "amount") -> int:
    """Money typed as a decimal (12.50) in minor units, more than zero."""
    raw = values.get(name)
    typed = raw.strip() if isinstance(raw, str) else ""
    if not typed:
        raise FormError(name, "Type the amount received, such as 12.50.")
    try:
        minor = parse_amount(typed, field=name)
    except InvalidInput as exc:
        raise FormError(name, _sentence(exc.message)) from None
    if minor <= 0:
        raise FormError(name, "The amount must be more than zero.")
    return minor


def return_lines(values: Mapping[str, Any], restock: bool) -> list[ReturnLine]:
    """The lines of a return: each ``line_<id>`` field with a count of units above zero."""
    lines = []
    for name, raw in values.items():
        found = _LINE_FIELD.fullmatch(name)
        if not found or not isinstance(raw, str):
            continue
        typed = raw.strip()
        if typed in ("", "0"):
            continue
        if not _COUNT.fullmatch(typed) or int(typed) > MAX_QUANTITY:
            raise FormError(name, "Type a whole number of units, such as 2.")
        if int(typed) > 0:
            lines.append(ReturnLine(int(found.group(1)), int(typed), restock))
    if not lines:
        raise FormError("lines", "Type how many units of at least one line come back.")
    return lines


def back_to(target: str | None) -> str | None:
    """Where the orders table's forms send staff back to: the table with its filters,
    never another site or another page."""
    if not target:
        return None
    safe = safe_next(target, STAFF)
    if safe == "/admin/orders" or safe.startswith("/admin/orders?"):
        return safe
    return None


def _sentence(message: str) -> str:
    message = message[:1].upper() + message[1:]
    return message if message.endswith(".") else f"{message}."
