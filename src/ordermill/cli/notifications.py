"""``ordermill worker`` and ``ordermill outbox``: delivering notifications, and their queue."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table

from ordermill.cli.common import console, fail, open_database, settings
from ordermill.errors import Code
from ordermill.models import utcnow
from ordermill.notify import channels_for
from ordermill.notify.worker import Worker
from ordermill.services import delivery_log

outbox_app = typer.Typer(
    help="The notification queue: what waits, what failed.", no_args_is_help=True
)


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Messages sent at once [ORDERMILL_WORKER_CONCURRENCY]"),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit")
    ] = False,
) -> None:
    """Deliver notifications (email, text messages, webhooks) from the outbox.

    Runs until SIGTERM or Ctrl-C, which let the messages in hand finish. Start as many
    as you like on PostgreSQL, on any machines: they share the work.
    """
    config = settings()
    logging.basicConfig(
        level=config.log_level.upper() if config.log_level != "trace" else "DEBUG",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with open_database(config) as database:
        deliverer = Worker(database, config, channels_for(config), concurrency=concurrency)
        if once:
            counts = deliverer.run_once()
            console.print(
                f"Dispatched {counts['dispatched']} events; sent {counts['sent']},"
                f" to retry {counts['pending']}, failed {counts['failed']}."
            )
            return

        def stop(_signum: int, _frame: FrameType | None) -> None:
            deliverer.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        deliverer.run()


@outbox_app.command("status")
def outbox_status() -> None:
    """What waits to be sent, how old the oldest is, and what failed, per channel."""
    with open_database(settings()) as database, database.read() as session:
        status = delivery_log.outbox_status(session)
    table = Table("channel", "pending", "failed", "sent")
    for channel in status.channels:
        table.add_row(channel.channel, str(channel.pending), str(channel.failed), str(channel.sent))
    console.print(table)
    age = (
        f"{(utcnow() - status.oldest_waiting).total_seconds():.0f} s"
        if status.oldest_waiting
        else "nothing waiting"
    )
    console.print(
        f"Events not yet dispatched: {status.undispatched}. Oldest waiting: {age}."
        f" Pending: {status.pending}. Failed: {status.failed}."
    )


@outbox_app.command("retry")
def outbox_retry(
    delivery_id: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="The failed delivery to send again")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed delivery")] = False,
) -> None:
    """Send a failed delivery again (by id), or every failed one (--failed)."""
    if (delivery_id is None) == (not failed):
        raise fail(Code.VALIDATION_ERROR, "give a delivery ID or --failed (one of them)")
    with open_database(settings()) as database, database.write() as session:
        count = delivery_log.retry(session, utcnow(), delivery_id)
    console.print(f"Queued {count} deliver{'y' if count == 1 else 'ies'} to send again.")
