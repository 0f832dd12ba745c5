"""Searching text columns for what a person typed: a part of it, in any case.

``contains(columns, text)`` is ``ILIKE '%text%'`` on any of ``columns``, with the
text's own ``%``, ``_`` and ``\\`` matched as themselves. PostgreSQL serves it from a
trigram (``pg_trgm``) GIN index on the columns; SQLite reads the table.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, or_

from ordermill.errors import InvalidInput

# Longer is no name or email anyone could type.
MAX_SEARCH = 320
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def search_text(text: str | None, *, field: str = "search") -> str | None:
    """What to look for: ``text`` without its edge spaces; ``None`` when there's nothing."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > MAX_SEARCH:
        raise InvalidInput(f"{field} must be at most {MAX_SEARCH} characters", field=field)
    if _CONTROL.search(text):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    return text


def like_pattern(text: str) -> str:
    """``text`` found anywhere, as a ``LIKE`` pattern whose escape character is ``\\``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(columns: list[Any], text: str) -> ColumnElement[bool]:
    """Whether any of ``columns`` holds ``text``, in any case."""
    pattern = like_pattern(text)
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))
