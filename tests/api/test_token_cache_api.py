"""Tokens are checked once and then trusted from memory; every change that stops a token
stops it on the very next request, whichever way it is made.

On PostgreSQL a server process's cache serves only while it listens for token changes, so
each test first waits for that (``caching_client``): otherwise it would test the database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from typer.testing import CliRunner

from ordermill.cli import app as cli_app
from ordermill.config import Settings, get_settings
from ordermill.db import Database
from ordermill.web.app import create_app
from tests import factories


@pytest.fixture
def caching_client(database: Database) -> Iterator[TestClient]:
    """An admin's client on a server whose token cache serves (PostgreSQL: it listens)."""
    app = create_app(Settings(database_url=database.url), database)
    admin = factories.token_for(database, factories.user(database, role="admin"))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        deadline = time.monotonic() + 15
        while not app.state.token_cache.serving:
            assert time.monotonic() < deadline, "the server never listened for token changes"
            time.sleep(0.02)
        test_client.headers["Authorization"] = f"Bearer {admin}"
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def whoami(client: TestClient, token: str) -> Any:
    return client.get("/api/auth/whoami", headers=bearer(token))


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements run on ``database`` inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def cached_twice(client: TestClient, token: str) -> None:
    """Given the token was checked once and is now served from memory."""
    assert whoami(client, token).status_code == 200
    assert whoami(client, token).status_code == 200


def test_a_checked_token_is_answered_again_without_a_database_statement(
    caching_client: TestClient, database: Database
) -> None:
    token = factories.token_for(database, factories.user(database, role="staff"))
    assert whoami(caching_client, token).status_code == 200

    with statements(database) as seen:
        response = whoami(caching_client, token)

    assert response.status_code == 200
    assert seen == []


def test_a_logged_out_token_is_refused_on_the_next_request(
    caching_client: TestClient, database: Database
) -> None:
    token = factories.token_for(database, factories.user(database, role="staff"))
    cached_twice(caching_client, token)

    assert caching_client.post("/api/auth/logout", headers=bearer(token)).status_code == 204

    assert whoami(caching_client, token).status_code == 401


def test_a_token_revoked_by_an_admin_is_refused_on_the_next_request(
    caching_client: TestClient, database: Database
) -> None:
    staff = factories.user(database, role="staff")
    token = factories.token_for(database, staff)
    cached_twice(caching_client, token)
    with database.read() as session:
        token_id = session.execute(
            text("SELECT id FROM api_tokens WHERE user_id = :u"), {"u": staff}
        ).scalar_one()

    assert caching_client.delete(f"/api/tokens/{token_id}").status_code == 204

    assert whoami(caching_client, token).status_code == 401


def test_a_disabled_users_token_is_refused_on_the_next_request(
    caching_client: TestClient, database: Database
) -> None:
    staff = factories.user(database, role="staff")
    token = factories.token_for(database, staff)
    cached_twice(caching_client, token)

    assert caching_client.patch(f"/api/users/{staff}", json={"disabled": True}).status_code == 200

    assert whoami(caching_client, token).status_code == 401


def test_a_changed_role_holds_from_the_next_request(
    caching_client: TestClient, database: Database
) -> None:
    staff = factories.user(database, role="staff")
    token = factories.token_for(database, staff)
    cached_twice(caching_client, token)
    assert caching_client.get("/api/users", headers=bearer(token)).status_code == 403

    assert caching_client.patch(f"/api/users/{staff}", json={"role": "admin"}).status_code == 200

    assert whoami(caching_client, token).json()["role"] == "admin"
    assert caching_client.get("/api/users", headers=bearer(token)).status_code == 200

    me = caching_client.patch(f"/api/users/{staff}", json={"role": "staff"})
    assert me.status_code == 200
    assert caching_client.get("/api/users", headers=bearer(token)).status_code == 403


def test_a_password_set_from_the_command_line_in_another_unit_of_work_stops_the_token(
    caching_client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff_email = "clerk@example.com"
    token = factories.token_for(database, factories.user(database, email=staff_email))
    cached_twice(caching_client, token)
    monkeypatch.setenv("ORDERMILL_DATABASE_URL", database.url)
    get_settings.cache_clear()

    done = CliRunner().invoke(
        cli_app,
        ["users", "set-password", staff_email, "--password-stdin"],
        input="a brand new password\n",
    )
    get_settings.cache_clear()

    assert done.exit_code == 0, done.output
    assert whoami(caching_client, token).status_code == 401


def test_a_customers_new_email_shows_on_their_token_at_once(
    caching_client: TestClient, database: Database
) -> None:
    customer_id, user_id = factories.customer_login(database)
    token = factories.token_for(database, user_id)
    cached_twice(caching_client, token)

    changed = caching_client.patch(
        f"/api/customers/{customer_id}", json={"email": "new.address@example.com"}
    )

    assert changed.status_code == 200, changed.text
    assert whoami(caching_client, token).json()["email"] == "new.address@example.com"


def test_a_deleted_customers_token_is_refused_on_the_next_request(
    caching_client: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, balance=0)
    with database.read() as session:
        email = session.execute(
            text("SELECT email FROM customers WHERE id = :c"), {"c": customer_id}
        ).scalar_one()
    token = factories.token_for(
        database, factories.user(database, role="customer", customer_id=customer_id, email=email)
    )
    cached_twice(caching_client, token)

    assert caching_client.delete(f"/api/customers/{customer_id}").status_code == 204

    assert whoami(caching_client, token).status_code == 401


@pytest.mark.postgres_only
def test_while_not_listening_a_server_checks_every_token_in_the_database(
    pg_database: Database,
) -> None:
    app = create_app(Settings(database_url=pg_database.url), pg_database)
    tokens = app.state.token_cache
    staff = factories.user(pg_database, role="staff")
    token = factories.token_for(pg_database, staff)
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_for(lambda: tokens.serving, "the server never listened")
        cached_twice(client, token)

        with pg_database.write() as session:  # the listener's connection ends
            session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": f"ordermill-token-listen {os.getpid()}"},
            )
        wait_for(lambda: not tokens.serving, "the cache kept serving without its listener")
        with pg_database.write() as session:  # a change nobody announces
            session.execute(
                text("UPDATE api_tokens SET revoked = now() WHERE user_id = :u"), {"u": staff}
            )

        assert whoami(client, token).status_code == 401
        wait_for(lambda: tokens.serving, "the server did not listen again")


def wait_for(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.005)
