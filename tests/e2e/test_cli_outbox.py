"""`ordermill worker --once`, `ordermill outbox status` and `ordermill outbox retry`."""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from ordermill.cli import app
from ordermill.db import Database
from ordermill.services.tables import deliveries
from tests import factories


@pytest.fixture(autouse=True)
def _staff_emails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERMILL_STAFF_EMAILS", "shop@example.com")


def place(database: Database) -> int:
    customer = factories.customer(database, name="Ann", email="ann@example.com")
    pen = factories.product(database)
    return factories.order(database, customer, (pen, 1))


def test_worker_once_delivers_what_is_due_and_says_so(
    cli: CliRunner, database: Database, tmp_path: Path
) -> None:
    place(database)

    result = cli.invoke(app, ["worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "Dispatched 1 events; sent 2, to retry 0, failed 0." in result.output
    files = sorted((tmp_path / "mail").glob("*.eml"))
    recipients = sorted(email.message_from_bytes(f.read_bytes())["To"] for f in files)
    assert recipients == ["Ann <ann@example.com>", "shop@example.com"]
    again = cli.invoke(app, ["worker", "--once"])
    assert "Dispatched 0 events; sent 0" in again.output


def test_outbox_status_counts_per_channel_and_the_oldest_waiting(
    cli: CliRunner, database: Database
) -> None:
    place(database)
    waiting = cli.invoke(app, ["outbox", "status"])
    assert waiting.exit_code == 0, waiting.output
    assert "Events not yet dispatched: 1." in waiting.output
    assert "nothing waiting" not in waiting.output

    cli.invoke(app, ["worker", "--once"])
    done = cli.invoke(app, ["outbox", "status"])

    assert "Events not yet dispatched: 0. Oldest waiting: nothing waiting." in done.output
    [row] = [line for line in done.output.splitlines() if "email" in line]
    assert [cell.strip() for cell in row.split("│") if cell.strip()] == ["email", "0", "0", "2"]


def fail_all(database: Database) -> list[int]:
    with database.write() as session:
        session.execute(update(deliveries).values(status="failed", last_error="550 no"))
        return list(session.execute(select(deliveries.c.id).order_by(deliveries.c.id)).scalars())


def test_outbox_retry_sends_a_failed_delivery_again(cli: CliRunner, database: Database) -> None:
    place(database)
    cli.invoke(app, ["worker", "--once"])
    first, second = fail_all(database)

    one = cli.invoke(app, ["outbox", "retry", str(first)])
    assert one.exit_code == 0, one.output
    assert "Queued 1 delivery to send again." in one.output
    cli.invoke(app, ["worker", "--once"])
    with database.read() as session:
        statuses = dict(session.execute(select(deliveries.c.id, deliveries.c.status)).all())
    assert statuses == {first: "sent", second: "failed"}

    every = cli.invoke(app, ["outbox", "retry", "--failed"])
    assert "Queued 1 delivery to send again." in every.output


def test_outbox_retry_refuses_what_it_cannot_do(cli: CliRunner, database: Database) -> None:
    place(database)
    cli.invoke(app, ["worker", "--once"])

    unknown = cli.invoke(app, ["outbox", "retry", "999"])
    sent = cli.invoke(app, ["outbox", "retry", "1"])
    neither = cli.invoke(app, ["outbox", "retry"])
    both = cli.invoke(app, ["outbox", "retry", "1", "--failed"])

    assert unknown.exit_code == 3
    assert "error[delivery_not_found]" in unknown.output
    assert sent.exit_code == 4
    assert "error[delivery_not_failed]: delivery 1 is sent" in sent.output
    assert neither.exit_code == 2
    assert both.exit_code == 2
