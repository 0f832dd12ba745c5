"""Fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

Set ``ORDERMILL_TEST_POSTGRES_URL`` (for example
``postgresql://postgres@127.0.0.1:5432/test``) to add PostgreSQL. The suite then
creates a throwaway database next to the one named, migrates it once, and
empties it between tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.migrate import upgrade
from ordermill.models import Base
from ordermill.web.app import create_app
from tests import factories

POSTGRES_URL = os.environ.get("ORDERMILL_TEST_POSTGRES_URL", "").strip()
# No delivery worker inside the servers tests start (in-process or as a command), unless
# a test asks for one (``worker_in_server=True``) to watch messages leave.
os.environ.setdefault("ORDERMILL_WORKER_IN_SERVER", "false")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def _driver_url(url: str) -> str:
    return Settings(database_url=url).database_url


class PostgresServer:
    """A throwaway database on the PostgreSQL server named by the environment."""

    def __init__(self, url: str) -> None:
        self.admin_url = make_url(_driver_url(url))
        self.name = f"ordermill_test_{uuid.uuid4().hex[:10]}"
        self.url = self.admin_url.set(database=self.name).render_as_string(hide_password=False)
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:  # the whole run must fail, not skip, when asked for PostgreSQL
            raise RuntimeError(
                f"ORDERMILL_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}"
            ) from exc
        finally:
            admin.dispose()
        upgrade(self.url)

    def truncate(self, database: Database) -> None:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with database.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))

    def drop(self) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    if not POSTGRES_URL:
        yield None
        return
    server = PostgresServer(POSTGRES_URL)
    yield server
    server.drop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_database(postgres_server: PostgresServer | None) -> Iterator[Database | None]:
    if postgres_server is None:
        yield None
        return
    database = Database(postgres_server.url, Settings(database_url=postgres_server.url))
    yield database
    database.dispose()


def _open_database(
    backend: str,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_server: PostgresServer | None,
    postgres_database: Database | None,
) -> Iterator[Database]:
    if backend == "sqlite":
        path = tmp_path / "ordermill.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
        database = Database(url, Settings(database_url=url))
        yield database
        database.dispose()
        return
    assert postgres_server is not None
    assert postgres_database is not None
    postgres_server.truncate(postgres_database)
    yield postgres_database


@pytest.fixture(params=BACKENDS)
def database(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_server: PostgresServer | None,
    _postgres_database: Database | None,
) -> Iterator[Database]:
    """A fresh, migrated database: once on SQLite, once on PostgreSQL."""
    yield from _open_database(
        request.param, tmp_path, sqlite_template, postgres_server, _postgres_database
    )


@pytest.fixture
def sqlite_database(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A fresh, migrated SQLite database, for what only SQLite does."""
    yield from _open_database("sqlite", tmp_path, sqlite_template, None, None)


@pytest.fixture
def pg_database(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_server: PostgresServer | None,
    _postgres_database: Database | None,
) -> Iterator[Database]:
    """A fresh PostgreSQL database, for tests of real concurrency (marked ``postgres_only``)."""
    if request.node.get_closest_marker("postgres_only") is None:
        pytest.fail("a test using pg_database runs on PostgreSQL only: mark it postgres_only")
    assert postgres_server is not None  # unmarked runs were skipped at collection
    yield from _open_database(
        "postgres", tmp_path, sqlite_template, postgres_server, _postgres_database
    )


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables at all (a SQLite file not created yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = make_url(_driver_url(POSTGRES_URL))
    name = f"ordermill_empty_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def settings(database: Database) -> Settings:
    return Settings(database_url=database.url)


@pytest.fixture(autouse=True)
def _mail_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Emails a test's worker writes as files go to its own folder, not ./mail."""
    monkeypatch.setenv("ORDERMILL_MAIL_DIR", str(tmp_path / "mail"))


@pytest.fixture
def anonymous_client(database: Database) -> Iterator[TestClient]:
    """The API over HTTP (in-process ASGI), on ``database``, without credentials."""
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def client(database: Database) -> Iterator[TestClient]:
    """The API over HTTP, signed in as an admin (who may do everything)."""
    app = create_app(Settings(database_url=database.url), database)
    token = factories.token_for(database, factories.user(database, role="admin"))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without a PostgreSQL server, the ``postgres_only`` tests are skipped."""
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="PostgreSQL not configured (set ORDERMILL_TEST_POSTGRES_URL)")
    for item in items:
        if item.get_closest_marker("postgres_only") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not POSTGRES_URL:
        terminalreporter.write_line(
            "PostgreSQL tests were skipped: set ORDERMILL_TEST_POSTGRES_URL to run them "
            "(e.g. postgresql://postgres@127.0.0.1:5432/test).",
            yellow=True,
        )
