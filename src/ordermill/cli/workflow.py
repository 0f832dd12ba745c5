"""``ordermill workflow``, ``ordermill stock`` and the workflow's ``ordermill orders`` commands."""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ordermill.cli.common import console, fail, friendly_errors, open_database, settings
from ordermill.domain import workflow as rules
from ordermill.errors import InvalidInput
from ordermill.models import utcnow
from ordermill.services import inventory, order_views, workflow
from ordermill.services.audit import Actor

workflow_app = typer.Typer(help="The order workflow: its states and actions.", no_args_is_help=True)
stock_app = typer.Typer(help="Check the stock.", no_args_is_help=True)

EXIT_DRIFT = 1


class GraphFormat(StrEnum):
    SVG = "svg"
    DOT = "dot"


@workflow_app.command("graph")
def workflow_graph(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write ('-' for standard output)")
    ],
    fmt: Annotated[
        GraphFormat, typer.Option("--format", case_sensitive=False, help="svg or dot")
    ] = GraphFormat.SVG,
) -> None:
    """Draw the order workflow (svg needs Graphviz's `dot`)."""
    source = rules.to_dot()
    if fmt is GraphFormat.DOT:
        data = source.encode()
    else:
        dot = shutil.which("dot")
        if dot is None:
            raise fail(
                "Graphviz's `dot` program is not installed; install it "
                "(Debian/Ubuntu: apt install graphviz) or use --format dot"
            )
        result = subprocess.run(
            [dot, "-Tsvg"], input=source.encode(), capture_output=True, check=False, timeout=60
        )
        if result.returncode != 0:
            raise fail(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
        data = result.stdout
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise fail(f"can't write {output}: {exc.strerror}") from None
    console.print(f"Wrote the workflow ({fmt.value}) to {output}", highlight=False)


@stock_app.command("check")
def stock_check() -> None:
    """Reconcile stock: received = on the shelf + held by live orders (exit 1 on drift)."""
    config = settings()
    with friendly_errors(), open_database(config) as database, database.read() as session:
        report = inventory.check_stock(session)
    if report.ok:
        console.print(f"Stock reconciles for all {report.products_checked} products.")
        return
    table = Table(title="Stock drift")
    for column in ("product", "SKU", "received", "on shelf", "held by orders", "unaccounted"):
        table.add_column(column, justify="left" if column == "SKU" else "right")
    for item in report.drifting:
        table.add_row(
            str(item.product_id),
            item.sku,
            str(item.received),
            str(item.stock),
            str(item.held),
            str(item.drift),
        )
    console.print(table)
    console.print(
        f"{len(report.drifting)} of {report.products_checked} products drift: "
        "received ≠ on shelf + held by live orders.",
        highlight=False,
    )
    raise typer.Exit(EXIT_DRIFT)


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``72h``, ``3d``, ``2w``."""
    match = _DURATION.match(text.lower())
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(
            f"'{text}' is not a duration like 90m, 72h, 3d or 2w", field="older_than"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def orders_expire(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Awaiting payment for longer than: 90m, 72h, 3d")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be cancelled; change nothing")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Orders per transaction")
    ] = 200,
) -> None:
    """Cancel orders still awaiting payment after a while, releasing their stock."""
    config = settings()
    with friendly_errors(), open_database(config) as database:
        age = parse_duration(older_than)
        cutoff = utcnow() - age
        reason = f"expired: not paid within {older_than.strip()}"
        actor = Actor(f"cli:{getpass.getuser()}")
        expired: list[workflow.Expired] = []
        after = 0
        while True:
            with database.read() as session:
                batch = workflow.expirable(session, cutoff, after_id=after, limit=batch_size)
            if not batch:
                break
            after = batch[-1].order_id
            if dry_run:
                expired.extend(batch)
                continue
            with database.write() as session:
                for candidate in batch:
                    # Paid meanwhile? Then it is no longer awaiting payment and stays.
                    if workflow.expire(session, candidate.order_id, reason=reason, actor=actor):
                        expired.append(candidate)
    table = Table(title="Would expire" if dry_run else "Expired")
    for column in ("order", "awaiting payment since", "units released"):
        table.add_column(column, justify="right" if column == "units released" else "left")
    for item in expired[:50]:
        since = item.processed.isoformat(timespec="minutes") if item.processed else "-"
        table.add_row(item.number, since, str(item.units))
    if expired:
        console.print(table)
        if len(expired) > 50:
            console.print(f"… and {len(expired) - 50} more", highlight=False)
    verb = "Would cancel" if dry_run else "Cancelled"
    console.print(
        f"{verb} {len(expired)} order(s) awaiting payment since before "
        f"{cutoff.isoformat(timespec='minutes')}, releasing "
        f"{sum(item.units for item in expired)} unit(s) of stock.",
        highlight=False,
    )


def orders_actions(
    ref: Annotated[str, typer.Argument(help="Order id or number (2026-00001)")],
) -> None:
    """What can be done with an order now, and why not (the back office's answer)."""
    config = settings()
    with friendly_errors(), open_database(config) as database, database.read() as session:
        order_id = int(ref) if ref.isdigit() else order_views.get_order_by_number(session, ref).id
        view, verdicts = workflow.actions(session, order_id, flow=config.payment_flow)
    table = Table(title=f"Order {view.number} · {view.status}")
    table.add_column("action")
    table.add_column("allowed")
    table.add_column("why not")
    for verdict in verdicts:
        table.add_row(
            verdict.action.value,
            "yes" if verdict.allowed else "no",
            f"{verdict.reason}: {verdict.message}" if verdict.reason else "",
        )
    console.print(table)
