"""Checking a form with the API's own request schema, for messages next to its fields.

A page's form is checked by the same schema as the API's JSON body (lengths,
patterns, money, control characters), so a rule holds on both. What the schema
says is turned into a sentence per field; a service's refusal names its field
too (``InvalidInput(field=...)``) or stands for the whole form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ordermill.errors import OrdermillError
from ordermill.web.pages.render import explain

M = TypeVar("M", bound=BaseModel)
FORM = "form"  # errors about the whole form, shown above it

_WHOLE_NUMBER = re.compile(r"[+-]?\d{1,12}")


def whole_number(text: str) -> int | str:
    """A form's number as an int, or the text itself for the schema to refuse."""
    text = text.strip()
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else text


def optional_number(text: str) -> int | str | None:
    """An empty field is None (no value); otherwise as ``whole_number``."""
    return None if not text.strip() else whole_number(text)


def _sentence(error: Mapping[str, Any], messages: Mapping[str, str]) -> str:
    field = str(error["loc"][0]) if error["loc"] else FORM
    kind = error["type"]
    if field in messages and kind in ("string_pattern_mismatch", "literal_error"):
        return messages[field]
    empty = isinstance(error.get("input"), str) and not error["input"].strip()
    if kind == "missing" or (empty and kind in ("string_too_short", "value_error")):
        return "Fill this in."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "Enter a whole number, such as 12 or -3."
    if kind == "literal_error":
        return "Choose one of the options."
    context = error.get("ctx", {})
    if kind == "string_too_short":
        return f"Use at least {context['min_length']} characters."
    if kind == "string_too_long":
        return f"Use at most {context['max_length']} characters."
    if kind == "greater_than_equal":
        return f"Use a number of at least {context['ge']}."
    if kind == "less_than_equal":
        return f"Use a number of at most {context['le']}."
    text = str(error["msg"]).removeprefix("Value error, ")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def check(
    model: type[M], data: Mapping[str, Any], messages: Mapping[str, str] | None = None
) -> tuple[M | None, dict[str, str]]:
    """``data`` as ``model``, or None and a message per field that is wrong.

    ``messages`` words a field's pattern or choice for people (a regular expression
    means nothing to them).
    """
    try:
        return model.model_validate(dict(data)), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else FORM
            errors.setdefault(field, _sentence(error, messages or {}))
        return None, errors


def refusal(
    error: OrdermillError, fields: tuple[str, ...], codes: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A service's refusal as a form error: next to its field if the form has it (the
    field the error names, or the one ``codes`` gives its code), else above the form."""
    field = (codes or {}).get(error.code) or error.detail.get("field")
    if isinstance(field, str) and field in fields:
        text = error.message
        return {field: text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")}
    return {FORM: explain(error)}
