"""`ordermill orders …`: show, process, expire, export orders and list their actions."""

from __future__ import annotations

import getpass
import re
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from ordermill.cli.common import (
    console,
    fail,
    friendly_errors,
    open_database,
    progress_bar,
    settings,
)
from ordermill.cli.export import orders_export
from ordermill.domain.money import format_amount
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import Code, InvalidInput
from ordermill.services import batches, order_views, workflow
from ordermill.services.audit import Actor
from ordermill.services.batches import BatchFailure, BatchResult

orders_app = typer.Typer(help="Show, process, expire and export orders.", no_args_is_help=True)

EXIT_FAILED_ORDERS = 3
FAILURES_SHOWN = 20

_ID = re.compile(r"^[0-9]+$")


def _cli_actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}")


def _check_refs(refs: list[str] | None) -> list[str] | None:
    """Order ids or numbers (``2026-00001``); anything else is bad input (exit 2), up front."""
    for ref in refs or []:
        order_views.parse_order_ref(ref)
    return refs


def _split_refs(refs: list[str]) -> tuple[list[int], list[str]]:
    keys = [order_views.parse_order_ref(ref) for ref in refs]
    return [k for k in keys if isinstance(k, int)], [k for k in keys if isinstance(k, str)]


def _print_failures(failures: list[BatchFailure]) -> None:
    if not failures:
        return
    table = Table(title="Failed orders")
    for column in ("order", "code", "why"):
        table.add_column(column)
    for failure in failures[:FAILURES_SHOWN]:
        table.add_row(failure.ref, str(failure.code), failure.message)
    console.print(table)
    if len(failures) > FAILURES_SHOWN:
        console.print(
            f"… and {len(failures) - FAILURES_SHOWN} more failed order(s)", highlight=False
        )


def _print_summary(result: BatchResult) -> None:
    if not result.total:
        console.print("No orders to process.")
        return
    failed = {str(failure.code) for failure in result.failures}
    table = Table(title="Processing summary")
    table.add_column("result")
    table.add_column("orders", justify="right")
    # The statuses orders were left in first, then the reasons orders failed.
    for outcome, count in sorted(result.outcomes.items(), key=lambda it: (it[0] in failed, it[0])):
        table.add_row(f"failed: {outcome}" if outcome in failed else outcome, str(count))
    table.add_row("total", str(result.total), end_section=True)
    console.print(table)
    _print_failures(result.failures)


@orders_app.command("process")
def orders_process(
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Order ids or numbers (2026-00001)",
            show_default=False,
            callback=_check_refs,
        ),
    ] = None,
    all_pending: Annotated[
        bool, typer.Option("--all-pending", help="Process every pending order")
    ] = False,
    strategy: Annotated[
        Strategy, typer.Option(case_sensitive=False, help="What to do with short lines")
    ] = Strategy.ADJUST,
    flow: Annotated[
        PaymentFlow | None,
        typer.Option(
            case_sensitive=False,
            help="balance: charge the balance; advance: hold stock until paid "
            "[default: ORDERMILL_PAYMENT_FLOW]",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Orders per transaction")
    ] = 500,
) -> None:
    """Process orders in batches and print how each ended (exit 3 if any failed)."""
    if bool(refs) == all_pending:
        raise fail(Code.VALIDATION_ERROR, "give order ids/numbers or --all-pending (not both)")
    ids, numbers = _split_refs(refs or [])
    config = settings()
    with friendly_errors(), open_database(config) as database, progress_bar() as bar:
        task = bar.add_task("Processing orders", total=None)
        result = batches.process_pending(
            database,
            strategy=strategy,
            flow=flow or config.payment_flow,
            actor=_cli_actor(),
            order_ids=None if all_pending else ids,
            order_numbers=numbers,
            batch_size=batch_size,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    _print_summary(result)
    if result.failures:
        raise typer.Exit(EXIT_FAILED_ORDERS)


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


@orders_app.command("expire")
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
    """Cancel orders left unpaid too long, releasing their stock (exit 3 if any failed)."""
    config = settings()
    with friendly_errors(), open_database(config) as database:
        age = parse_duration(older_than)
        with progress_bar() as bar:
            task = bar.add_task("Expiring orders", total=None)
            result = batches.expire_overdue(
                database,
                older_than=age,
                actor=_cli_actor(),
                reason=f"expired: not paid within {older_than.strip()}",
                batch_size=batch_size,
                dry_run=dry_run,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    expired = result.expired
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
        f"{result.cutoff.isoformat(timespec='minutes')}, releasing "
        f"{result.units_released} unit(s) of stock.",
        highlight=False,
    )
    meanwhile = result.outcomes[batches.NO_LONGER_AWAITING_PAYMENT]
    if meanwhile:
        console.print(
            f"{meanwhile} order(s) were paid or cancelled meanwhile and stay as they are.",
            highlight=False,
        )
    _print_failures(result.failures)
    if result.failures:
        raise typer.Exit(EXIT_FAILED_ORDERS)


@orders_app.command("actions")
def orders_actions(
    ref: Annotated[str, typer.Argument(help="Order id or number (2026-00001)")],
) -> None:
    """What can be done with an order now, and why not (the back office's answer)."""
    config = settings()
    with friendly_errors(), open_database(config) as database, database.read() as session:
        order_id = order_views.resolve_order_id(session, ref)
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


@orders_app.command("show")
def orders_show(
    ref: Annotated[str, typer.Argument(help="Order id or number (2026-00001)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON")] = False,
) -> None:
    """Show one order with its lines."""
    config = settings()
    with open_database(config) as database, database.read() as session:
        view = order_views.resolve_order(session, ref)
    if as_json:
        from pydantic_core import to_json

        from ordermill.web.present import order_document

        console.print_json(to_json(order_document(view)).decode())
        return
    console.print(
        f"[bold]Order {view.number}[/] (id {view.id}) · {view.status}"
        f" · customer {view.customer_id}",
        highlight=False,
    )
    console.print(f"created   {view.created.isoformat()}", highlight=False)
    for label, moment in (
        ("processed", view.processed),
        ("fulfilled", view.fulfilled),
        ("delivered", view.delivered),
        ("cancelled", view.cancelled),
    ):
        if moment is not None or label == "processed":
            console.print(f"{label:<9} {moment.isoformat() if moment else '-'}", highlight=False)
    if view.tracking_number or view.carrier:
        console.print(
            f"shipped   {view.carrier or ''} {view.tracking_number or ''}".rstrip(),
            highlight=False,
        )
    if view.cancel_reason:
        console.print(f"reason    {view.cancel_reason}", highlight=False)
    console.print(
        f"total {format_amount(view.total)} · paid {format_amount(view.paid)}"
        f" · refunded {format_amount(view.refunded)} · due {format_amount(view.balance_due)}",
        highlight=False,
    )
    if view.strategy:
        console.print(f"strategy  {view.strategy}", highlight=False)
    if view.shipping_address:
        console.print(f"ship to   {view.shipping_address}", highlight=False)
    if view.note:
        console.print(f"note      {view.note}", highlight=False)
    table = Table()
    returns = any(line.quantity_returned for line in view.lines)
    columns = ["SKU", "product", "unit price", "ordered", "quantity", "line total"]
    if returns:
        columns.insert(5, "returned")
    for column in columns:
        table.add_column(column, justify="right" if column not in ("SKU", "product") else "left")
    for line in view.lines:
        cells = [
            line.sku,
            line.name,
            format_amount(line.unit_price),
            str(line.quantity_ordered),
            str(line.quantity),
            format_amount(line.line_total),
        ]
        if returns:
            cells.insert(5, str(line.quantity_returned))
        table.add_row(*cells)
    console.print(table)


orders_app.command("export")(orders_export)
