"""Batch use cases on a real database: processing pending orders and expiring unpaid ones.

Each run commits batch by batch, counts how every order ended, and names the orders
that failed and why; one order failing, even at the database level, leaves the
others of its batch done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ordermill import plugins
from ordermill.db import Database
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import Code, InvalidInput
from ordermill.models import utcnow
from ordermill.services import batches, processing, workflow
from ordermill.services.audit import Actor
from ordermill.services.batches import BatchFailure
from ordermill.services.order_views import OrderView, get_order
from ordermill.services.pagination import MAX_ID
from ordermill.services.tables import orders
from tests.factories import balance_of, customer, order, product, stock_of

STAFF = Actor("cli:staff")
BALANCE = PaymentFlow.BALANCE
ADVANCE = PaymentFlow.ADVANCE


def status_of(database: Database, order_id: int) -> str:
    with database.read() as session:
        return get_order(session, order_id).status


def number_of(database: Database, order_id: int) -> str:
    with database.read() as session:
        return get_order(session, order_id).number


def process(database: Database, **kwargs: Any) -> batches.BatchResult:
    kwargs.setdefault("strategy", Strategy.ADJUST)
    kwargs.setdefault("flow", BALANCE)
    return batches.process_pending(database, actor=STAFF, **kwargs)


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """Order ids whose processing or expiry fails at the database level (a broken
    statement), as a corrupt row or a plugin's bad write would."""
    ids: set[int] = set()
    real_process, real_expire = batches.process_orders, batches.expire

    def broken(session: Session, order_ids: Sequence[int]) -> None:
        if ids & set(order_ids):
            session.execute(text("SELECT no_such_column FROM orders"))

    def process_orders(session: Session, order_ids: Sequence[int], *a: Any, **kw: Any) -> Any:
        broken(session, order_ids)
        return real_process(session, order_ids, *a, **kw)

    def expire(session: Session, order_id: int, **kw: Any) -> OrderView | None:
        result = real_expire(session, order_id, **kw)
        broken(session, [order_id])  # after its writes: the transaction must not keep them
        return result

    monkeypatch.setattr(batches, "process_orders", process_orders)
    monkeypatch.setattr(batches, "expire", expire)
    return ids


@dataclass
class Veto:
    """A store plugin that refuses one order's changes."""

    order_id: int

    @plugins.hookimpl
    def pre_transition(self, order: OrderView, action: str, payload: Any, actor: str) -> None:
        if order.id == self.order_id:
            raise RuntimeError("the warehouse is closed for this one")


# ---------------------------------------------------------------- process_pending


def test_processing_counts_the_processed_and_each_refusal_and_names_the_refused(
    database: Database,
) -> None:
    rich = customer(database, balance=100_00)
    broke = customer(database, balance=0)
    cake = product(database, price=5_00, stock=10)
    paid = [order(database, rich, (cake, 2)) for _ in range(3)]
    unpaid = order(database, broke, (cake, 1))
    done_before = order(database, rich, (cake, 1))
    process(database, order_ids=[done_before])

    result = process(database, order_ids=[*paid, unpaid, done_before])

    assert result.outcomes == Counter(
        {"processed": 3, "insufficient_balance": 1, "already_processed": 1}
    )
    assert result.total == 5
    assert [(f.order_id, f.number, f.code) for f in result.failures] == [
        (unpaid, number_of(database, unpaid), Code.INSUFFICIENT_BALANCE),
        (done_before, number_of(database, done_before), Code.ALREADY_PROCESSED),
    ]
    assert "balance must be positive" in result.failures[0].message
    assert all(status_of(database, order_id) == "processed" for order_id in paid)
    assert status_of(database, unpaid) == "pending"
    assert stock_of(database, cake) == 10 - 6 - 1
    assert balance_of(database, rich) == 100_00 - 30_00 - 5_00


@pytest.mark.parametrize(
    ("strategy", "outcomes", "short_status"),
    [
        (Strategy.ADJUST, {"processed": 2}, "processed"),
        (Strategy.REJECT, {"processed": 1, "insufficient_stock": 1}, "pending"),
        (Strategy.IGNORE, {"processed": 2}, "processed"),
    ],
)
def test_processing_counts_truthfully_with_each_strategy(
    database: Database, strategy: Strategy, outcomes: dict[str, int], short_status: str
) -> None:
    buyer = customer(database, balance=100_00)
    scarce = product(database, price=1_00, stock=1)
    plenty = product(database, price=1_00, stock=10)
    short = order(database, buyer, (scarce, 3), (plenty, 1))
    fine = order(database, buyer, (plenty, 1))

    result = process(database, order_ids=[short, fine], strategy=strategy)

    assert result.outcomes == Counter(outcomes)
    assert [f.order_id for f in result.failures] == ([short] if short_status == "pending" else [])
    assert status_of(database, short) == short_status
    assert status_of(database, fine) == "processed"


def test_processing_with_flow_advance_counts_orders_left_awaiting_payment_as_such(
    database: Database,
) -> None:
    buyer = customer(database, balance=0)
    cake = product(database, price=5_00, stock=10)
    sold_out = product(database, price=7_00, stock=0)
    to_pay = [order(database, buyer, (cake, 1)) for _ in range(2)]
    nothing_to_pay = order(database, buyer, (sold_out, 1))

    result = process(
        database, order_ids=[*to_pay, nothing_to_pay], strategy=Strategy.IGNORE, flow=ADVANCE
    )

    # Nothing left to pay: a zero total is settled at once, so that one is processed.
    assert result.outcomes == Counter({"awaiting_payment": 2, "processed": 1})
    assert result.failures == []
    assert [status_of(database, order_id) for order_id in to_pay] == ["awaiting_payment"] * 2
    assert status_of(database, nothing_to_pay) == "processed"


def test_an_order_that_does_not_exist_fails_the_same_way_by_id_and_by_number(
    database: Database,
) -> None:
    buyer = customer(database)
    cake = product(database, stock=10)
    real = order(database, buyer, (cake, 1))

    result = process(
        database, order_ids=[99_999, real, 0, MAX_ID + 1], order_numbers=["2026-99999"]
    )

    assert result.outcomes == Counter({"processed": 1, "order_not_found": 4})
    assert sorted(((f.order_id or 0), f.number or "", f.code) for f in result.failures) == [
        (0, "", Code.ORDER_NOT_FOUND),
        (0, "2026-99999", Code.ORDER_NOT_FOUND),
        (99_999, "", Code.ORDER_NOT_FOUND),
        (MAX_ID + 1, "", Code.ORDER_NOT_FOUND),
    ]
    messages = {f.ref: f.message for f in result.failures}
    assert messages["99999"] == "Order 99999 does not exist."
    assert messages["2026-99999"] == "Order 2026-99999 does not exist."


def test_orders_named_by_number_are_processed_once_even_when_also_named_by_id(
    database: Database,
) -> None:
    buyer = customer(database, balance=100_00)
    cake = product(database, price=5_00, stock=10)
    first = order(database, buyer, (cake, 1))
    second = order(database, buyer, (cake, 1))

    result = process(
        database,
        order_ids=[first],
        order_numbers=[number_of(database, first), number_of(database, second)],
    )

    assert result.outcomes == Counter({"processed": 2})
    assert stock_of(database, cake) == 8


def test_a_malformed_order_number_is_refused_before_any_order_is_processed(
    database: Database,
) -> None:
    buyer = customer(database)
    pending = order(database, buyer, (product(database), 1))

    with pytest.raises(InvalidInput, match="is not an order number"):
        process(database, order_ids=[pending], order_numbers=["2026-1x"])

    assert status_of(database, pending) == "pending"


def test_without_named_orders_every_pending_order_is_processed_batch_by_batch(
    database: Database,
) -> None:
    buyer = customer(database, balance=100_00)
    cake = product(database, price=1_00, stock=100)
    pending = [order(database, buyer, (cake, 1)) for _ in range(5)]
    calls: list[tuple[int, int | None]] = []

    result = process(
        database, batch_size=2, progress=lambda done, total: calls.append((done, total))
    )

    assert result.outcomes == Counter({"processed": 5})
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert all(status_of(database, order_id) == "processed" for order_id in pending)


def test_named_orders_report_progress_after_each_batch(database: Database) -> None:
    buyer = customer(database, balance=100_00)
    cake = product(database, price=1_00, stock=100)
    named = [order(database, buyer, (cake, 1)) for _ in range(3)]
    calls: list[tuple[int, int | None]] = []

    process(database, order_ids=[*named, 99_999], batch_size=2, progress=lambda *c: calls.append(c))

    assert calls == [(2, 4), (4, 4)]


def test_a_plugin_veto_fails_its_order_alone(database: Database) -> None:
    buyer = customer(database, balance=100_00)
    cake = product(database, price=1_00, stock=100)
    first, vetoed, last = (order(database, buyer, (cake, 1)) for _ in range(3))

    with plugins.registered(Veto(vetoed)):
        result = process(database, order_ids=[first, vetoed, last])

    assert result.outcomes == Counter({"processed": 2, "vetoed": 1})
    assert [(f.order_id, f.code) for f in result.failures] == [(vetoed, Code.VETOED)]
    assert "the warehouse is closed" in result.failures[0].message
    assert [status_of(database, i) for i in (first, vetoed, last)] == [
        "processed",
        "pending",
        "processed",
    ]


def test_an_order_failing_at_the_database_level_does_not_sink_its_batch(
    database: Database, poison: set[int]
) -> None:
    buyer = customer(database, balance=100_00)
    cake = product(database, price=1_00, stock=100)
    ids = [order(database, buyer, (cake, 1)) for _ in range(5)]
    poison.add(ids[2])

    result = process(database, batch_size=3)

    assert result.outcomes == Counter({"processed": 4, "internal_error": 1})
    [failure] = result.failures
    assert (failure.order_id, failure.number, failure.code) == (
        ids[2],
        number_of(database, ids[2]),
        Code.INTERNAL_ERROR,
    )
    assert failure.message.startswith("database error: ")
    assert [status_of(database, i) for i in ids] == [
        "processed",
        "processed",
        "pending",
        "processed",
        "processed",
    ]
    assert stock_of(database, cake) == 96
    assert balance_of(database, buyer) == 96_00


def test_a_database_failing_for_every_order_is_raised_not_blamed_on_the_orders(
    database: Database, poison: set[int]
) -> None:
    buyer = customer(database)
    only = order(database, buyer, (product(database), 1))
    poison.add(only)

    with pytest.raises(SQLAlchemyError):
        process(database, order_ids=[only])

    assert status_of(database, only) == "pending"


def test_a_batch_size_below_one_is_refused(database: Database) -> None:
    with pytest.raises(InvalidInput, match="batch_size"):
        process(database, batch_size=0)


# ---------------------------------------------------------------- expire_overdue


def awaiting_payment(database: Database, *, age: timedelta, quantity: int = 2) -> tuple[int, int]:
    """An order processed with flow advance ``age`` ago: (order id, product id)."""
    buyer = customer(database)
    stock = product(database, price=3_00, stock=10)
    order_id = order(database, buyer, (stock, quantity))
    with database.write() as session:
        processing.process_order(session, order_id, flow=ADVANCE, now=utcnow() - age)
    return order_id, stock


def expire(database: Database, **kwargs: Any) -> batches.ExpiryResult:
    kwargs.setdefault("older_than", timedelta(hours=72))
    return batches.expire_overdue(database, actor=STAFF, **kwargs)


def test_expiry_cancels_orders_unpaid_for_too_long_and_releases_their_stock(
    database: Database,
) -> None:
    old, old_stock = awaiting_payment(database, age=timedelta(hours=80), quantity=3)
    recent, recent_stock = awaiting_payment(database, age=timedelta(hours=10))

    result = expire(database)

    assert result.outcomes == Counter({"cancelled": 1})
    assert [(item.order_id, item.units) for item in result.expired] == [(old, 3)]
    assert result.units_released == 3
    assert result.failures == []
    assert status_of(database, old) == "cancelled"
    assert status_of(database, recent) == "awaiting_payment"
    assert stock_of(database, old_stock) == 10
    assert stock_of(database, recent_stock) == 8
    with database.read() as session:
        assert get_order(session, old).cancel_reason == "expired: not paid within 3d"


def test_expiry_dry_run_lists_what_it_would_cancel_and_changes_nothing(
    database: Database,
) -> None:
    old, stock = awaiting_payment(database, age=timedelta(days=4))

    result = expire(database, older_than=timedelta(days=3), dry_run=True)

    assert result.outcomes == Counter({"would_cancel": 1})
    assert [item.order_id for item in result.expired] == [old]
    assert status_of(database, old) == "awaiting_payment"
    assert stock_of(database, stock) == 8


def test_expiry_leaves_an_order_paid_meanwhile_as_it_is(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    unpaid, _ = awaiting_payment(database, age=timedelta(days=5))
    paid_meanwhile, stock = awaiting_payment(database, age=timedelta(days=5))
    listed = batches.expirable

    def expirable_then_paid(*args: Any, **kwargs: Any) -> list[workflow.Expired]:
        candidates = listed(*args, **kwargs)
        if candidates:  # the customer pays between the look-up and the batch
            with database.write() as session:
                workflow.pay(session, paid_meanwhile, amount=6_00, method="card")
        return candidates

    monkeypatch.setattr(batches, "expirable", expirable_then_paid)

    result = expire(database)

    assert result.outcomes == Counter({"cancelled": 1, "no_longer_awaiting_payment": 1})
    assert [item.order_id for item in result.expired] == [unpaid]
    assert status_of(database, unpaid) == "cancelled"
    assert status_of(database, paid_meanwhile) == "processed"
    assert stock_of(database, stock) == 8


def test_expiry_reports_progress_and_a_vetoed_order_fails_alone(database: Database) -> None:
    first, _ = awaiting_payment(database, age=timedelta(days=5))
    vetoed, vetoed_stock = awaiting_payment(database, age=timedelta(days=5))
    last, _ = awaiting_payment(database, age=timedelta(days=5))
    calls: list[tuple[int, int | None]] = []

    with plugins.registered(Veto(vetoed)):
        result = expire(database, batch_size=2, progress=lambda *c: calls.append(c))

    assert calls == [(2, 3), (3, 3)]
    assert result.outcomes == Counter({"cancelled": 2, "vetoed": 1})
    assert [(f.order_id, f.number, f.code) for f in result.failures] == [
        (vetoed, number_of(database, vetoed), Code.VETOED)
    ]
    assert [status_of(database, i) for i in (first, vetoed, last)] == [
        "cancelled",
        "awaiting_payment",
        "cancelled",
    ]
    assert stock_of(database, vetoed_stock) == 8


def test_expiry_of_an_order_failing_at_the_database_level_keeps_the_others(
    database: Database, poison: set[int]
) -> None:
    ids = [awaiting_payment(database, age=timedelta(days=5))[0] for _ in range(3)]
    poison.add(ids[1])

    result = expire(database)

    assert result.outcomes == Counter({"cancelled": 2, "internal_error": 1})
    assert [(f.order_id, f.code) for f in result.failures] == [(ids[1], Code.INTERNAL_ERROR)]
    assert [status_of(database, i) for i in ids] == ["cancelled", "awaiting_payment", "cancelled"]


@pytest.mark.parametrize("age", [timedelta(0), timedelta(hours=-1)])
def test_expiry_needs_a_positive_age(database: Database, age: timedelta) -> None:
    with pytest.raises(InvalidInput, match="older_than"):
        expire(database, older_than=age)


def test_expiry_skips_orders_never_processed_or_already_paid(database: Database) -> None:
    buyer = customer(database, balance=100_00)
    cake = product(database, stock=10)
    pending = order(database, buyer, (cake, 1))
    processed = order(database, buyer, (cake, 1))
    long_ago = utcnow() - timedelta(days=30)
    with database.write() as session:
        processing.process_order(session, processed, now=long_ago)
        session.execute(update(orders).where(orders.c.id == pending).values(created=long_ago))

    result = expire(database, older_than=timedelta(hours=1))

    assert result.total == 0
    assert (status_of(database, pending), status_of(database, processed)) == (
        "pending",
        "processed",
    )


def test_a_batch_failure_names_the_order_by_number_else_by_id() -> None:
    assert BatchFailure(7, "2026-00007", Code.VETOED, "no").ref == "2026-00007"
    assert BatchFailure(99, None, Code.ORDER_NOT_FOUND, "no").ref == "99"
