"""`ordermill orders …`: show, process, expire, export orders and list their actions."""

from __future__ import annotations

import getpass
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ordermill.cli.common import (
    console,
    fail,
    friendly_errors,
    open_database,
    progress_bar,
    settings,
)
from ordermill.cli.export import orders_export
from ordermill.cli.workflow import orders_actions, orders_expire
from ordermill.db import Database
from ordermill.domain.money import format_amount
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import InvalidInput, OrdermillError
from ordermill.services import order_views, processing
from ordermill.services import orders as order_service
from ordermill.services.audit import Actor

orders_app = typer.Typer(help="Show, process, expire and export orders.", no_args_is_help=True)
orders_app.command("expire")(orders_expire)
orders_app.command("actions")(orders_actions)
orders_app.command("export")(orders_export)

EXIT_FAILED_ORDERS = 3


def _resolve_order_ids(database: Database, refs: list[str]) -> list[int]:
    """Order ids from ids or numbers (``2026-00001``)."""
    ids: list[int] = []
    with database.read() as session:
        for ref in refs:
            if ref.isdigit():
                ids.append(int(ref))
            elif "-" in ref:
                ids.append(order_views.get_order_by_number(session, ref).id)
            else:
                raise InvalidInput(f"'{ref}' is neither an order id nor an order number")
    return ids


def _retry_each(
    database: Database, batch: list[int], work: Callable[[Any, int], None], tally: Counter[str]
) -> None:
    """After a batch failed unexpectedly, process its orders one transaction each."""
    for order_id in batch:
        try:
            with database.write() as session:
                work(session, order_id)
            tally["processed"] += 1
        except OrdermillError as exc:
            tally[exc.code] += 1


@orders_app.command("process")
def orders_process(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Order ids or numbers", show_default=False)
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
    """Process orders in batches and print a summary (exit 3 if any failed)."""
    if bool(refs) == all_pending:
        raise fail("give order ids/numbers or --all-pending (not both)", code=2)
    config = settings()
    tally: Counter[str] = Counter()
    with friendly_errors(), open_database(config) as database:
        if all_pending:
            with database.read() as session:
                total = order_service.count_orders(session, "pending")
        else:
            targets = _resolve_order_ids(database, refs or [])
            total = len(targets)

        actor = Actor(f"cli:{getpass.getuser()}")

        chosen_flow = flow or config.payment_flow

        def work(session: Any, order_id: int) -> None:
            processing.process_order(session, order_id, strategy, flow=chosen_flow, actor=actor)

        def batches() -> Iterator[list[int]]:
            if not all_pending:
                for start in range(0, len(targets), batch_size):
                    yield targets[start : start + batch_size]
                return
            after = 0
            while True:
                with database.read() as session:
                    ids = order_service.pending_order_ids(session, after_id=after, limit=batch_size)
                if not ids:
                    return
                after = ids[-1]
                yield ids

        with progress_bar() as progress:
            task = progress.add_task("Processing orders", total=total)
            for batch in batches():
                batch_tally: Counter[str] = Counter()
                try:
                    # Set-based: the whole batch in one transaction, a few statements per
                    # table; refused orders write nothing and are counted by reason.
                    with database.write() as session:
                        outcome = processing.process_orders(
                            session, batch, strategy, flow=chosen_flow, actor=actor
                        )
                    for result in outcome.values():
                        if isinstance(result, OrdermillError):
                            batch_tally[result.code] += 1
                        else:
                            batch_tally["processed"] += 1
                    tally.update(batch_tally)
                except SQLAlchemyError:
                    _retry_each(database, batch, work, tally)
                progress.advance(task, len(batch))

    table = Table(title="Processing summary")
    table.add_column("result")
    table.add_column("orders", justify="right")
    table.add_row("processed", str(tally.pop("processed", 0)))
    for reason, count in sorted(tally.items()):
        table.add_row(f"failed: {reason}", str(count))
    console.print(table)
    if tally:
        raise typer.Exit(EXIT_FAILED_ORDERS)


@orders_app.command("show")
def orders_show(
    ref: Annotated[str, typer.Argument(help="Order id or number (2026-00001)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON")] = False,
) -> None:
    """Show one order with its lines."""
    config = settings()
    with friendly_errors(), open_database(config) as database, database.read() as session:
        if ref.isdigit():
            view = order_views.get_order(session, int(ref))
        else:
            view = order_views.get_order_by_number(session, ref)
    if as_json:
        from ordermill.web.present import order_public

        console.print_json(order_public(view).model_dump_json())
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
