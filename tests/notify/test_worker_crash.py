"""A worker killed with SIGKILL in the middle of a thousand messages: after a restart
every message is delivered, and a message sent twice (sent, then the worker died before
recording it) carries the same Message-ID both times."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from ordermill.db import Database
from ordermill.models import utcnow
from ordermill.notify.worker import CLAIM_ROUNDS
from ordermill.services import outbox
from ordermill.services.plans import OutboxRow
from ordermill.services.tables import deliveries
from tests import factories
from tests.e2e.live_server import free_port

CLI = str(Path(sys.executable).with_name("ordermill"))
EVENTS = 1000
CONCURRENCY = 4


class Sink:
    """An SMTP server that takes a few milliseconds per message and counts Message-IDs."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        time.sleep(0.004)  # slow enough to be killed in the middle
        for line in envelope.content.decode().splitlines():
            if line.lower().startswith("message-id:"):
                with self.lock:
                    self.ids[line.split(":", 1)[1].strip()] += 1
                break
        return "250 OK"

    def received(self) -> int:
        with self.lock:
            return len(self.ids)


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CLI, "worker", "--concurrency", str(CONCURRENCY)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def sent(database: Database) -> int:
    with database.read() as session:
        return int(
            session.execute(select(func.count()).where(deliveries.c.status == "sent")).scalar_one()
        )


def test_every_message_arrives_after_a_kill_9_and_repeats_keep_their_id(
    database: Database, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    customer = factories.customer(database)
    pen = factories.product(database, stock=10)
    order_id = factories.order(database, customer, (pen, 1))
    with database.write() as session:  # a thousand events about that order
        outbox.record(
            session,
            [OutboxRow("order.delivered", order_id, {}) for _ in range(EVENTS)],
            utcnow(),
        )
    env = {
        **os.environ,
        "ORDERMILL_DATABASE_URL": database.url,
        "ORDERMILL_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "ORDERMILL_NOTIFY_CUSTOMER_EMAIL": "order.delivered",
        "ORDERMILL_STAFF_EMAILS": "",
        "ORDERMILL_WORKER_LEASE_SECONDS": "5",  # a dead worker's messages come back soon
        "ORDERMILL_WORKER_POLL_SECONDS": "0.2",
        "ORDERMILL_LOG_LEVEL": "warning",
    }

    first = start_worker(env)
    deadline = time.monotonic() + 60
    while handler.received() < EVENTS // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    at_kill = handler.received()
    assert EVENTS // 3 <= at_kill < EVENTS, "killed too late to test anything"

    second = start_worker(env)
    try:
        deadline = time.monotonic() + 90
        while sent(database) < EVENTS and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0  # SIGTERM: finishes what it holds and exits cleanly

    assert sent(database) == EVENTS
    assert handler.received() == EVENTS  # every message, by its Message-ID
    repeated = {message_id: n for message_id, n in handler.ids.items() if n > 1}
    # Only the messages of the claim in hand when the worker died can have gone out twice.
    assert len(repeated) <= CONCURRENCY * CLAIM_ROUNDS
    assert all(n == 2 for n in repeated.values())


def test_sigterm_lets_the_worker_finish_and_record_the_messages_in_hand(
    database: Database, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    customer = factories.customer(database)
    pen = factories.product(database, stock=10)
    order_id = factories.order(database, customer, (pen, 1))
    with database.write() as session:
        outbox.record(
            session, [OutboxRow("order.delivered", order_id, {}) for _ in range(300)], utcnow()
        )
    env = {
        **os.environ,
        "ORDERMILL_DATABASE_URL": database.url,
        "ORDERMILL_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "ORDERMILL_NOTIFY_CUSTOMER_EMAIL": "order.delivered",
        "ORDERMILL_STAFF_EMAILS": "",
        "ORDERMILL_LOG_LEVEL": "warning",
    }
    worker = start_worker(env)
    deadline = time.monotonic() + 60
    while handler.received() < 50 and time.monotonic() < deadline:
        time.sleep(0.01)

    worker.send_signal(signal.SIGTERM)

    assert worker.wait(30) == 0
    with database.read() as session:
        rows = session.execute(
            select(deliveries.c.status, deliveries.c.leased_by, deliveries.c.attempts)
        ).all()
    # Every message it took was sent and recorded; none is left leased to a gone worker.
    assert [row for row in rows if row.leased_by is not None] == []
    assert sum(row.status == "sent" for row in rows) == handler.received() < 300
    assert max(handler.ids.values()) == 1
