"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import FastAPI, Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ordermill import __version__
from ordermill.config import Settings, get_settings
from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.notify import channels_for
from ordermill.notify.worker import Worker
from ordermill.services.accounts import Principal
from ordermill.token_cache import TokenCache, follow_changes
from ordermill.web import outage
from ordermill.web.api import (
    auth,
    carts,
    customers,
    me,
    operation_id,
    orders,
    problems,
    products,
    users,
    webhooks,
    workflow,
)
from ordermill.web.auth import requires
from ordermill.web.deps import DatabaseDep
from ordermill.web.docs import install_docs
from ordermill.web.http import json_response
from ordermill.web.middleware import LimitRequestBody, RejectNulInUrl
from ordermill.web.openapi import install_openapi
from ordermill.web.pages import install_pages
from ordermill.web.problems import install_error_handlers

DESCRIPTION = """
Order management for independent online stores.

* Money is a decimal string (`"12.50"`); send a number or a string with at most 2 decimals.
* Every error is `application/problem+json` with a stable `code` (the `Code` schema lists them).
* Operations with a lock need a bearer token (*Authorize*); the catalog, the workflow,
  sign-up, login and `/health` don't.
* `POST /api/orders`, checkout and `PUT /api/orders/{id}` accept an `Idempotency-Key` header.
* Lists are paginated: `limit`, and a `Link: <…>; rel="next"` header with a cursor.
"""


class Health(BaseModel):
    """What ``/health`` answers: ``degraded`` (and 503) while a dependency is down."""

    status: Literal["ok", "degraded"]
    checks: dict[str, Literal["ok", "unavailable"]] = Field(
        description="Each dependency the API needs (the database): ok or unavailable"
    )


def _database_check(db: Database) -> Literal["ok", "unavailable"]:
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    except DBAPIError as exc:
        failure = outage.failure_of(exc)
        if failure is None:
            raise
        outage.log_failure(failure, exc, "GET", "/health")
        return "unavailable"
    return "ok"


def serve_app() -> FastAPI:
    """``create_app()`` for a server process (``ordermill serve``'s factory).

    What the app built is set aside from the cyclic garbage collector (``gc.freeze``):
    a full collection otherwise walks all of it (about 150,000 objects, 30-90 ms on the
    development machine) while every request in the process waits, once every few
    thousand requests, which is what a p99 is made of. It then walks only what requests
    left behind. Tests build many apps in one process and don't freeze them."""
    app = create_app()
    gc.collect()  # what start-up left behind is collected, not kept forever
    gc.freeze()
    return app


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the app for ``settings`` (defaults to the environment) and ``database``."""
    settings = settings or get_settings()
    owns_database = database is None
    database = database or Database(settings.database_url, settings)

    # Resolved tokens, for a few seconds; on PostgreSQL only while listening for changes.
    tokens: TokenCache[Principal] = TokenCache(
        settings.token_cache_seconds, serving=database.is_sqlite
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop_listening = threading.Event()
        if not database.is_sqlite and settings.token_cache_seconds > 0:
            follow_changes(tokens, database.url, stop_listening)
        # The server's own worker (``ORDERMILL_WORKER_IN_SERVER``): `make run` sends mail.
        worker = (
            Worker(database, settings, channels_for(settings))
            if settings.worker_in_server
            else None
        )
        thread = worker.start() if worker else None
        if worker is not None:
            database.on_commit(worker.nudge)  # a change's messages leave at once
        yield
        stop_listening.set()
        tokens.suspend()
        if worker is not None and thread is not None:
            worker.stop()
            await asyncio.to_thread(thread.join, 30)
        if owns_database:
            database.dispose()

    app = FastAPI(
        title="ordermill",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,  # served offline by install_docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.token_cache = tokens
    install_error_handlers(app)
    app.add_middleware(RejectNulInUrl)
    app.add_middleware(LimitRequestBody, max_bytes=settings.max_body_bytes)
    # Matched in this order, one route after another: the busiest first.
    for module in (auth, orders, me, carts, products, customers, workflow, users, webhooks):
        app.include_router(module.router)

    install_pages(app)
    install_openapi(app)
    install_docs(app)

    @app.get(
        "/health",
        tags=["health"],
        response_model=Health,
        responses={
            **problems(),
            503: {"model": Health, "description": "A dependency is down (see checks)"},
        },
    )
    def check_health(
        db: DatabaseDep, _caller: Annotated[Principal, requires(Permission.PUBLIC)]
    ) -> Response:
        """Liveness and each dependency's state; 503 and "degraded" while one is down."""
        checks = {"database": _database_check(db)}
        healthy = all(state == "ok" for state in checks.values())
        body = Health(status="ok" if healthy else "degraded", checks=checks)
        return json_response(body, status_code=200 if healthy else 503)

    return app
