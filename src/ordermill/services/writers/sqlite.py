"""The SQLite writer: each plan as one ``executemany`` per table.

SQLite has no data-modifying CTEs, and being in-process it pays no round trip per
statement. The values are the plan's, bound as parameters, as on PostgreSQL. The writes
of placing (the order, its lines, its number) and of processing, and every journal, run
on the driver's cursor (``sqlite_raw``), where SQLAlchemy's execution of a statement
cost more than SQLite's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ordermill.domain.events import EventType
from ordermill.domain.orders import OrderStatus, format_order_number
from ordermill.services.audit import Actor
from ordermill.services.order_views import LineView, OrderView
from ordermill.services.plans import (
    CREATED,
    ORDER_CREATED,
    AuditRow,
    EventRow,
    Journal,
    OutboxRow,
    PlacePlan,
    ProcessPlan,
)
from ordermill.services.tables import (
    audit_log,
    customers,
    ledger_entries,
    order_events,
    order_lines,
    orders,
    outbox_events,
    payments,
    products,
)
from ordermill.services.timeline import Visibility
from ordermill.services.writers.sqlite_raw import Raw, insert_into


def write_processed(session: Session, plan: ProcessPlan, *, at_commit: bool = False) -> None:
    """Every write of a set of processed orders, one ``executemany`` per table on the
    driver's cursor (at once even with ``at_commit``: SQLite has no round trips to save)."""
    now = plan.now
    if plan.stock_takes:
        rows = [(t.quantity, now, t.product_id, t.quantity) for t in plan.stock_takes]
        if _TAKE_STOCK.run(session, rows) != len(rows):
            raise RuntimeError("stock changed under a lock while processing orders")
    if plan.line_adjustments:
        _SETTLE_LINE.run(
            session, [(a.quantity, a.line_total, a.line_id) for a in plan.line_adjustments]
        )
    if plan.orders:
        strategy, flow = plan.strategy.value, plan.flow.value
        _MARK_PROCESSED.run(
            session,
            [
                (o.status.value, now, strategy, o.total, flow, o.paid, o.order_id)
                for o in plan.orders
            ],
        )
    if plan.charges:
        _CHARGE.run(session, [(c.amount, now, c.customer_id) for c in plan.charges])
    actor = plan.actor.label
    if plan.ledger:
        _LEDGER.run(
            session,
            [
                (
                    e.customer_id,
                    now,
                    e.kind.value,
                    e.amount,
                    e.balance_after,
                    e.order_id,
                    e.reason,
                    actor,
                )
                for e in plan.ledger
            ],
        )
    if plan.payments:
        _PAYMENTS.run(
            session,
            [
                (p.order_id, now, p.amount, p.credited, p.method, p.reference, actor)
                for p in plan.payments
            ],
        )
    write_journal(session, plan.journal, plan.actor, now)


def write_journal(session: Session, journal: Journal, actor: Actor, now: datetime) -> None:
    """``writers.core.write_journal`` on the driver's cursor: the timeline events, audit
    entries and outbox events, one ``executemany`` per table."""
    label = actor.label
    if journal.events:
        _EVENTS.run(
            session,
            [(e.order_id, now, e.kind, label, _CUSTOMER, e.detail) for e in journal.events],
        )
    if journal.audits:
        _AUDIT.run(
            session,
            [
                (
                    now,
                    label,
                    actor.user_id,
                    actor.token_id,
                    journal.action,
                    "order",
                    a.order_id,
                    a.detail or {},
                )
                for a in journal.audits
            ],
        )
    if journal.outbox:
        _OUTBOX.run(
            session, [(o.type, o.order_id, o.product_id, o.data, now) for o in journal.outbox]
        )


_CUSTOMER = Visibility.CUSTOMER.value
_TAKE_STOCK = Raw(
    "UPDATE products SET stock = stock - ?, updated = ? WHERE id = ? AND stock >= ?",
    (None, products.c.updated, None, None),
)
_SETTLE_LINE = Raw("UPDATE order_lines SET quantity = ?, line_total = ? WHERE id = ?", (None,) * 3)
_MARK_PROCESSED = Raw(
    "UPDATE orders SET status = ?, processed = ?, strategy = ?, total = ?, payment_flow = ?,"
    " paid = ? WHERE id = ?",
    (None, orders.c.processed, None, None, None, None, None),
)
_CHARGE = Raw(
    "UPDATE customers SET balance = balance - ?, updated = ? WHERE id = ?",
    (None, customers.c.updated, None),
)
_LEDGER = insert_into(
    ledger_entries,
    "customer_id", "at", "kind", "amount", "balance_after", "order_id", "reason", "actor",
)  # fmt: skip
_PAYMENTS = insert_into(
    payments, "order_id", "at", "amount", "credited", "method", "reference", "actor"
)
_EVENTS = insert_into(order_events, "order_id", "at", "kind", "actor", "visibility", "detail")
_AUDIT = insert_into(
    audit_log,
    "at", "actor", "user_id", "token_id", "action", "entity", "entity_id", "detail",
)  # fmt: skip
_OUTBOX = insert_into(outbox_events, "type", "order_id", "product_id", "data", "created")


_ORDER = insert_into(
    orders,
    "number", "customer_id", "status", "created", "currency", "shipping_address", "note",
    "extra", "total", "paid", "refunded",
)  # fmt: skip
_LINE = insert_into(
    order_lines,
    "order_id", "product_id", "product_name", "sku", "unit_price", "quantity_ordered",
    "quantity", "line_total", "extra", "quantity_returned", "quantity_restocked",
)  # fmt: skip
# ``numbering.allocate_order_numbers``' upsert, for one number: the counter row is locked
# (SQLite: the database is) until the transaction ends.
_NEXT_NUMBER = Raw(
    "INSERT INTO order_counters (year, last_value) VALUES (?, 1)"
    " ON CONFLICT (year) DO UPDATE SET last_value = last_value + 1 RETURNING last_value",
    (None,),
)
_SET_NUMBER = Raw("UPDATE orders SET number = ? WHERE id = ?", (None, None))


def place(session: Session, plan: PlacePlan) -> OrderView:
    """A new order, its lines, its audit entry and its first event: one statement each.

    The number comes last (``assign_number``): its counter row stays locked until the
    transaction ends, and every new order waits for it. Until then the row holds a
    placeholder no other transaction can see.
    """
    snapshot = plan.snapshot
    if snapshot is None:
        raise ValueError("placing an order on SQLite needs the catalog's snapshot")
    line_values: list[dict[str, Any]] = [
        {
            "product_id": line.product_id,
            "product_name": snapshot[line.product_id].name,
            "sku": snapshot[line.product_id].sku,
            "unit_price": snapshot[line.product_id].price,
            "quantity_ordered": line.quantity,
            "quantity": line.quantity,
            "line_total": line.quantity * snapshot[line.product_id].price,
            "extra": line.extra,
            "quantity_returned": 0,
            "quantity_restocked": 0,
        }
        for line in plan.lines
    ]
    total = sum(v["line_total"] for v in line_values)
    order_id = _ORDER.insert(
        session,
        (
            plan.placeholder,
            plan.customer_id,
            OrderStatus.PENDING.value,
            plan.now,
            plan.currency,
            plan.shipping_address,
            plan.note,
            plan.extra,
            total,
            0,
            0,
        ),
    )
    created = {"customer_id": plan.customer_id, "total": total}
    write_journal(
        session,
        Journal(
            ORDER_CREATED,
            (EventRow(order_id, CREATED, created),),
            (AuditRow(order_id, created),),
            (OutboxRow(EventType.ORDER_CREATED.value, order_id, created),),
        ),
        plan.actor,
        plan.now,
    )
    line_ids = [
        _LINE.insert(
            session,
            (
                order_id,
                v["product_id"],
                v["product_name"],
                v["sku"],
                v["unit_price"],
                v["quantity_ordered"],
                v["quantity"],
                v["line_total"],
                v["extra"],
                0,
                0,
            ),
        )
        for v in line_values
    ]
    return plan.placed(
        order_id,
        plan.placeholder,
        total,
        [
            LineView(
                id=line_id,
                product_id=v["product_id"],
                name=v["product_name"],
                sku=v["sku"],
                unit_price=v["unit_price"],
                quantity_ordered=v["quantity_ordered"],
                quantity=v["quantity"],
                line_total=v["line_total"],
                extra=v["extra"],
            )
            for line_id, v in zip(line_ids, line_values, strict=True)
        ],
    )


def assign_number(session: Session, order_id: int, year: int) -> str:
    """Take the year's next number and give it to the order."""
    number = format_order_number(year, _NEXT_NUMBER.returning(session, (year,)))
    _SET_NUMBER.run(session, [(number, order_id)])
    return number
