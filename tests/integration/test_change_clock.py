"""Every row a change writes carries the change's one time, on every database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from ordermill.db import Database
from ordermill.domain.workflow import PaymentFlow
from ordermill.services import orders, processing, workflow
from ordermill.services.audit import Actor
from ordermill.services.tables import audit_log, customers, order_events, products
from tests import factories

PLACED = datetime(2025, 5, 1, 9, 0, 0, 250000, tzinfo=UTC)
PROCESSED = datetime(2025, 5, 2, 10, 0, 0, 500000, tzinfo=UTC)
PAID = datetime(2025, 5, 3, 11, 0, tzinfo=UTC)
CANCELLED = datetime(2025, 5, 4, 12, 0, tzinfo=UTC)
STAFF = Actor("staff@example.com")


def test_audit_entries_events_and_touched_rows_are_dated_with_the_changes_time(
    database: Database,
) -> None:
    # Given a customer and a pen, and an order placed, processed, paid and cancelled at
    # four given times, long before today
    buyer = factories.customer(database, balance=50_00)
    pen = factories.product(database, price=5_00, stock=10)
    with database.write() as session:
        order_id = orders.place_order(
            session,
            customer_id=buyer,
            items=[orders.ItemRequest(pen, 2)],
            currency="EUR",
            now=PLACED,
            actor=STAFF,
        ).id
    with database.write() as session:
        processing.process_order(
            session, order_id, flow=PaymentFlow.ADVANCE, now=PROCESSED, actor=STAFF
        )
    with database.write() as session:
        workflow.pay(session, order_id, amount=4_00, method="card", now=PAID, actor=STAFF)
    with database.write() as session:
        workflow.cancel(session, order_id, reason="changed mind", now=CANCELLED, actor=STAFF)

    # Then each audit entry and event is dated with its change's time, not the clock's
    with database.read() as session:
        audits = session.execute(
            select(audit_log.c.action, audit_log.c.at)
            .where(audit_log.c.entity == "order")
            .order_by(audit_log.c.id)
        ).all()
        events = session.execute(
            select(order_events.c.kind, order_events.c.at).order_by(order_events.c.id)
        ).all()
        product_updated = session.execute(
            select(products.c.updated).where(products.c.id == pen)
        ).scalar_one()
        customer_updated = session.execute(
            select(customers.c.updated).where(customers.c.id == buyer)
        ).scalar_one()
    assert [tuple(row) for row in audits] == [
        ("order.created", PLACED),
        ("order.processed", PROCESSED),
        ("order.paid", PAID),
        ("order.cancelled", CANCELLED),
    ]
    assert [tuple(row) for row in events] == [
        ("created", PLACED),
        ("processed", PROCESSED),
        ("payment", PAID),
        ("cancelled", CANCELLED),
    ]
    # and the stock put back and the refund to the balance carry the cancellation's time
    assert (product_updated, customer_updated) == (CANCELLED, CANCELLED)
