"""The `ordermill` command: one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from ordermill import __version__
from ordermill.cli.accounts import tokens_app, users_app
from ordermill.cli.common import OrdermillGroup, console
from ordermill.cli.database import db_app, seed
from ordermill.cli.notifications import outbox_app, worker
from ordermill.cli.orders import orders_app
from ordermill.cli.server import serve
from ordermill.cli.workflow import stock_app, workflow_app

app = typer.Typer(
    cls=OrdermillGroup,
    help="ordermill: order management for independent online stores.\n\n"
    "Errors go to standard error as `error\\[code]: message` (and a `hint:` line), with exit "
    "code 2 for invalid input, 3 not found, 4 refused by the current state, 5 not allowed, "
    "6 database unavailable, 7 set-up (settings, schema, database file).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.command()(seed)
app.command()(worker)
app.add_typer(db_app, name="db")
app.add_typer(orders_app, name="orders")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(workflow_app, name="workflow")
app.add_typer(stock_app, name="stock")
app.add_typer(outbox_app, name="outbox")


def _version(value: bool) -> None:
    if value:
        console.print(f"ordermill {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Configuration comes from ORDERMILL_* environment variables (see README)."""


def main() -> None:
    """Console-script entry point."""
    app()
