"""``ordermill workflow`` and ``ordermill stock``: the workflow's diagram and the stock check."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ordermill.cli.common import console, fail, open_database, report, settings
from ordermill.domain import workflow as rules
from ordermill.errors import Code, OrdermillError
from ordermill.graphviz import draw_svg
from ordermill.services import inventory

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
        try:
            data = draw_svg(source)
        except OrdermillError as exc:
            raise report(exc) from None
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise fail(Code.OUTPUT_NOT_WRITABLE, f"can't write {output}: {exc.strerror}") from None
    console.print(f"Wrote the workflow ({fmt.value}) to {output}", highlight=False)


@stock_app.command("check")
def stock_check() -> None:
    """Reconcile stock: received = on the shelf + held by live orders (exit 1 on drift)."""
    config = settings()
    with open_database(config) as database, database.read() as session:
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
