"""The PostgreSQL and the SQLite writers write the same rows for the same plans.

One scenario (placing, processing with each strategy and flow, paying, cancelling,
fulfilling, delivering, returning) runs on a fresh SQLite database and a fresh
PostgreSQL database with the same fixed clock; every row of every table it touches
must then be equal, timestamps included.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, insert, select

from ordermill.db import Database
from ordermill.domain.orders import ProcessingFailed, Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.services import orders, processing, workflow
from ordermill.services.audit import Actor
from ordermill.services.order_views import get_order
from ordermill.services.tables import (
    audit_log,
    customers,
    ledger_entries,
    order_counters,
    order_events,
    order_lines,
    outbox_events,
    payments,
    products,
)
from ordermill.services.tables import orders as orders_table

pytestmark = pytest.mark.skipif(
    not os.environ.get("ORDERMILL_TEST_POSTGRES_URL", "").strip(),
    reason="compares SQLite with PostgreSQL: set ORDERMILL_TEST_POSTGRES_URL to run it",
)

T0 = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
STAFF = Actor("staff@example.com")
TABLES: tuple[Table, ...] = (
    customers,
    products,
    orders_table,
    order_lines,
    order_counters,
    ledger_entries,
    payments,
    order_events,
    audit_log,
    outbox_events,
)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seed(database: Database) -> None:
    """Customers and products written with the fixed clock, so their rows compare too."""
    with database.write() as session:
        session.execute(
            insert(customers),
            [
                {"name": "Ann", "email": "ann@example.com", "balance": 500_00},
                {"name": "Bob", "email": "bob@example.com", "balance": 80_00},
                {"name": "Cy", "email": "cy@example.com", "balance": 0},
            ],
        )
        session.execute(
            insert(products),
            [
                {
                    "name": "Pen",
                    "sku": "PEN",
                    "price": 2_50,
                    "stock": 10,
                    "low_stock_threshold": None,
                },
                {"name": "Ink", "sku": "INK", "price": 7_00, "stock": 2, "low_stock_threshold": 1},
                {
                    "name": "Pad",
                    "sku": "PAD",
                    "price": 4_00,
                    "stock": 5,
                    "low_stock_threshold": None,
                },
                {
                    "name": "Nib",
                    "sku": "NIB",
                    "price": 1_25,
                    "stock": 0,
                    "low_stock_threshold": None,
                },
            ],
        )
        for table in (customers, products):
            session.execute(table.update().values(created=T0, updated=T0))


def place(database: Database, customer_id: int, minute: int, *items: tuple[int, int]) -> int:
    with database.write() as session:
        return orders.place_order(
            session,
            customer_id=customer_id,
            items=[orders.ItemRequest(pid, qty) for pid, qty in items],
            currency="EUR",
            note="leave at the door",
            extra={"channel": "web"},
            now=at(minute),
            actor=STAFF,
        ).id


def place_with_line_data(database: Database, customer_id: int, minute: int) -> int:
    """Placing from a catalog the caller read, with data on a line (checkout's path)."""
    wanted = {1: 1, 3: 2}
    with database.write() as session:
        catalog = orders.read_catalog(session, customer_id, list(wanted))
        view = orders.insert_order(
            session,
            customer_id=customer_id,
            wanted=wanted,
            catalog=catalog,
            currency="EUR",
            shipping_address="1 Main St",
            note=None,
            extra={"gift": True},
            now=at(minute),
            actor=STAFF,
            line_extra={3: {"engraving": "ANN"}},
        )
        return orders.assign_number(session, view).id


def scenario(database: Database) -> None:
    seed(database)
    ann, bob, cy = 1, 2, 3
    pen, ink, pad, nib = 1, 2, 3, 4
    adjusted = place(database, ann, 1, (pen, 2), (ink, 3))  # 3 ink, 2 in stock
    rejected = place(database, ann, 2, (pad, 1), (nib, 1))  # no nib in stock
    ignored = place(database, bob, 3, (pen, 1), (nib, 2))
    advance = place(database, cy, 4, (pad, 2))
    cancelled = place(database, bob, 5, (pen, 3))
    returned = place_with_line_data(database, ann, 6)

    with database.write() as session:  # a batch, charged to the balances
        processing.process_orders(
            session, [adjusted, cancelled, returned], Strategy.ADJUST, now=at(10), actor=STAFF
        )
    with pytest.raises(ProcessingFailed), database.write() as session:
        processing.process_order(session, rejected, Strategy.REJECT, now=at(11), actor=STAFF)
    with database.write() as session:
        processing.process_order(session, ignored, Strategy.IGNORE, now=at(12), actor=STAFF)
        processing.process_order(
            session, advance, Strategy.ADJUST, flow=PaymentFlow.ADVANCE, now=at(13), actor=STAFF
        )
    with database.write() as session:
        workflow.pay(
            session, advance, amount=10_00, method="card", reference="R-1", now=at(14), actor=STAFF
        )
        workflow.cancel(session, cancelled, reason="changed mind", now=at(15), actor=STAFF)
        workflow.fulfill(
            session, returned, carrier="DHL", tracking_number="T-1", now=at(16), actor=STAFF
        )
        workflow.deliver(session, returned, now=at(17), actor=STAFF)
    with database.write() as session:
        pad_line = next(ln.id for ln in get_order(session, returned).lines if ln.sku == "PAD")
        workflow.return_order(
            session,
            returned,
            lines=[workflow.ReturnLine(pad_line, 1, restock=True)],
            reason="scratched",
            now=at(18),
            actor=STAFF,
        )


def rows(database: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the scenario writes, in key order."""
    with database.read() as session:
        return {
            table.name: [
                dict(row._mapping)
                for row in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in TABLES
        }


@pytest.mark.postgres_only
def test_both_writers_write_the_same_rows_for_the_same_plans(
    sqlite_database: Database, pg_database: Database
) -> None:
    scenario(sqlite_database)
    scenario(pg_database)

    on_sqlite, on_postgres = rows(sqlite_database), rows(pg_database)

    for table in TABLES:
        assert on_postgres[table.name] == on_sqlite[table.name], table.name
    # and the scenario reached every kind of row it means to compare
    assert {name: len(found) for name, found in on_sqlite.items()} == {
        "customers": 3,
        "products": 4,
        "orders": 6,
        "order_lines": 10,
        "order_counters": 1,
        "ledger_entries": 7,  # 4 charges, a credit, 2 refunds
        "payments": 5,
        "order_events": 20,
        "audit_log": 16,
        # 6 placed, 10 transitions, and two products low: pen to the store's default
        # threshold (5), ink to its own (1)
        "outbox_events": 18,
    }
