"""``ordermill orders export``: every order with its lines, as CSV or JSON Lines."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer

from ordermill.cli.common import err_console, fail, open_database, settings
from ordermill.domain.orders import OrderStatus
from ordermill.errors import Code
from ordermill.services import export


def _utc(moment: datetime | None) -> datetime | None:
    """A timestamp option in UTC (one without an offset is taken as UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextlib.contextmanager
def _destination(output: Path | None) -> Iterator[TextIO]:
    """Standard output, or ``output`` written in full or not at all (via a temporary file)."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)


def _reader_went_away() -> NoReturn:
    """Standard output's reader closed the pipe (``| head``): stop quietly, as Unix tools do.

    The exit status is the shell's for a process ended by SIGPIPE (128 + 13); what is
    still buffered goes to /dev/null so the interpreter's last flush can't complain.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(128 + signal.SIGPIPE)


def orders_export(
    export_format: Annotated[
        export.ExportFormat,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="csv: one row per order line; jsonl: one JSON object per order",
        ),
    ] = export.ExportFormat.CSV,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout"),
    ] = None,
    status: Annotated[
        OrderStatus | None, typer.Option(case_sensitive=False, help="Only orders in this status")
    ] = None,
    customer_id: Annotated[
        int | None, typer.Option("--customer-id", min=1, help="Only this customer's orders")
    ] = None,
    created_from: Annotated[
        datetime | None,
        typer.Option("--created-from", help="Created at or after (ISO 8601, UTC if no offset)"),
    ] = None,
    created_to: Annotated[
        datetime | None,
        typer.Option("--created-to", help="Created before (ISO 8601, UTC if no offset)"),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Orders read per page")
    ] = export.DEFAULT_PAGE_SIZE,
) -> None:
    """Stream orders with their lines (money as decimal strings, times in UTC)."""
    filters = export.ExportFilters(
        status=status.value if status is not None else None,
        customer_id=customer_id,
        created_from=_utc(created_from),
        created_to=_utc(created_to),
    )
    if (
        filters.created_from is not None
        and filters.created_to is not None
        and filters.created_from >= filters.created_to
    ):
        raise fail(Code.VALIDATION_ERROR, "--created-from must be before --created-to")
    config = settings()
    with open_database(config) as database, database.read() as session:
        try:
            with _destination(output) as out:
                count = export.export_orders(
                    session, out, export_format, filters, page_size=batch_size
                )
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) and output is None:
                _reader_went_away()
            where = output or "to standard output"
            raise fail(Code.OUTPUT_NOT_WRITABLE, f"can't write {where}: {exc.strerror}") from None
    where = f" to {output}" if output is not None else ""
    err_console.print(f"Exported {count} orders{where}.", highlight=False, soft_wrap=True)
