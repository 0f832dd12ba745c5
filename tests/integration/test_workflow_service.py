"""The order workflow on a real database: process, pay, fulfil, deliver, cancel, return, expire.

Every action is checked for what it changes (status, stock, money, the ledger, the
timeline) and every refusal for changing nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from ordermill.db import Database
from ordermill.domain.orders import HOLDS_STOCK, OrderStatus, Strategy
from ordermill.domain.workflow import Action, PaymentFlow, TransitionRefused
from ordermill.errors import Conflict, InvalidInput, NotFound
from ordermill.services import carts, catalog, ledger, processing, timeline, workflow
from ordermill.services.audit import Actor
from ordermill.services.catalog import ProductChanges
from ordermill.services.order_views import OrderView, get_order
from ordermill.services.tables import (
    audit_log,
    ledger_entries,
    order_events,
    order_lines,
    orders,
    payments,
    products,
)
from ordermill.services.workflow import ReturnLine
from tests.factories import balance_of, customer, order, product, stock_of

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=2)
STAFF = Actor("staff@example.com")
BALANCE = PaymentFlow.BALANCE
ADVANCE = PaymentFlow.ADVANCE

PEN_PRICE = 5_00
INK_PRICE = 10_00
TOTAL = 2 * PEN_PRICE + 1 * INK_PRICE  # 20.00


@dataclass(frozen=True)
class Shop:
    """A customer with an order for 2 pens and 1 ink (20.00)."""

    buyer: int
    pen: int
    ink: int
    order_id: int

    def line_of(self, database: Database, product_id: int) -> int:
        view = fetch(database, self.order_id)
        return next(ln.id for ln in view.lines if ln.product_id == product_id)


def shop(database: Database, *, balance: int = 100_00, pens: int = 2) -> Shop:
    buyer = customer(database, balance=balance)
    pen = product(database, price=PEN_PRICE, stock=10)
    ink = product(database, price=INK_PRICE, stock=5)
    return Shop(buyer, pen, ink, order(database, buyer, (pen, pens), (ink, 1)))


def act(database: Database, fn: Callable[..., Any], order_id: int, /, **kw: Any) -> Any:
    with database.write() as session:
        return fn(session, order_id, **kw)


def process(
    database: Database,
    order_id: int,
    flow: PaymentFlow = BALANCE,
    strategy: Strategy = Strategy.ADJUST,
    now: datetime = NOW,
) -> OrderView:
    with database.write() as session:
        return processing.process_order(
            session, order_id, strategy, flow=flow, now=now, actor=STAFF
        )


def pay(database: Database, order_id: int, amount: int, reference: str | None = None) -> OrderView:
    return act(  # type: ignore[no-any-return]
        database,
        workflow.pay,
        order_id,
        amount=amount,
        method="bank transfer",
        reference=reference,
        now=NOW,
        actor=STAFF,
    )


def fetch(database: Database, order_id: int) -> OrderView:
    with database.read() as session:
        return get_order(session, order_id)


def ledger_of(database: Database, customer_id: int) -> list[tuple[str, int, int, int | None]]:
    """(kind, amount, balance_after, order_id), oldest first."""
    with database.read() as session:
        rows = session.execute(
            select(
                ledger_entries.c.kind,
                ledger_entries.c.amount,
                ledger_entries.c.balance_after,
                ledger_entries.c.order_id,
            )
            .where(ledger_entries.c.customer_id == customer_id)
            .order_by(ledger_entries.c.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def payments_of(database: Database, order_id: int) -> list[tuple[int, int, str, str | None]]:
    """(amount, credited, method, reference), oldest first."""
    with database.read() as session:
        rows = session.execute(
            select(payments.c.amount, payments.c.credited, payments.c.method, payments.c.reference)
            .where(payments.c.order_id == order_id)
            .order_by(payments.c.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def events_of(database: Database, order_id: int) -> list[timeline.Event]:
    with database.read() as session:
        return timeline.list_events(session, order_id)


def kinds(database: Database, order_id: int) -> list[str]:
    return [event.kind for event in events_of(database, order_id)]


def stock_is_conserved(database: Database) -> bool:
    """Every unit ever received is on the shelf or held by an order that took stock."""
    with database.read() as session:
        held = dict(
            session.execute(
                select(
                    order_lines.c.product_id,
                    func.sum(order_lines.c.quantity - order_lines.c.quantity_restocked),
                )
                .join(orders, orders.c.id == order_lines.c.order_id)
                .where(
                    orders.c.status.in_([s.value for s in HOLDS_STOCK]),
                    order_lines.c.product_id.is_not(None),
                )
                .group_by(order_lines.c.product_id)
            ).all()
        )
        rows = session.execute(
            select(products.c.id, products.c.stock, products.c.stock_received)
        ).all()
    return all(
        stock >= 0 and received == stock + int(held.get(pid, 0)) for pid, stock, received in rows
    )


@dataclass(frozen=True)
class Snapshot:
    order: OrderView
    stock: dict[int, int]
    balance: int
    ledger: list[Any]
    payments: list[Any]
    events: int
    audit: int


def snapshot(database: Database, s: Shop) -> Snapshot:
    with database.read() as session:
        events = session.execute(select(func.count()).select_from(order_events)).scalar_one()
        audits = session.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return Snapshot(
        fetch(database, s.order_id),
        {s.pen: stock_of(database, s.pen), s.ink: stock_of(database, s.ink)},
        balance_of(database, s.buyer),
        ledger_of(database, s.buyer),
        payments_of(database, s.order_id),
        int(events),
        int(audits),
    )


def shop_in(database: Database, status: OrderStatus, flow: PaymentFlow = BALANCE) -> Shop:
    """A shop whose order has been taken to ``status`` through the workflow."""
    s = shop(database)
    if status is OrderStatus.PENDING:
        return s
    if status is OrderStatus.AWAITING_PAYMENT:
        process(database, s.order_id, ADVANCE)
        return s
    process(database, s.order_id, flow)
    if status is OrderStatus.CANCELLED:
        act(database, workflow.cancel, s.order_id, reason="changed my mind")
        return s
    if status is OrderStatus.PROCESSED:
        return s
    act(database, workflow.fulfill, s.order_id, carrier="DHL", tracking_number="T1", now=NOW)
    if status is OrderStatus.DELIVERED:
        act(database, workflow.deliver, s.order_id, now=NOW)
    if status is OrderStatus.RETURNED:
        pen_line = s.line_of(database, s.pen)
        act(database, workflow.return_order, s.order_id, lines=[ReturnLine(pen_line, 1)])
    return s


# ================================================================ process


def test_processing_with_flow_balance_takes_stock_and_charges_the_balance(
    database: Database,
) -> None:
    s = shop(database, balance=100_00)

    view = process(database, s.order_id, BALANCE)

    # The order is processed and fully paid
    assert view.status == "processed"
    assert (view.total, view.paid, view.refunded) == (TOTAL, TOTAL, 0)
    assert (view.balance_due, view.is_fully_paid) == (0, True)
    assert view.payment_flow == "balance"
    assert view.processed == NOW
    assert fetch(database, s.order_id) == view
    # Stock is taken, the total is charged through the ledger and recorded as a payment
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (8, 4)
    assert balance_of(database, s.buyer) == 80_00
    assert ledger_of(database, s.buyer) == [
        ("adjustment", 100_00, 100_00, None),
        ("charge", -TOTAL, 80_00, s.order_id),
    ]
    assert payments_of(database, s.order_id) == [(TOTAL, 0, "balance", None)]
    assert stock_is_conserved(database)


def test_processing_with_flow_advance_holds_stock_and_waits_for_the_money(
    database: Database,
) -> None:
    s = shop(database, balance=100_00)

    view = process(database, s.order_id, ADVANCE)

    assert view.status == "awaiting_payment"
    assert (view.total, view.paid) == (TOTAL, 0)
    assert (view.balance_due, view.is_fully_paid) == (TOTAL, False)
    assert view.payment_flow == "advance"
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (8, 4)
    assert balance_of(database, s.buyer) == 100_00
    assert [kind for kind, *_ in ledger_of(database, s.buyer)] == ["adjustment"]
    assert payments_of(database, s.order_id) == []
    assert stock_is_conserved(database)


def test_flow_advance_does_not_need_a_positive_balance(database: Database) -> None:
    s = shop(database, balance=0)

    assert process(database, s.order_id, ADVANCE).status == "awaiting_payment"


def test_flow_advance_processes_at_once_an_order_that_settles_at_zero(database: Database) -> None:
    # Given an order whose every line is short and dropped (ignore): it totals 0
    buyer = customer(database, balance=0)
    pen = product(database, price=PEN_PRICE, stock=0)
    order_id = order(database, buyer, (pen, 3))

    view = process(database, order_id, ADVANCE, Strategy.IGNORE)

    # Then there is nothing to wait for
    assert (view.status, view.total, view.paid) == ("processed", 0, 0)
    assert view.is_fully_paid
    assert fetch(database, order_id).status == "processed"


def test_processing_records_created_processed_and_payment_on_the_timeline(
    database: Database,
) -> None:
    # Given 3 pens ordered and only 2 on the shelf (adjust)
    buyer = customer(database)
    pen = product(database, price=PEN_PRICE, stock=2)
    order_id = order(database, buyer, (pen, 3))
    line_id = fetch(database, order_id).lines[0].id

    process(database, order_id, BALANCE, Strategy.ADJUST)

    created, processed, payment = events_of(database, order_id)
    assert created.kind == "created"
    assert (processed.kind, processed.actor, processed.at) == ("processed", STAFF.label, NOW)
    assert processed.detail == {
        "strategy": "adjust",
        "flow": "balance",
        "total": 2 * PEN_PRICE,
        "adjustments": [{"line_id": line_id, "ordered": 3, "processed": 2}],
    }
    assert (payment.kind, payment.actor) == ("payment", STAFF.label)
    assert payment.detail == {"amount": 2 * PEN_PRICE, "method": "balance", "credited": 0}


def test_refusals_to_process_come_in_order_already_processed_balance_then_stock(
    database: Database,
) -> None:
    # Given a customer with nothing on their balance and an order for a product out of stock
    buyer = customer(database, balance=0)
    pen = product(database, stock=0)
    order_id = order(database, buyer, (pen, 1))

    # Then balance is reported before stock
    with pytest.raises(TransitionRefused) as exc:
        process(database, order_id, BALANCE, Strategy.REJECT)
    assert exc.value.code == "insufficient_balance"

    # And once the order was processed (advance), already_processed before the balance
    free = product(database, stock=5)
    other = order(database, buyer, (free, 1))
    process(database, other, ADVANCE)
    with pytest.raises(TransitionRefused) as exc:
        process(database, other, BALANCE, Strategy.REJECT)
    assert exc.value.code == "already_processed"


# ================================================================ pay


def test_payments_are_recorded_until_they_cover_the_total_then_the_order_is_processed(
    database: Database,
) -> None:
    s = shop(database)
    process(database, s.order_id, ADVANCE)

    first = pay(database, s.order_id, 15_00, "TX-1")
    assert (first.status, first.paid, first.balance_due, first.is_fully_paid) == (
        "awaiting_payment",
        15_00,
        5_00,
        False,
    )

    second = pay(database, s.order_id, 5_00, "TX-2")
    assert (second.status, second.paid, second.balance_due, second.is_fully_paid) == (
        "processed",
        TOTAL,
        0,
        True,
    )
    assert fetch(database, s.order_id) == second
    assert payments_of(database, s.order_id) == [
        (15_00, 0, "bank transfer", "TX-1"),
        (5_00, 0, "bank transfer", "TX-2"),
    ]
    # Paying in advance does not touch the balance
    assert balance_of(database, s.buyer) == 100_00
    payments_on_timeline = [e for e in events_of(database, s.order_id) if e.kind == "payment"]
    assert [e.detail["fully_paid"] for e in payments_on_timeline] == [False, True]
    assert payments_on_timeline[0].detail == {
        "amount": 15_00,
        "method": "bank transfer",
        "reference": "TX-1",
        "credited": 0,
        "fully_paid": False,
    }


def test_a_payment_reference_counts_once_even_after_the_order_is_processed(
    database: Database,
) -> None:
    s = shop(database)
    process(database, s.order_id, ADVANCE)
    pay(database, s.order_id, 5_00, "TX-1")

    # The same notification again changes nothing
    again = pay(database, s.order_id, 5_00, "TX-1")
    assert (again.status, again.paid) == ("awaiting_payment", 5_00)

    # Once fully paid the order is processed; a late duplicate is still a quiet success
    pay(database, s.order_id, 15_00, "TX-2")
    late = pay(database, s.order_id, 15_00, "TX-2")
    assert (late.status, late.paid) == ("processed", TOTAL)
    assert [p[3] for p in payments_of(database, s.order_id)] == ["TX-1", "TX-2"]
    assert kinds(database, s.order_id).count("payment") == 2


def test_a_reference_is_unique_per_order_not_across_orders(database: Database) -> None:
    s = shop(database)
    other = order(database, s.buyer, (s.pen, 1))
    process(database, s.order_id, ADVANCE)
    process(database, other, ADVANCE)

    pay(database, s.order_id, 1_00, "SAME")
    view = pay(database, other, 1_00, "SAME")

    assert view.paid == 1_00


def test_a_payment_above_the_total_is_credited_to_the_customers_balance(
    database: Database,
) -> None:
    s = shop(database, balance=100_00)
    process(database, s.order_id, ADVANCE)

    view = pay(database, s.order_id, 50_00, "TX-9")

    assert (view.status, view.paid, view.balance_due) == ("processed", TOTAL, 0)
    assert payments_of(database, s.order_id) == [(50_00, 30_00, "bank transfer", "TX-9")]
    assert balance_of(database, s.buyer) == 130_00
    assert ledger_of(database, s.buyer)[-1] == ("credit", 30_00, 130_00, s.order_id)


@pytest.mark.parametrize("amount", [0, -1, -20_00])
def test_a_payment_must_be_positive(database: Database, amount: int) -> None:
    s = shop(database)
    process(database, s.order_id, ADVANCE)
    before = snapshot(database, s)

    with pytest.raises(InvalidInput) as exc:
        pay(database, s.order_id, amount, "TX")

    assert exc.value.detail == {"field": "amount"}
    assert snapshot(database, s) == before


def test_paying_a_pending_or_a_paid_order_is_refused(database: Database) -> None:
    s = shop(database)
    with pytest.raises(TransitionRefused) as exc:
        pay(database, s.order_id, 1_00)
    assert exc.value.code == "not_processed"

    process(database, s.order_id, BALANCE)
    with pytest.raises(TransitionRefused) as exc:
        pay(database, s.order_id, 1_00, "NEW")
    assert exc.value.code == "already_paid"


# ================================================================ fulfil, deliver


def test_fulfilling_a_processed_order_records_date_carrier_and_tracking(
    database: Database,
) -> None:
    s = shop(database)
    process(database, s.order_id)

    view = act(
        database,
        workflow.fulfill,
        s.order_id,
        carrier="DHL",
        tracking_number="JD0001",
        now=NOW,
        actor=STAFF,
    )

    assert (view.status, view.fulfilled, view.carrier, view.tracking_number) == (
        "fulfilled",
        NOW,
        "DHL",
        "JD0001",
    )
    assert fetch(database, s.order_id) == view
    event = events_of(database, s.order_id)[-1]
    assert (event.kind, event.actor, event.at) == ("fulfilled", STAFF.label, NOW)
    assert event.detail == {"carrier": "DHL", "tracking_number": "JD0001"}


def test_fulfilling_again_succeeds_and_keeps_the_first_date_and_carrier(
    database: Database,
) -> None:
    s = shop(database)
    process(database, s.order_id)
    act(database, workflow.fulfill, s.order_id, carrier="DHL", tracking_number="A", now=NOW)
    before = snapshot(database, s)

    again = act(
        database, workflow.fulfill, s.order_id, carrier="UPS", tracking_number="B", now=LATER
    )

    assert (again.status, again.fulfilled, again.carrier) == ("fulfilled", NOW, "DHL")
    assert snapshot(database, s) == before


@pytest.mark.parametrize(
    ("status", "code"),
    [(OrderStatus.PENDING, "not_processed"), (OrderStatus.AWAITING_PAYMENT, "not_paid")],
)
def test_an_order_not_paid_yet_cannot_be_fulfilled(
    database: Database, status: OrderStatus, code: str
) -> None:
    s = shop_in(database, status)

    with pytest.raises(TransitionRefused) as exc:
        act(database, workflow.fulfill, s.order_id, carrier="DHL")

    assert exc.value.code == code


def test_delivering_a_shipped_order_sets_the_date_and_again_changes_nothing(
    database: Database,
) -> None:
    s = shop_in(database, OrderStatus.FULFILLED)

    view = act(database, workflow.deliver, s.order_id, now=NOW, actor=STAFF)
    assert (view.status, view.delivered) == ("delivered", NOW)
    assert events_of(database, s.order_id)[-1].kind == "delivered"
    before = snapshot(database, s)

    again = act(database, workflow.deliver, s.order_id, now=LATER)

    assert (again.status, again.delivered) == ("delivered", NOW)
    assert snapshot(database, s) == before


def test_an_order_not_shipped_cannot_be_delivered(database: Database) -> None:
    s = shop_in(database, OrderStatus.PROCESSED)

    with pytest.raises(TransitionRefused) as exc:
        act(database, workflow.deliver, s.order_id)

    assert exc.value.code == "not_fulfilled"


# ================================================================ cancel


@pytest.mark.parametrize(
    ("status", "flow", "paid_first", "refund"),
    [
        (OrderStatus.PENDING, BALANCE, 0, 0),
        (OrderStatus.AWAITING_PAYMENT, ADVANCE, 0, 0),
        (OrderStatus.AWAITING_PAYMENT, ADVANCE, 7_00, 7_00),
        (OrderStatus.PROCESSED, BALANCE, 0, TOTAL),
        (OrderStatus.PROCESSED, ADVANCE, TOTAL, TOTAL),
    ],
    ids=["pending", "awaiting", "awaiting-part-paid", "processed-balance", "processed-advance"],
)
def test_cancelling_puts_the_stock_back_and_refunds_what_was_paid(
    database: Database,
    status: OrderStatus,
    flow: PaymentFlow,
    paid_first: int,
    refund: int,
) -> None:
    # Given an order in an allowed state, maybe (partly) paid
    s = shop(database, balance=100_00)
    if status is not OrderStatus.PENDING:
        process(database, s.order_id, flow)
    if paid_first:
        pay(database, s.order_id, paid_first, "TX")
    assert fetch(database, s.order_id).status == status
    balance_before = balance_of(database, s.buyer)

    # When staff cancel it
    view = act(
        database, workflow.cancel, s.order_id, reason="out of season", now=LATER, actor=STAFF
    )

    # Then it is cancelled, the shelves are full again and the money is back on the balance
    assert (view.status, view.cancelled, view.cancel_reason) == (
        "cancelled",
        LATER,
        "out of season",
    )
    assert view.refunded == refund
    assert (view.balance_due, view.is_fully_paid) == (0, False)
    assert fetch(database, s.order_id) == view
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (10, 5)
    assert stock_is_conserved(database)
    assert balance_of(database, s.buyer) == balance_before + refund
    refunds = [e for e in ledger_of(database, s.buyer) if e[0] == "refund"]
    assert refunds == ([("refund", refund, balance_before + refund, s.order_id)] if refund else [])
    event = events_of(database, s.order_id)[-1]
    assert (event.kind, event.actor, event.at) == ("cancelled", STAFF.label, LATER)
    assert event.detail["reason"] == "out of season"
    assert event.detail["refunded"] == refund


def test_a_processed_order_cancelled_leaves_the_balance_where_it_started(
    database: Database,
) -> None:
    s = shop(database, balance=100_00)
    process(database, s.order_id, BALANCE)

    act(database, workflow.cancel, s.order_id, reason="duplicate")

    assert balance_of(database, s.buyer) == 100_00
    assert [e[0] for e in ledger_of(database, s.buyer)] == ["adjustment", "charge", "refund"]


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_cancel_needs_a_reason(database: Database, reason: str) -> None:
    s = shop(database)

    with pytest.raises(InvalidInput) as exc:
        act(database, workflow.cancel, s.order_id, reason=reason)

    assert exc.value.detail == {"field": "reason"}
    assert fetch(database, s.order_id).status == "pending"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (OrderStatus.FULFILLED, "already_fulfilled"),
        (OrderStatus.DELIVERED, "already_delivered"),
        (OrderStatus.CANCELLED, "already_cancelled"),
        (OrderStatus.RETURNED, "already_returned"),
    ],
)
def test_an_order_that_shipped_or_ended_cannot_be_cancelled(
    database: Database, status: OrderStatus, code: str
) -> None:
    s = shop_in(database, status)

    with pytest.raises(TransitionRefused) as exc:
        act(database, workflow.cancel, s.order_id, reason="too late")

    assert exc.value.code == code


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.AWAITING_PAYMENT])
def test_a_customer_may_cancel_their_own_order_before_it_is_paid(
    database: Database, status: OrderStatus
) -> None:
    s = shop_in(database, status)

    view = act(database, workflow.cancel, s.order_id, reason="oops", customer_id=s.buyer)

    assert view.status == "cancelled"
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (10, 5)


def test_a_customer_may_not_cancel_a_paid_order(database: Database) -> None:
    s = shop_in(database, OrderStatus.PROCESSED)

    with pytest.raises(TransitionRefused) as exc:
        act(database, workflow.cancel, s.order_id, reason="oops", customer_id=s.buyer)

    assert exc.value.code == "not_cancellable_by_customer"
    assert fetch(database, s.order_id).status == "processed"


def test_a_customer_cannot_see_or_cancel_another_customers_order(database: Database) -> None:
    s = shop(database)
    stranger = customer(database)

    with pytest.raises(NotFound) as exc:
        act(database, workflow.cancel, s.order_id, reason="mine now", customer_id=stranger)

    assert exc.value.code == "order_not_found"
    assert fetch(database, s.order_id).status == "pending"


# ================================================================ return


def test_returning_a_whole_order_with_restock_refunds_it_and_fills_the_shelves(
    database: Database,
) -> None:
    s = shop_in(database, OrderStatus.DELIVERED)
    balance_before = balance_of(database, s.buyer)

    view = act(
        database, workflow.return_order, s.order_id, restock=True, reason="broken", actor=STAFF
    )

    assert (view.status, view.refunded) == ("returned", TOTAL)
    stored = fetch(database, s.order_id)
    assert stored.status == "returned"
    assert {
        ln.product_id: (ln.quantity_returned, ln.quantity_restocked) for ln in stored.lines
    } == {
        s.pen: (2, 2),
        s.ink: (1, 1),
    }
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (10, 5)
    assert balance_of(database, s.buyer) == balance_before + TOTAL
    assert ledger_of(database, s.buyer)[-1] == (
        "refund",
        TOTAL,
        balance_before + TOTAL,
        s.order_id,
    )
    event = events_of(database, s.order_id)[-1]
    assert (event.kind, event.actor) == ("returned", STAFF.label)
    assert event.detail["reason"] == "broken"
    assert event.detail["refunded"] == TOTAL
    assert stock_is_conserved(database)


def test_a_partial_return_without_restock_refunds_the_units_and_keeps_them_off_the_shelf(
    database: Database,
) -> None:
    s = shop_in(database, OrderStatus.FULFILLED)
    pen_line = s.line_of(database, s.pen)
    balance_before = balance_of(database, s.buyer)

    view = act(database, workflow.return_order, s.order_id, lines=[ReturnLine(pen_line, 1)])

    assert (view.status, view.refunded) == ("returned", PEN_PRICE)
    lines = {ln.product_id: ln for ln in fetch(database, s.order_id).lines}
    assert (lines[s.pen].quantity_returned, lines[s.pen].quantity_restocked) == (1, 0)
    assert (lines[s.ink].quantity_returned, lines[s.ink].quantity_restocked) == (0, 0)
    assert stock_of(database, s.pen) == 8  # damaged: not back on the shelf
    assert balance_of(database, s.buyer) == balance_before + PEN_PRICE
    assert stock_is_conserved(database)


def test_a_returned_order_can_return_more_until_nothing_is_left(database: Database) -> None:
    s = shop_in(database, OrderStatus.DELIVERED)
    pen_line = s.line_of(database, s.pen)
    act(database, workflow.return_order, s.order_id, lines=[ReturnLine(pen_line, 1)], restock=True)

    # The rest (1 pen and the ink), all at once
    rest = act(database, workflow.return_order, s.order_id, restock=True)

    assert rest.refunded == TOTAL
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (10, 5)
    with pytest.raises(TransitionRefused) as exc:
        act(database, workflow.return_order, s.order_id)
    assert exc.value.code == "nothing_to_return"
    assert stock_is_conserved(database)


def test_a_lines_own_restock_choice_overrides_the_requests(database: Database) -> None:
    s = shop_in(database, OrderStatus.DELIVERED)
    pen_line, ink_line = s.line_of(database, s.pen), s.line_of(database, s.ink)

    act(
        database,
        workflow.return_order,
        s.order_id,
        lines=[ReturnLine(pen_line, 2, restock=False), ReturnLine(ink_line, 1)],
        restock=True,
    )

    lines = {ln.product_id: ln for ln in fetch(database, s.order_id).lines}
    assert lines[s.pen].quantity_restocked == 0
    assert lines[s.ink].quantity_restocked == 1
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (8, 5)
    assert stock_is_conserved(database)


def test_returning_more_units_than_are_left_is_refused(database: Database) -> None:
    s = shop_in(database, OrderStatus.DELIVERED)
    pen_line = s.line_of(database, s.pen)

    with pytest.raises(Conflict) as exc:
        act(database, workflow.return_order, s.order_id, lines=[ReturnLine(pen_line, 3)])
    assert exc.value.code == "return_exceeds_quantity"
    assert exc.value.detail == {"line_id": pen_line, "returnable": 2}

    act(database, workflow.return_order, s.order_id, lines=[ReturnLine(pen_line, 2)])
    before = snapshot(database, s)
    with pytest.raises(Conflict) as exc:
        act(database, workflow.return_order, s.order_id, lines=[ReturnLine(pen_line, 1)])
    assert exc.value.code == "return_exceeds_quantity"
    assert exc.value.detail["returnable"] == 0
    assert snapshot(database, s) == before


def test_returning_a_line_of_another_order_is_invalid(database: Database) -> None:
    s = shop_in(database, OrderStatus.DELIVERED)
    other = shop(database)
    foreign_line = other.line_of(database, other.pen)

    with pytest.raises(InvalidInput) as exc:
        act(database, workflow.return_order, s.order_id, lines=[ReturnLine(foreign_line, 1)])

    assert exc.value.detail == {"field": "lines"}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (OrderStatus.PENDING, "not_processed"),
        (OrderStatus.AWAITING_PAYMENT, "not_paid"),
        (OrderStatus.PROCESSED, "not_fulfilled"),
        (OrderStatus.CANCELLED, "already_cancelled"),
    ],
)
def test_an_order_that_was_not_shipped_cannot_be_returned(
    database: Database, status: OrderStatus, code: str
) -> None:
    s = shop_in(database, status)

    with pytest.raises(TransitionRefused) as exc:
        act(database, workflow.return_order, s.order_id, restock=True)

    assert exc.value.code == code


# ================================================================ a refusal changes nothing


REFUSALS: list[tuple[OrderStatus, Action, dict[str, Any], str]] = [
    (OrderStatus.PROCESSED, Action.PROCESS, {}, "already_processed"),
    (OrderStatus.CANCELLED, Action.PROCESS, {}, "already_cancelled"),
    (OrderStatus.PROCESSED, Action.PAY, {"amount": 5_00, "method": "cash"}, "already_paid"),
    (OrderStatus.AWAITING_PAYMENT, Action.FULFILL, {"carrier": "DHL"}, "not_paid"),
    (OrderStatus.PROCESSED, Action.DELIVER, {}, "not_fulfilled"),
    (OrderStatus.FULFILLED, Action.CANCEL, {"reason": "late"}, "already_fulfilled"),
    (OrderStatus.PROCESSED, Action.RETURN, {"restock": True}, "not_fulfilled"),
]

CALLS: dict[Action, Callable[..., Any]] = {
    Action.PROCESS: processing.process_order,
    Action.PAY: workflow.pay,
    Action.FULFILL: workflow.fulfill,
    Action.DELIVER: workflow.deliver,
    Action.CANCEL: workflow.cancel,
    Action.RETURN: workflow.return_order,
}


@pytest.mark.parametrize(
    ("status", "action", "kwargs", "code"),
    REFUSALS,
    ids=[f"{a.value}-{s.value}" for s, a, _, _ in REFUSALS],
)
def test_a_refused_action_changes_nothing(
    database: Database, status: OrderStatus, action: Action, kwargs: dict[str, Any], code: str
) -> None:
    s = shop_in(database, status)
    before = snapshot(database, s)

    with pytest.raises(TransitionRefused) as exc:
        act(database, CALLS[action], s.order_id, **kwargs)

    assert exc.value.code == code
    assert snapshot(database, s) == before


def test_a_refusal_for_the_balance_changes_nothing(database: Database) -> None:
    s = shop(database, balance=0)
    before = snapshot(database, s)

    with pytest.raises(TransitionRefused) as exc:
        process(database, s.order_id, BALANCE)

    assert exc.value.code == "insufficient_balance"
    assert snapshot(database, s) == before


def test_a_rejected_processing_for_stock_changes_nothing(database: Database) -> None:
    s = shop(database, pens=11)  # 10 on the shelf
    before = snapshot(database, s)

    with pytest.raises(Conflict) as exc:
        process(database, s.order_id, BALANCE, Strategy.REJECT)

    assert exc.value.code == "insufficient_stock"
    assert snapshot(database, s) == before


# ================================================================ actions


def test_actions_lists_what_staff_may_do_now_and_why_not(database: Database) -> None:
    s = shop_in(database, OrderStatus.AWAITING_PAYMENT)

    with database.read() as session:
        view, verdicts = workflow.actions(session, s.order_id)

    assert view.status == "awaiting_payment"
    assert {v.action.value: (v.allowed, v.reason) for v in verdicts} == {
        "process": (False, "already_processed"),
        "pay": (True, None),
        "fulfill": (False, "not_paid"),
        "deliver": (False, "not_paid"),
        "cancel": (True, None),
        "return": (False, "not_paid"),
    }


def test_actions_for_a_customer_show_only_cancel_and_only_on_their_orders(
    database: Database,
) -> None:
    s = shop_in(database, OrderStatus.PROCESSED)

    with database.read() as session:
        _, verdicts = workflow.actions(session, s.order_id, customer_id=s.buyer)
    assert [(v.action, v.allowed, v.reason) for v in verdicts] == [
        (Action.CANCEL, False, "not_cancellable_by_customer")
    ]

    stranger = customer(database)
    with pytest.raises(NotFound), database.read() as session:
        workflow.actions(session, s.order_id, customer_id=stranger)


def test_actions_with_flow_balance_shows_a_customer_without_money_cannot_be_processed(
    database: Database,
) -> None:
    s = shop(database, balance=0)

    with database.read() as session:
        _, balance = workflow.actions(session, s.order_id, flow=BALANCE)
        _, advance = workflow.actions(session, s.order_id, flow=ADVANCE)

    assert (balance[0].allowed, balance[0].reason) == (False, "insufficient_balance")
    assert (advance[0].allowed, advance[0].reason) == (True, None)


# ================================================================ expiry


def set_processed(database: Database, order_id: int, when: datetime) -> None:
    with database.write() as session:
        session.execute(update(orders).where(orders.c.id == order_id).values(processed=when))


def test_only_orders_awaiting_payment_since_before_the_cutoff_are_expirable(
    database: Database,
) -> None:
    buyer = customer(database)
    pen = product(database, stock=20)
    old = order(database, buyer, (pen, 2))
    recent = order(database, buyer, (pen, 1))
    paid = order(database, buyer, (pen, 1))
    order(database, buyer, (pen, 1))  # still pending
    process(database, old, ADVANCE, now=NOW - timedelta(days=10))
    process(database, recent, ADVANCE, now=NOW - timedelta(hours=1))
    process(database, paid, BALANCE, now=NOW - timedelta(days=10))

    with database.read() as session:
        found = workflow.expirable(session, NOW - timedelta(days=3))

    assert [(e.order_id, e.units) for e in found] == [(old, 2)]
    assert found[0].processed == NOW - timedelta(days=10)


def test_expiring_cancels_the_order_and_releases_its_stock(database: Database) -> None:
    s = shop_in(database, OrderStatus.AWAITING_PAYMENT)

    view = act(database, workflow.expire, s.order_id, reason="not paid within 7 days")

    assert view is not None
    assert (view.status, view.cancel_reason) == ("cancelled", "not paid within 7 days")
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (10, 5)
    assert stock_is_conserved(database)


def test_an_order_paid_after_it_was_listed_is_not_expired(database: Database) -> None:
    s = shop_in(database, OrderStatus.AWAITING_PAYMENT)
    set_processed(database, s.order_id, NOW - timedelta(days=10))
    with database.read() as session:
        listed = [e.order_id for e in workflow.expirable(session, NOW)]
    assert listed == [s.order_id]

    pay(database, s.order_id, TOTAL, "TX-LATE")  # the money arrives meanwhile
    result = act(database, workflow.expire, s.order_id, reason="not paid")

    assert result is None
    stored = fetch(database, s.order_id)
    assert (stored.status, stored.paid, stored.refunded) == ("processed", TOTAL, 0)
    assert (stock_of(database, s.pen), stock_of(database, s.ink)) == (8, 4)


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.PROCESSED])
def test_expire_leaves_an_order_that_is_not_awaiting_payment_alone(
    database: Database, status: OrderStatus
) -> None:
    s = shop_in(database, status)
    before = snapshot(database, s)

    assert act(database, workflow.expire, s.order_id, reason="not paid") is None
    assert snapshot(database, s) == before


# ================================================================ timeline


def test_the_timeline_tells_an_orders_story_with_actors_and_details(database: Database) -> None:
    s = shop(database)
    process(database, s.order_id, ADVANCE)
    pay(database, s.order_id, TOTAL, "TX-1")
    act(database, workflow.fulfill, s.order_id, carrier="DHL", tracking_number="T9", actor=STAFF)
    act(database, workflow.deliver, s.order_id, actor=STAFF)
    act(database, workflow.return_order, s.order_id, restock=True, reason="too big", actor=STAFF)

    events = events_of(database, s.order_id)

    assert [e.kind for e in events] == [
        "created",
        "processed",
        "payment",
        "fulfilled",
        "delivered",
        "returned",
    ]
    assert all(e.actor == STAFF.label for e in events[1:])
    assert all(e.visibility == "customer" for e in events)
    assert events[3].detail == {"carrier": "DHL", "tracking_number": "T9"}
    assert events[5].detail["reason"] == "too big"
    assert sorted(events[5].detail["lines"], key=lambda ln: ln["quantity"]) == [
        {"line_id": s.line_of(database, s.ink), "quantity": 1, "restocked": 1},
        {"line_id": s.line_of(database, s.pen), "quantity": 2, "restocked": 2},
    ]


def test_staff_notes_are_hidden_from_the_customer(database: Database) -> None:
    s = shop(database)
    with database.write() as session:
        timeline.add_note(
            session, s.order_id, "fragile", visibility=timeline.Visibility.STAFF, actor=STAFF
        )
        timeline.add_note(
            session,
            s.order_id,
            "please ring twice",
            visibility=timeline.Visibility.CUSTOMER,
            actor=Actor("ann@example.com"),
            customer_id=s.buyer,
        )

    with database.read() as session:
        staff_view = timeline.list_events(session, s.order_id)
        customer_view = timeline.list_events(session, s.order_id, customer_id=s.buyer)

    notes = [(e.detail["text"], e.visibility, e.actor) for e in staff_view if e.kind == "note"]
    assert notes == [
        ("fragile", "staff", STAFF.label),
        ("please ring twice", "customer", "ann@example.com"),
    ]
    assert [e.detail.get("text") for e in customer_view if e.kind == "note"] == [
        "please ring twice"
    ]


def test_a_customer_cannot_read_or_note_on_another_customers_timeline(
    database: Database,
) -> None:
    s = shop(database)
    stranger = customer(database)

    with pytest.raises(NotFound) as exc, database.read() as session:
        timeline.list_events(session, s.order_id, customer_id=stranger)
    assert exc.value.code == "order_not_found"
    with pytest.raises(NotFound), database.write() as session:
        timeline.add_note(
            session,
            s.order_id,
            "hi",
            visibility=timeline.Visibility.CUSTOMER,
            actor=Actor("x"),
            customer_id=stranger,
        )
    assert kinds(database, s.order_id) == ["created"]


# ================================================================ reorder


def test_reorder_puts_the_ordered_quantities_in_the_cart_at_todays_price(
    database: Database,
) -> None:
    s = shop_in(database, OrderStatus.DELIVERED)
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, s.pen), ProductChanges(price=6_00)
        )

    with database.write() as session:
        result = carts.reorder(session, s.order_id, customer_id=s.buyer)

    assert {i.product_id: (i.quantity, i.unit_price) for i in result.cart.items} == {
        s.pen: (2, 6_00),
        s.ink: (1, INK_PRICE),
    }
    pen_added = next(a for a in result.added if a["product_id"] == s.pen)
    assert (pen_added["unit_price"], pen_added["price_then"]) == (6_00, PEN_PRICE)
    assert result.unavailable == []


def test_reorder_uses_the_quantity_ordered_not_the_quantity_sold(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, price=PEN_PRICE, stock=1)
    order_id = order(database, buyer, (pen, 3))
    process(database, order_id, BALANCE, Strategy.ADJUST)  # sold 1 of 3

    with database.write() as session:
        result = carts.reorder(session, order_id)

    assert [(i.product_id, i.quantity) for i in result.cart.items] == [(pen, 3)]


def test_reorder_reports_products_removed_or_no_longer_sold(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, sku="PEN-R")
    ink = product(database, sku="INK-R")
    pad = product(database, sku="PAD-R")
    order_id = order(database, buyer, (pen, 1), (ink, 2), (pad, 3))
    with database.write() as session:
        catalog.delete_product(session, pen)
        catalog.update_product(
            session, catalog.get_product(session, ink), ProductChanges(active=False)
        )

    with database.write() as session:
        result = carts.reorder(session, order_id, customer_id=buyer)

    assert [(i.product_id, i.quantity) for i in result.cart.items] == [(pad, 3)]
    assert sorted((u["sku"], u["reason"]) for u in result.unavailable) == [
        ("INK-R", "product_inactive"),
        ("PEN-R", "product_removed"),
    ]


def test_reorder_of_another_customers_order_is_not_found(database: Database) -> None:
    s = shop(database)
    stranger = customer(database)

    with pytest.raises(NotFound) as exc, database.write() as session:
        carts.reorder(session, s.order_id, customer_id=stranger)

    assert exc.value.code == "order_not_found"


# ================================================================ conservation over a whole run


def test_stock_and_money_add_up_after_every_kind_of_action(database: Database) -> None:
    """Whatever happens to orders, the shelves plus what orders hold equals what was
    received, and each balance equals the sum of its ledger entries."""
    buyer = customer(database, balance=200_00)
    pen = product(database, price=PEN_PRICE, stock=20)
    ink = product(database, price=INK_PRICE, stock=20)
    ids = [order(database, buyer, (pen, 2), (ink, 1)) for _ in range(6)]
    process(database, ids[0], BALANCE)
    process(database, ids[1], ADVANCE)
    pay(database, ids[1], 25_00, "P1")  # overpaid by 5.00
    process(database, ids[2], ADVANCE)
    act(database, workflow.cancel, ids[2], reason="x")
    process(database, ids[3], BALANCE)
    act(database, workflow.fulfill, ids[3])
    line = fetch(database, ids[3]).lines[0].id
    act(database, workflow.return_order, ids[3], lines=[ReturnLine(line, 1)], restock=True)
    process(database, ids[4], BALANCE)
    act(database, workflow.fulfill, ids[4])
    act(database, workflow.return_order, ids[4], restock=False)
    act(database, workflow.cancel, ids[5], reason="y")

    assert stock_is_conserved(database)
    with database.read() as session:
        assert ledger.drift(session) == []
    # 200 - 20 (0) - 20 (3) + 5 (3, one pen back) - 20 (4) + 20 (4, returned) + 5 (1, credit)
    assert balance_of(database, buyer) == 170_00
