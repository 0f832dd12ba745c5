"""The SQLite writer: each plan as Core statements, one ``executemany`` per table.

SQLite has no data-modifying CTEs, and being in-process it pays no round trip per
statement. The values are the plan's, bound as parameters, as on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from ordermill.domain.events import EventType
from ordermill.domain.orders import OrderStatus, format_order_number
from ordermill.services.numbering import allocate_order_numbers
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
    customers,
    ledger_entries,
    order_lines,
    orders,
    payments,
    products,
)
from ordermill.services.writers.core import write_journal

_take_stock = (
    update(products)
    .where(products.c.id == bindparam("pid"), products.c.stock >= bindparam("qty"))
    .values(stock=products.c.stock - bindparam("qty"), updated=bindparam("now"))
)
_mark_processed = (
    update(orders)
    .where(orders.c.id == bindparam("oid"))
    .values(
        status=bindparam("st"),
        processed=bindparam("now"),
        strategy=bindparam("strat"),
        total=bindparam("tot"),
        payment_flow=bindparam("flw"),
        paid=bindparam("pd"),
    )
)
_charge = (
    update(customers)
    .where(customers.c.id == bindparam("cid"))
    .values(balance=customers.c.balance - bindparam("amt"), updated=bindparam("now"))
)
# Statements built once: building them per call (``.values(**row)``) cost more than
# running them.
_insert_order = insert(orders).returning(orders.c.id)
_insert_lines = insert(order_lines).returning(order_lines.c.id, sort_by_parameter_order=True)
_set_number = (
    update(orders).where(orders.c.id == bindparam("oid")).values(number=bindparam("number"))
)
_settle_line = (
    update(order_lines)
    .where(order_lines.c.id == bindparam("lid"))
    .values(quantity=bindparam("qty"), line_total=bindparam("total"))
)


def write_processed(session: Session, plan: ProcessPlan, *, at_commit: bool = False) -> None:
    """Every write of a set of processed orders, one statement per table (at once even
    with ``at_commit``: SQLite has no round trips to save)."""
    now = plan.now
    if plan.stock_takes:
        rows = [{"pid": t.product_id, "qty": t.quantity, "now": now} for t in plan.stock_takes]
        if session.execute(_take_stock, rows).rowcount != len(rows):  # type: ignore[attr-defined]
            raise RuntimeError("stock changed under a lock while processing orders")
    if plan.line_adjustments:
        session.execute(
            _settle_line,
            [
                {"lid": a.line_id, "qty": a.quantity, "total": a.line_total}
                for a in plan.line_adjustments
            ],
        )
    if plan.orders:
        session.execute(
            _mark_processed,
            [
                {
                    "oid": o.order_id,
                    "st": o.status.value,
                    "tot": o.total,
                    "pd": o.paid,
                    "now": now,
                    "strat": plan.strategy.value,
                    "flw": plan.flow.value,
                }
                for o in plan.orders
            ],
        )
    if plan.charges:
        session.execute(
            _charge, [{"cid": c.customer_id, "amt": c.amount, "now": now} for c in plan.charges]
        )
    actor = plan.actor.label
    if plan.ledger:
        session.execute(
            insert(ledger_entries),
            [
                {
                    "customer_id": e.customer_id,
                    "at": now,
                    "kind": e.kind.value,
                    "amount": e.amount,
                    "balance_after": e.balance_after,
                    "order_id": e.order_id,
                    "reason": e.reason,
                    "actor": actor,
                }
                for e in plan.ledger
            ],
        )
    if plan.payments:
        session.execute(
            insert(payments),
            [
                {
                    "order_id": p.order_id,
                    "at": now,
                    "amount": p.amount,
                    "credited": p.credited,
                    "method": p.method,
                    "reference": p.reference,
                    "actor": actor,
                }
                for p in plan.payments
            ],
        )
    write_journal(session, plan.journal, plan.actor, now)


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
    order_id = session.execute(
        _insert_order,
        {
            "number": plan.placeholder,
            "customer_id": plan.customer_id,
            "status": OrderStatus.PENDING.value,
            "created": plan.now,
            "currency": plan.currency,
            "shipping_address": plan.shipping_address,
            "note": plan.note,
            "extra": plan.extra,
            "total": total,
            "paid": 0,
            "refunded": 0,
        },
    ).scalar_one()
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
    for values in line_values:
        values["order_id"] = order_id
    line_ids = list(session.execute(_insert_lines, line_values).scalars())
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
    number = format_order_number(year, allocate_order_numbers(session, year))
    session.execute(_set_number, {"oid": order_id, "number": number})
    return number
