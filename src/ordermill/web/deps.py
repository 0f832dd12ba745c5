"""Dependencies the routes declare: the database, settings, paging and idempotency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from ordermill.config import Settings
from ordermill.db import Database


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_settings_dep(request: Request) -> Settings:
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
    ),
]


def page_limit(settings: Settings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
