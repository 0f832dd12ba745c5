"""A form's errors next to its fields: from the API's request schemas and the services.

A page validates what a form sent with the same schema the API route uses, then
calls the same service; either may refuse. ``field_errors`` turns a schema's
``ValidationError`` into one readable message per field, ``error_field`` says which
field a service's ``OrdermillError`` is about.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ordermill.errors import Code, OrdermillError

FORM = "form"  # the key of an error about the whole form, not one field


def _message(error: Any) -> str:
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, OrdermillError):
        return cause.message
    if isinstance(cause, ValueError):
        return str(cause)
    kind = error.get("type")
    if kind in ("missing", "string_too_short") and ctx.get("min_length", 1) == 1:
        return "This can't be empty."
    if kind == "string_too_long":
        return f"At most {ctx['max_length']} characters."
    return str(error.get("msg", "This isn't valid."))


def field_errors(exc: ValidationError) -> dict[str, str]:
    """The first message for each field the schema refused."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        location = error.get("loc") or ()
        field = str(location[0]) if location else FORM
        errors.setdefault(field, _message(error))
    return errors


def error_field(exc: OrdermillError, fields: tuple[str, ...]) -> str:
    """The form field a service's refusal is about (the whole form if none of them)."""
    field = exc.detail.get("field")
    if field in fields:
        return str(field)
    if exc.code == Code.EMAIL_TAKEN and "email" in fields:
        return "email"
    return FORM
