"""Two server processes on one PostgreSQL database: a token stopped through one is refused
by the other at once, although each keeps checked tokens in memory (for 60 s here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import text

from ordermill.db import Database
from tests import factories
from tests.e2e.live_server import free_port

CLI = str(Path(sys.executable).with_name("ordermill"))
LISTENER = "ordermill-token-listen"
# What the test allows for a notification to cross: far below the cache's lifetime.
BOUND_SECONDS = 2.0

pytestmark = pytest.mark.postgres_only


def listening(database: Database, pid: int) -> bool:
    with database.read() as session:
        found = session.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": f"{LISTENER} {pid}"},
        ).scalar_one()
    return bool(found)


@pytest.fixture
def two_servers(pg_database: Database) -> Iterator[tuple[str, str]]:
    """`ordermill serve` twice on ``pg_database``, each listening for token changes."""
    env = {
        **os.environ,
        "ORDERMILL_DATABASE_URL": pg_database.url,
        "ORDERMILL_TOKEN_CACHE_SECONDS": "60",
        "ORDERMILL_LOG_LEVEL": "warning",
    }
    servers: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for _ in range(2):
            port = free_port()
            process = subprocess.Popen(
                [CLI, "serve", "--port", str(port), "--workers", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            servers.append((process, f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 60
        for process, base in servers:
            while True:
                assert process.poll() is None, "ordermill serve stopped while starting"
                try:
                    up = httpx2.get(f"{base}/health", timeout=1).status_code == 200
                except httpx2.TransportError:
                    up = False
                if up and listening(pg_database, process.pid):
                    break
                assert time.monotonic() < deadline, "a server did not start listening in 60 s"
                time.sleep(0.1)
        yield servers[0][1], servers[1][1]
    finally:
        for process, _ in servers:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process, _ in servers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def whoami(base: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx2.get(f"{base}/api/auth/whoami", headers=headers, timeout=5).status_code


def seconds_until_refused(base: str, token: str) -> float:
    started = time.monotonic()
    while whoami(base, token) != 401:
        assert time.monotonic() - started < 30, "the other process still accepts the token"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_token_logged_out_through_one_process_is_refused_by_the_other_at_once(
    pg_database: Database, two_servers: tuple[str, str]
) -> None:
    a, b = two_servers
    token = factories.token_for(pg_database, factories.user(pg_database, role="staff"))
    assert whoami(b, token) == 200  # B has checked it, and keeps it for 60 s
    assert whoami(b, token) == 200
    assert whoami(a, token) == 200

    logged_out = httpx2.post(
        f"{a}/api/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )

    assert logged_out.status_code == 204
    assert whoami(a, token) == 401
    assert seconds_until_refused(b, token) < BOUND_SECONDS


def test_a_user_disabled_through_one_process_is_refused_by_the_other_at_once(
    pg_database: Database, two_servers: tuple[str, str]
) -> None:
    a, b = two_servers
    admin = factories.token_for(pg_database, factories.user(pg_database, role="admin"))
    staff = factories.user(pg_database, role="staff")
    token = factories.token_for(pg_database, staff, ttl_minutes=None)
    assert whoami(b, token) == 200

    disabled = httpx2.patch(
        f"{a}/api/users/{staff}",
        json={"disabled": True},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=5,
    )

    assert disabled.status_code == 200, disabled.text
    assert seconds_until_refused(b, token) < BOUND_SECONDS
