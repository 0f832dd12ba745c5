"""`ordermill db …` and `ordermill seed`: the schema and demo data."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy import text

from ordermill.cli.common import (
    console,
    database_errors,
    fail,
    open_database,
    progress_bar,
    settings,
)
from ordermill.db import describe
from ordermill.errors import Code
from ordermill.migrate import upgrade
from ordermill.models import Base
from ordermill.services import seeding

db_app = typer.Typer(help="Create, upgrade or reset the database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the schema, or apply every pending migration."""
    config = settings()
    with database_errors(config.database_url):
        before, after = upgrade(config.database_url)
    where = describe(config.database_url)
    if before is None:
        message = f"Created the schema at revision {after} in {where}."
    elif before != after:
        message = f"Upgraded {where} from revision {before} to {after}."
    else:
        message = f"Already up to date at revision {after} ({where})."
    console.print(message, highlight=False, soft_wrap=True)


@db_app.command("reset")
def db_reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Don't ask for confirmation")] = False,
) -> None:
    """Delete ALL data and recreate the schema."""
    config = settings()
    if not yes:
        if not sys.stdin.isatty():
            raise fail(Code.VALIDATION_ERROR, "refusing to reset without confirmation; pass --yes")
        typer.confirm(f"Delete all data in {describe(config.database_url)}?", abort=True)
    with open_database(config, create=True) as database:
        with database.engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(config.database_url)
    console.print("Database reset.")


def seed(
    customers: Annotated[int, typer.Option(min=0, max=10_000_000, help="Customers to add")] = 50,
    products: Annotated[int, typer.Option(min=0, max=10_000_000, help="Products to add")] = 100,
    orders: Annotated[int, typer.Option(min=0, max=100_000_000, help="Orders to add")] = 500,
    random_seed: Annotated[
        int | None, typer.Option("--random-seed", help="Make the data reproducible")
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the store has customers")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per insert")] = 5000,
) -> None:
    """Add random, realistic customers, products and pending orders."""
    config = settings()
    with open_database(config, create=True) as database:
        upgrade(config.database_url)
        with database.read() as session:
            if if_empty and not seeding.store_is_empty(session):
                console.print("The store already has data; nothing seeded.")
                return
            seeding.check_plan(
                session, customers_to_add=customers, products_to_add=products, orders=orders
            )
        with progress_bar() as progress:
            for label, total, add in (
                ("customers", customers, seeding.add_customers),
                ("products", products, seeding.add_products),
            ):
                task = progress.add_task(f"Seeding {label}", total=total)
                for index, step in enumerate(seeding.batches(total, batch_size)):
                    batch_seed = None if random_seed is None else random_seed + index
                    with database.write() as session:
                        add(session, step, seed=batch_seed)
                    progress.advance(task, step)
            task = progress.add_task("Seeding orders", total=orders)
            for index, step in enumerate(seeding.batches(orders, batch_size)):
                batch_seed = None if random_seed is None else random_seed + 1_000_000 + index
                with database.write() as session:
                    seeding.add_orders(session, step, currency=config.currency, seed=batch_seed)
                progress.advance(task, step)
    console.print(f"Seeded {customers} customers, {products} products and {orders} orders.")
