"""A unit of work's last writes go with its commit: placing an order that way, and what
the commit does with the statements queued for it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ordermill import final_writes
from ordermill.db import Database
from ordermill.domain.orders import OrderStatus, Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import Code, Conflict, NotFound
from ordermill.services import catalog, order_views, processing
from ordermill.services import orders as order_service
from ordermill.services.audit import SYSTEM
from ordermill.services.plans import (
    BalanceCharge,
    Journal,
    OrderProcessed,
    ProcessPlan,
    StockTake,
)
from ordermill.services.tables import order_counters, orders, outbox_events
from ordermill.services.writers import postgres as postgres_writer
from tests import factories

WAIT = 10.0  # seconds a thread waits for the other before the test fails


def place_at_commit(session: Session, customer_id: int, *items: tuple[int, int]) -> Any:
    return order_service.place_order_at_commit(
        session,
        customer_id=customer_id,
        items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
        currency="USD",
    )


def place_unnumbered(session: Session, customer_id: int, *items: tuple[int, int]) -> Any:
    return order_service.place_order(
        session,
        customer_id=customer_id,
        items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
        currency="USD",
        numbered=False,
    )


def order_count(database: Database) -> int:
    with database.read() as session:
        return order_service.count_orders(session)


# ---------------------------------------------------------------- placing at commit


def test_an_order_placed_at_commit_is_numbered_and_complete_once_committed(
    database: Database,
) -> None:
    ada = factories.customer(database)
    tea = factories.product(database, price=4_50)
    jam = factories.product(database, price=3_00)

    with database.write() as session:
        pending = place_at_commit(session, ada, (tea, 2), (jam, 1))

    order = pending.view
    assert order.number.endswith("-00001")
    assert order.total == 12_00
    assert [(line.product_id, line.quantity_ordered, line.line_total) for line in order.lines] == [
        (tea, 2, 9_00),
        (jam, 1, 3_00),
    ]
    with database.read() as session:
        stored = order_views.get_order(session, order.id)
        outbox = session.execute(
            select(outbox_events.c.type).where(outbox_events.c.order_id == order.id)
        ).all()
    assert stored.number == order.number
    assert stored.lines == order.lines
    assert [row.type for row in outbox] == ["order.created"]


def test_the_order_is_unknown_until_the_unit_of_work_commits(database: Database) -> None:
    ada = factories.customer(database)
    tea = factories.product(database)

    with database.write() as session:
        pending = place_at_commit(session, ada, (tea, 1))
        if database.is_sqlite:  # no round trips to save: placed at once
            assert pending.view.id > 0
        else:
            with pytest.raises(RuntimeError, match="once the commit is done"):
                _ = pending.view

    assert pending.view.number.endswith("-00001")


@pytest.mark.parametrize(
    ("what", "code"),
    [("unknown product", "product_not_found"), ("unknown customer", "customer_not_found")],
)
def test_a_missing_product_or_customer_is_refused_and_nothing_is_written(
    database: Database, what: str, code: str
) -> None:
    ada = factories.customer(database)
    tea = factories.product(database)
    customer, product = (ada, tea + 100) if what == "unknown product" else (ada + 100, tea)

    with pytest.raises(NotFound) as refused, database.write() as session:
        place_at_commit(session, customer, (product, 1))

    assert refused.value.code == code
    assert order_count(database) == 0
    with database.read() as session:
        assert session.execute(select(order_counters)).all() == []  # no number taken


def test_a_withdrawn_product_is_refused_by_name_and_nothing_is_written(
    database: Database,
) -> None:
    ada = factories.customer(database)
    tea = factories.product(database, active=False)

    with pytest.raises(Conflict, match=f"no longer sold: {tea}"), database.write() as session:
        place_at_commit(session, ada, (tea, 1))

    assert order_count(database) == 0


def test_a_unit_of_work_that_fails_before_its_commit_places_nothing(database: Database) -> None:
    ada = factories.customer(database)
    tea = factories.product(database)

    def place_then_fail() -> None:
        with database.write() as session:
            place_at_commit(session, ada, (tea, 1))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        place_then_fail()

    assert order_count(database) == 0


@pytest.mark.postgres_only
def test_an_open_unit_of_work_that_placed_at_commit_holds_no_lock_others_wait_for(
    pg_database: Database,
) -> None:
    """The slow client: one unit of work places an order, then takes its time before it
    commits. Orders placed meanwhile are not held up by the year's counter, and the
    numbers follow the commits."""
    database = pg_database
    ada = factories.customer(database)
    tea = factories.product(database)
    placed_by_slow = threading.Event()
    other_done = threading.Event()
    numbers: dict[str, str] = {}

    def slow() -> None:
        with database.write() as session:
            pending = place_at_commit(session, ada, (tea, 1))
            placed_by_slow.set()
            other_done.wait(WAIT)  # the client's own work, before it commits
        numbers["slow"] = pending.view.number

    def other() -> None:
        placed_by_slow.wait(WAIT)
        with database.write() as session:
            order = place_unnumbered(session, ada, (tea, 2))
            order_service.number_at_commit(session, order)
        numbers["other"] = order.number
        other_done.set()

    threads = [threading.Thread(target=slow), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * WAIT)

    assert other_done.is_set(), "the second order waited for the first one's commit"
    assert numbers["other"].endswith("-00001")
    assert numbers["slow"].endswith("-00002")


def test_an_order_numbered_at_commit_after_processing_is_processed_and_numbered(
    database: Database,
) -> None:
    ada = factories.customer(database, balance=100_00)
    tea = factories.product(database, price=5_00, stock=3)

    with database.write() as session:
        order = processing.process_order(session, place_unnumbered(session, ada, (tea, 2)).id)
        order_service.number_at_commit(session, order)

    assert order.number.endswith("-00001")
    assert order.status == "processed"
    assert factories.stock_of(database, tea) == 1
    assert factories.balance_of(database, ada) == 90_00
    with database.read() as session:
        assert order_views.get_order(session, order.id).number == order.number


# ---------------------------------------------------------------- the queue itself


def insert_order_row(number: str, customer_id: int) -> tuple[Any, dict[str, Any]]:
    return (
        text(
            "INSERT INTO orders (number, customer_id, status, created, currency, extra, total,"
            " paid, refunded) VALUES (:number, :customer_id, 'pending', CURRENT_TIMESTAMP,"
            " 'USD', '{}', 0, 0, 0) RETURNING number"
        ),
        {"number": number, "customer_id": customer_id},
    )


def test_queued_statements_run_in_order_with_the_commit_and_hand_over_their_rows(
    database: Database,
) -> None:
    ada = factories.customer(database)
    seen: list[tuple[str, list[str], int]] = []

    def use(label: str) -> final_writes.Use:
        def remember(session: Session, rows: Sequence[Any]) -> None:
            # Committed by now: a unit of work of its own sees the row.
            seen.append((label, [row.number for row in rows], order_count(database)))

        return remember

    with database.write() as session:
        for number in ("Q-1", "Q-2"):
            statement, params = insert_order_row(number, ada)
            final_writes.at_commit(session, statement, params, use(number))
        assert seen == []

    assert seen == [("Q-1", ["Q-1"], 2), ("Q-2", ["Q-2"], 2)]


def test_a_queued_statement_that_fails_fails_the_unit_of_work_as_sqlalchemy_would_say(
    database: Database,
) -> None:
    ada = factories.customer(database)
    called: list[str] = []

    def write_twice() -> None:
        with database.write() as session:
            catalog.create_customer(session, name="Bea", email="bea@example.com")
            for number in ("DUP", "DUP"):  # the second breaks the unique number
                statement, params = insert_order_row(number, ada)
                final_writes.at_commit(
                    session, statement, params, lambda _s, _rows: called.append("use")
                )

    with pytest.raises(IntegrityError):
        write_twice()

    assert called == []
    assert order_count(database) == 0
    with database.read() as session:
        names = {c.name for c in catalog.list_customers(session, limit=10).items}
    assert "Bea" not in names  # the earlier write rolled back with it


def test_the_callback_may_read_and_refuse_when_its_statement_wrote_nothing(
    database: Database,
) -> None:
    ada = factories.customer(database)

    def refuse(session: Session, rows: Sequence[Any]) -> None:
        assert rows == []
        exists = session.execute(select(orders.c.id).where(orders.c.customer_id == ada)).first()
        raise NotFound(f"no order (found {exists})", code=Code.ORDER_NOT_FOUND)

    nothing = text("UPDATE orders SET note = 'x' WHERE id = -1 RETURNING id")
    with pytest.raises(NotFound, match="found None"), database.write() as session:
        final_writes.at_commit(session, nothing, {}, refuse)

    # The database is usable afterwards, on the same pool.
    factories.customer(database)


# ---------------------------------------------------------------- processing at commit


def test_processing_with_the_commit_writes_what_processing_at_once_writes(
    database: Database,
) -> None:
    ada = factories.customer(database, balance=100_00)
    tea = factories.product(database, price=5_00, stock=10)
    first = factories.order(database, ada, (tea, 2))
    second = factories.order(database, ada, (tea, 2))

    with database.write() as session:
        at_once = processing.process_order(session, first)
    with database.write() as session:
        with_commit = processing.process_order(session, second, at_commit=True)

    assert factories.stock_of(database, tea) == 6
    assert factories.balance_of(database, ada) == 80_00
    assert (with_commit.status, with_commit.total, with_commit.paid) == (
        at_once.status,
        at_once.total,
        at_once.paid,
    )
    with database.read() as session:
        rows = {
            order_id: [
                session.execute(
                    text(f"SELECT count(*) FROM {table} WHERE order_id = :id"), {"id": order_id}
                ).scalar_one()
                for table in ("ledger_entries", "payments", "order_events", "outbox_events")
            ]
            for order_id in (first, second)
        }
        stored = order_views.get_order(session, second)
    assert rows[first] == rows[second]
    assert stored.status == "processed"


@pytest.mark.postgres_only
def test_processing_writes_sent_with_the_commit_fail_whole_if_the_stock_moved_under_them(
    pg_database: Database,
) -> None:
    """The statement checks itself, since nothing can be checked between it and the
    commit: a stock take that no longer fits fails the transaction, and nothing of it
    is written."""
    database = pg_database
    ada = factories.customer(database, balance=100_00)
    tea = factories.product(database, price=5_00, stock=1)
    order_id = factories.order(database, ada, (tea, 1))
    plan = ProcessPlan(
        now=datetime.now(UTC),
        actor=SYSTEM,
        strategy=Strategy.ADJUST,
        flow=PaymentFlow.BALANCE,
        stock_takes=(StockTake(tea, 5),),  # more than the shelf holds
        line_adjustments=(),
        orders=(OrderProcessed(order_id, OrderStatus.PROCESSED, 5_00, 5_00),),
        charges=(BalanceCharge(ada, 5_00),),
        ledger=(),
        payments=(),
        journal=Journal("order.processed", (), ()),
    )

    def write() -> None:
        with database.write() as session:
            postgres_writer.write_processed(session, plan, at_commit=True)

    with pytest.raises(DBAPIError, match="division by zero"):
        write()

    assert factories.stock_of(database, tea) == 1
    assert factories.balance_of(database, ada) == 100_00
    with database.read() as session:
        assert order_views.get_order(session, order_id).status == "pending"
