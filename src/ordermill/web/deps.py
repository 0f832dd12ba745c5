"""Dependencies the routes declare: the database, settings, paging and idempotency."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from pydantic import BeforeValidator

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.orders import ORDER_NUMBER_PATTERN
from ordermill.services.idempotency import MAX_KEY_LENGTH


async def get_database(request: Request) -> Database:
    # Async, as it does no I/O: FastAPI runs a sync dependency in the thread pool, a
    # hand-off that costs more than the function.
    database: Database = request.app.state.database
    return database


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CursorQuery = Annotated[
    str | None, Query(description="Opaque cursor from the previous page's Link header")
]
LimitQuery = Annotated[int | None, Query(ge=1, le=500, description="Page size (default 50)")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe key: the same key and body replay the first response",
        # Declared, not checked here: the idempotency service refuses anything else
        # with its own code (invalid_idempotency_key).
        json_schema_extra={
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": "^[!-~]([ -~]*[!-~])?$",  # printable characters, no edge spaces
        },
    ),
]


def page_limit(settings: Settings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
OrderNumberPath = Annotated[
    str,
    Path(
        description="The year, a dash and a sequence: 2026-00001",
        # Declared, not checked here: the service refuses anything else (validation_error).
        json_schema_extra={"pattern": ORDER_NUMBER_PATTERN, "maxLength": 20},
        examples=["2026-00001"],
    ),
]

_NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def iso_8601_only(value: Any) -> Any:
    """Refuse a number where a date-time is expected, instead of reading a Unix timestamp."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER_TEXT.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z, not a number")
    return value


def date_time_query(description: str) -> Any:
    """A query timestamp: ISO 8601 text only (``format: date-time`` in the document)."""
    return Query(description=f"{description} (ISO 8601, such as 2026-01-31T12:00:00Z)")


DateTimeQuery = Annotated[datetime | None, BeforeValidator(iso_8601_only)]
