"""While the database can't be reached: 503 with Retry-After, one log line, /health says so.

Real outages: a PostgreSQL URL on a port nothing listens on (can't connect), the
server ending the app's connections (connection lost), a SQLite file that can't
be opened, and one locked by another process beyond the busy timeout.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.web.app import create_app
from tests import factories
from tests.api.helpers import assert_problem
from tests.conftest import PostgresServer

APP_NAME = "ordermill_outage_test"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused


def _client(database: Database, **settings: object) -> TestClient:
    # Exceptions that reach the server (and its traceback log) fail the test.
    app = create_app(Settings(database_url=database.url, **settings), database)  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=True)


def assert_unavailable(response: httpx.Response, detail: str) -> None:
    problem = assert_problem(response, 503, "database_unavailable")
    assert problem["detail"] == detail
    assert response.headers["retry-after"] == "1"


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the API logged about the outage; none of it may carry a traceback."""
    records = [r for r in caplog.records if r.name.startswith("ordermill")]
    assert all(r.exc_info is None and "Traceback" not in r.getMessage() for r in records)
    return [r.getMessage() for r in records]


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def unreachable_postgres() -> Iterator[Database]:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/ordermill"
    database = Database(Settings(database_url=url).database_url, Settings(database_url=url))
    yield database
    database.dispose()


def test_a_postgresql_server_that_cant_be_reached_gives_503_and_one_log_line_per_request(
    unreachable_postgres: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with _client(unreachable_postgres) as client:
        responses = [
            client.get("/api/products"),
            client.post(
                "/api/auth/signup",
                json={"name": "Grace", "email": "grace@example.com", "password": "cobol forever!"},
            ),
        ]
        login = client.post(
            "/api/auth/token", data={"username": "a@example.com", "password": "secret"}
        )

    for response in [*responses, login]:
        assert_unavailable(response, "The database can't be reached; retry in a moment.")
    lines = outage_lines(caplog)
    assert len(lines) == 3
    assert lines[0].startswith("database unavailable (can't connect) on GET /api/products: ")
    assert "Connection refused" in lines[0]
    assert "\n" not in lines[0]


def test_health_reports_the_database_unavailable_with_503(
    unreachable_postgres: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with _client(unreachable_postgres) as client:
        response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "checks": {"database": "unavailable"}}
    assert len(outage_lines(caplog)) == 1


def test_health_reports_every_check_ok_with_200(database: Database) -> None:
    with _client(database) as client:
        response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.fixture
def app_on_postgres(
    pg_database: Database, postgres_server: PostgresServer
) -> Iterator[tuple[Database, TestClient]]:
    """An app with a pool of its own (named, so its connections can be ended) and a token."""
    url = f"{postgres_server.url}?application_name={APP_NAME}"
    database = Database(url, Settings(database_url=url))
    token = factories.token_for(pg_database, factories.user(pg_database, role="admin"))
    with _client(database) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield database, client
    database.dispose()


def _end_connections(postgres_server: PostgresServer) -> int:
    """Terminate the app's connections from an admin connection, as a restart would."""
    admin = create_engine(postgres_server.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :name AND application_name = :app"
                ),
                {"name": postgres_server.name, "app": APP_NAME},
            ).scalar_one()
    finally:
        admin.dispose()
    return int(ended)


@pytest.mark.postgres_only
def test_the_first_request_on_a_connection_the_server_ended_is_a_503_and_the_next_works(
    app_on_postgres: tuple[Database, TestClient],
    postgres_server: PostgresServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _database, client = app_on_postgres
    factories.api_product(client, price="2.50")
    assert _end_connections(postgres_server) >= 1

    lost = client.get("/api/products")
    recovered = client.get("/api/products")

    assert_unavailable(lost, "The connection to the database was lost; retry in a moment.")
    assert recovered.status_code == 200
    assert [p["price"] for p in recovered.json()] == ["2.50"]
    (line,) = outage_lines(caplog)
    assert line.startswith("database unavailable (connection lost) on GET /api/products: ")


@pytest.mark.postgres_only
def test_a_write_on_a_connection_the_server_ended_is_a_503_and_a_retry_succeeds(
    app_on_postgres: tuple[Database, TestClient], postgres_server: PostgresServer
) -> None:
    _database, client = app_on_postgres
    client.get("/api/customers")  # the pool holds a connection now
    _end_connections(postgres_server)
    del client.headers["Authorization"]  # no token check: the write meets the dead connection
    signup = {"name": "Grace", "email": "grace@example.com", "password": "cobol forever!"}

    lost = client.post("/api/auth/signup", json=signup)
    retried = client.post("/api/auth/signup", json=signup)

    assert_problem(lost, 503, "database_unavailable")
    assert retried.status_code == 201, retried.text


@pytest.mark.postgres_only
def test_health_meets_the_ended_connection_with_503_then_reports_ok(
    app_on_postgres: tuple[Database, TestClient], postgres_server: PostgresServer
) -> None:
    _database, client = app_on_postgres
    del client.headers["Authorization"]  # monitors ask anonymously
    assert client.get("/health").status_code == 200
    _end_connections(postgres_server)

    down = client.get("/health")
    up = client.get("/health")

    assert (down.status_code, down.json()["checks"]) == (503, {"database": "unavailable"})
    assert (up.status_code, up.json()) == (200, {"status": "ok", "checks": {"database": "ok"}})


class Forwarder:
    """A port that forwards to PostgreSQL while up: taking it down is an outage."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _closed_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones, as a database restart does."""
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self._listener = None
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def forwarder(postgres_server: PostgresServer | None) -> Iterator[Forwarder]:
    if postgres_server is None:
        pytest.skip("PostgreSQL not configured (set ORDERMILL_TEST_POSTGRES_URL)")
    admin = postgres_server.admin_url
    forwarder = Forwarder((admin.host or "127.0.0.1", admin.port or 5432))
    yield forwarder
    forwarder.down()


@pytest.mark.postgres_only
def test_the_api_recovers_by_itself_when_the_database_comes_back(
    pg_database: Database, postgres_server: PostgresServer, forwarder: Forwarder
) -> None:
    url = make_url(postgres_server.url).set(host="127.0.0.1", port=forwarder.port)
    plain = url.render_as_string(hide_password=False)
    database = Database(plain, Settings(database_url=plain))

    with _client(database) as client:
        never_up = client.get("/api/products")
        forwarder.up()
        up = client.get("/api/products")
        forwarder.down()
        cut = client.get("/api/products")
        still_down = client.get("/health")
        forwarder.up()
        back = [client.get("/health"), client.get("/api/products")]
    database.dispose()

    assert_unavailable(never_up, "The database can't be reached; retry in a moment.")
    assert up.status_code == 200
    assert_unavailable(cut, "The connection to the database was lost; retry in a moment.")
    assert still_down.status_code == 503
    assert [response.status_code for response in back] == [200, 200]


# ---------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "ordermill.db"
    shutil.copy(sqlite_template, path)
    return path


def test_a_sqlite_file_that_cant_be_opened_gives_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'gone' / 'ordermill.db'}"
    database = Database(url, Settings(database_url=url))

    with _client(database) as client:
        products = client.get("/api/products")
        health = client.get("/health")
    database.dispose()

    assert_unavailable(products, "The database can't be reached; retry in a moment.")
    assert (health.status_code, health.json()["status"]) == (503, "degraded")
    lines = outage_lines(caplog)
    assert len(lines) == 2
    assert "unable to open database file" in lines[0]


def test_a_sqlite_file_locked_beyond_the_busy_timeout_gives_503_then_works(
    sqlite_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{sqlite_file}"
    database = Database(url, Settings(database_url=url, sqlite_busy_timeout_ms=50))
    token = factories.token_for(database, factories.user(database, role="admin"))
    other_process = sqlite3.connect(sqlite_file, isolation_level=None)

    with _client(database) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        other_process.execute("BEGIN IMMEDIATE")
        locked = client.post("/api/customers", json={"name": "N", "email": "n@example.com"})
        other_process.execute("ROLLBACK")
        unlocked = client.post("/api/customers", json={"name": "N", "email": "n@example.com"})
    other_process.close()
    database.dispose()

    assert_unavailable(locked, "The database is busy; retry in a moment.")
    assert unlocked.status_code == 201, unlocked.text
    (line,) = outage_lines(caplog)
    assert line.startswith("database unavailable (busy) on POST /api/customers: ")


def test_a_database_error_that_is_not_an_outage_stays_a_500_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"this is not a database" * 200)
    url = f"sqlite:///{path}"
    database = Database(url, Settings(database_url=url))
    app = create_app(Settings(database_url=url), database)

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/products")
    database.dispose()

    assert_problem(response, 500, "internal_error")
    assert any(r.exc_info is not None for r in caplog.records)
