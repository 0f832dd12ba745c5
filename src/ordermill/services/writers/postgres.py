"""The PostgreSQL writer: each plan in as few statements as it takes, usually one.

Data-modifying CTEs over arrays of values (``unnest``) write every table a plan
touches in one round trip. Values come in as bound parameters; the SQL holds no
status, kind, method or event type of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ordermill import final_writes
from ordermill.domain.events import EventType
from ordermill.domain.orders import OrderStatus
from ordermill.services.order_views import LineView, OrderView
from ordermill.services.plans import (
    CREATED,
    ORDER_CREATED,
    PlacedToProcess,
    PlacePlan,
    ProcessPlan,
)
from ordermill.services.timeline import Visibility

ENTITY = "order"  # the audit log's entity for orders


# On PostgreSQL every write of a set of processed orders is one statement: data-modifying
# CTEs over arrays of values (``unnest``), instead of about eight statements, each
# pipelined once per row. The rows are already locked, so the CTEs can't race. Each
# ``= ANY(array)`` keeps an index scan when the driver reuses a generic plan, which
# can't see how few rows the arrays hold.
_PROCESSED_PG = text(
    """
WITH stock AS (
    UPDATE products AS p SET stock = p.stock - v.qty, updated = :now
    FROM unnest(CAST(:pid AS integer[]), CAST(:qty AS integer[])) AS v(pid, qty)
    WHERE p.id = v.pid AND p.stock >= v.qty AND p.id = ANY(CAST(:pid AS integer[]))
    RETURNING p.id
), settled AS (
    UPDATE order_lines AS l SET quantity = v.qty, line_total = v.total
    FROM unnest(CAST(:lid AS integer[]), CAST(:lqty AS integer[]), CAST(:ltotal AS bigint[]))
        AS v(lid, qty, total)
    WHERE l.id = v.lid AND l.id = ANY(CAST(:lid AS integer[]))
), marked AS (
    UPDATE orders AS o SET status = v.st, processed = :now, strategy = :strat,
        payment_flow = :flw, total = v.tot, paid = v.pd
    FROM unnest(CAST(:oid AS integer[]), CAST(:st AS text[]), CAST(:tot AS bigint[]),
        CAST(:pd AS bigint[])) AS v(oid, st, tot, pd)
    WHERE o.id = v.oid AND o.id = ANY(CAST(:oid AS integer[]))
), charged AS (
    UPDATE customers AS c SET balance = c.balance - v.amt, updated = :now
    FROM unnest(CAST(:cid AS integer[]), CAST(:amt AS bigint[])) AS v(cid, amt)
    WHERE c.id = v.cid AND c.id = ANY(CAST(:cid AS integer[]))
), entries AS (
    INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id, reason,
        actor)
    SELECT v.cid, :now, v.kind, v.amount, v.after, v.oid, v.reason, :actor
    FROM unnest(CAST(:lg_cid AS integer[]), CAST(:lg_kind AS text[]), CAST(:lg_amount AS bigint[]),
        CAST(:lg_after AS bigint[]), CAST(:lg_oid AS integer[]), CAST(:lg_reason AS text[]))
        AS v(cid, kind, amount, after, oid, reason)
), paid AS (
    INSERT INTO payments (order_id, at, amount, credited, method, reference, actor)
    SELECT v.oid, :now, v.amount, v.credited, v.method, v.reference, :actor
    FROM unnest(CAST(:p_oid AS integer[]), CAST(:p_amount AS bigint[]),
        CAST(:p_credited AS bigint[]), CAST(:p_method AS text[]), CAST(:p_reference AS text[]))
        AS v(oid, amount, credited, method, reference)
), timeline AS (
    INSERT INTO order_events (order_id, at, kind, actor, visibility, detail)
    SELECT v.oid, :now, v.kind, :actor, :e_visibility, CAST(v.detail AS jsonb)
    FROM unnest(CAST(:e_oid AS integer[]), CAST(:e_kind AS text[]), CAST(:e_detail AS text[]))
        AS v(oid, kind, detail)
), audited AS (
    INSERT INTO audit_log (at, actor, user_id, token_id, action, entity, entity_id, detail)
    SELECT :now, :actor, CAST(:uid AS integer), CAST(:tid AS integer), :a_action, :a_entity,
        v.oid, CAST(v.detail AS jsonb)
    FROM unnest(CAST(:a_oid AS integer[]), CAST(:a_detail AS text[])) AS v(oid, detail)
), announced AS (
    INSERT INTO outbox_events (type, order_id, product_id, data, created)
    SELECT v.type, v.oid, v.pid, CAST(v.data AS jsonb), :now
    FROM unnest(CAST(:o_type AS text[]), CAST(:o_oid AS integer[]), CAST(:o_pid AS integer[]),
        CAST(:o_data AS text[])) AS v(type, oid, pid, data)
)
SELECT count(*) FROM stock
"""
)
# The same, to go with the commit (``final_writes``): nothing can be checked after it, so
# the statement itself fails, and the transaction with it, when a product's stock had
# changed under its lock (1 / 0 is only evaluated then).
_PROCESSED_AT_COMMIT_PG = text(
    str(_PROCESSED_PG.text).replace(
        "SELECT count(*) FROM stock",
        "SELECT CASE WHEN count(*) = :takes THEN count(*) ELSE 1 / (count(*) - count(*)) END"
        " FROM stock",
    )
)


def write_processed(session: Session, plan: ProcessPlan, *, at_commit: bool = False) -> None:
    """Every write of a set of processed orders, in one statement (sent with the commit
    if ``at_commit``)."""
    actor = plan.actor
    journal = plan.journal
    params: dict[str, Any] = {
        "now": plan.now,
        "strat": plan.strategy.value,
        "flw": plan.flow.value,
        "actor": actor.label,
        "uid": actor.user_id,
        "tid": actor.token_id,
        **stock_and_money_params(plan),
        "lid": [line.line_id for line in plan.line_adjustments],
        "lqty": [line.quantity for line in plan.line_adjustments],
        "ltotal": [line.line_total for line in plan.line_adjustments],
        "oid": [order.order_id for order in plan.orders],
        "st": [order.status.value for order in plan.orders],
        "tot": [order.total for order in plan.orders],
        "pd": [order.paid for order in plan.orders],
        "e_visibility": Visibility.CUSTOMER.value,
        "e_oid": [event.order_id for event in journal.events],
        "e_kind": [event.kind for event in journal.events],
        "e_detail": [json.dumps(event.detail) for event in journal.events],
        "a_action": journal.action,
        "a_entity": ENTITY,
        "a_oid": [entry.order_id for entry in journal.audits],
        "a_detail": [json.dumps(entry.detail) for entry in journal.audits],
        "o_type": [row.type for row in journal.outbox],
        "o_oid": [row.order_id for row in journal.outbox],
        "o_pid": [row.product_id for row in journal.outbox],
        "o_data": [json.dumps(row.data) for row in journal.outbox],
    }
    if at_commit:
        params["takes"] = len(plan.stock_takes)
        final_writes.at_commit(session, _PROCESSED_AT_COMMIT_PG, params, _written)
    elif session.execute(_PROCESSED_PG, params).scalar_one() != len(plan.stock_takes):
        raise RuntimeError("stock changed under a lock while processing orders")


def stock_and_money_params(plan: ProcessPlan) -> dict[str, Any]:
    """A processing plan's stock takes (``pid``, ``qty``), charges (``cid``, ``amt``),
    ledger entries (``lg_*``) and payments (``p_*``) as the arrays the statements take."""
    return {
        "pid": [take.product_id for take in plan.stock_takes],
        "qty": [take.quantity for take in plan.stock_takes],
        "cid": [charge.customer_id for charge in plan.charges],
        "amt": [charge.amount for charge in plan.charges],
        "lg_cid": [entry.customer_id for entry in plan.ledger],
        "lg_kind": [entry.kind.value for entry in plan.ledger],
        "lg_amount": [entry.amount for entry in plan.ledger],
        "lg_after": [entry.balance_after for entry in plan.ledger],
        "lg_oid": [entry.order_id for entry in plan.ledger],
        "lg_reason": [entry.reason for entry in plan.ledger],
        "p_oid": [payment.order_id for payment in plan.payments],
        "p_amount": [payment.amount for payment in plan.payments],
        "p_credited": [payment.credited for payment in plan.payments],
        "p_method": [payment.method for payment in plan.payments],
        "p_reference": [payment.reference for payment in plan.payments],
    }


def _written(_session: Session, _rows: Sequence[Any]) -> None:
    """Nothing to read back: the statement checked itself."""


# On PostgreSQL placing an order is one statement of data-modifying CTEs: read the
# products' snapshot (only those still sold, only for a customer who exists), insert the
# order with its total, its lines, its audit entry, its "created" event and its outbox event. When a
# product or the customer is missing nothing is written and no row comes back. The
# number is not taken here: the counter's lock would be held through all these inserts
# (placing became serial when it was); ``assign_number`` takes it last.
_WANTED = """
WITH wanted AS (
    SELECT v.pid, v.qty, v.extra, v.n
    FROM unnest(CAST(:pid AS integer[]), CAST(:qty AS integer[]), CAST(:line_extra AS text[]))
        WITH ORDINALITY AS v(pid, qty, extra, n)
)"""
_WRITES = """, complete AS (
    SELECT coalesce(sum(line_total), 0) AS total FROM snapshot
    HAVING count(*) = :lines AND EXISTS ({customer})
), new_order AS (
    INSERT INTO orders (number, customer_id, status, created, currency, shipping_address,
        note, extra, total, paid, refunded)
    SELECT :placeholder, :customer_id, :status, :now, :currency, :shipping_address, :note,
        CAST(:extra AS jsonb), complete.total, 0, 0
    FROM complete
    RETURNING id, number, total
), new_lines AS (
    INSERT INTO order_lines (order_id, product_id, product_name, sku, unit_price,
        quantity_ordered, quantity, line_total, quantity_returned, quantity_restocked, extra)
    SELECT new_order.id, s.id, s.name, s.sku, s.price, s.qty, s.qty, s.line_total, 0, 0,
        CAST(s.extra AS jsonb)
    FROM new_order, snapshot s ORDER BY s.n
    RETURNING id, product_id, product_name, sku, unit_price, quantity_ordered, line_total,
        extra
), audited AS (
    INSERT INTO audit_log (at, actor, user_id, token_id, action, entity, entity_id, detail)
    SELECT :now, :actor, CAST(:uid AS integer), CAST(:tid AS integer), :audit_action,
        :entity, new_order.id,
        jsonb_build_object('customer_id', CAST(:customer_id AS integer), 'total', new_order.total)
    FROM new_order
), created AS (
    INSERT INTO order_events (order_id, at, kind, actor, visibility, detail)
    SELECT new_order.id, :now, :event_kind, :actor, :visibility,
        jsonb_build_object('customer_id', CAST(:customer_id AS integer), 'total', new_order.total)
    FROM new_order
), announced AS (
    INSERT INTO outbox_events (type, order_id, data, created)
    SELECT :outbox_type, new_order.id,
        jsonb_build_object('customer_id', CAST(:customer_id AS integer), 'total', new_order.total),
        :now
    FROM new_order
)"""
_PLACE_PG = text(
    _WANTED
    + """, snapshot AS (
    SELECT p.id, p.name, p.sku, p.price, w.qty, w.extra, w.n, p.price * w.qty AS line_total
    FROM wanted w JOIN products p ON p.id = w.pid AND p.active
    WHERE p.id = ANY(CAST(:pid AS integer[]))  -- an index scan even in a generic plan
)"""
    + _WRITES.format(customer="SELECT 1 FROM customers WHERE id = :customer_id")
    + """
SELECT new_order.id AS order_id, new_order.number, new_order.total, l.*
FROM new_order, new_lines l
ORDER BY l.id
"""
)
# The same for an order processed in the same transaction: before writing anything it
# locks the customer, then the products in id order (the lock order of every writer;
# the products only once the customer is locked: ``locked`` joins ``buyer``), and
# answers with the balance and the products' stock and thresholds as locked. Writing
# the lines holds the products' locks already, so their foreign-key checks add no
# share lock: on a product every order takes, those share locks of waiting transactions
# piled up into multixacts that cost PostgreSQL more than the orders themselves.
_PLACE_TO_PROCESS_PG = text(
    _WANTED
    + """, buyer AS (
    SELECT id, balance FROM customers WHERE id = :customer_id FOR NO KEY UPDATE
), locked AS (
    SELECT p.id, p.name, p.sku, p.price, p.stock, p.low_stock_threshold
    FROM products p, buyer
    WHERE p.id = ANY(CAST(:pid AS integer[])) AND p.active
    ORDER BY p.id
    FOR NO KEY UPDATE OF p
), snapshot AS (
    SELECT k.id, k.name, k.sku, k.price, w.qty, w.extra, w.n, k.price * w.qty AS line_total
    FROM wanted w JOIN locked k ON k.id = w.pid
)"""
    + _WRITES.format(customer="SELECT 1 FROM buyer")
    + """
SELECT new_order.id AS order_id, new_order.number, new_order.total, l.*, k.stock,
    k.low_stock_threshold, buyer.balance
FROM new_order, new_lines l JOIN locked k ON k.id = l.product_id, buyer
ORDER BY l.id
"""
)


def place(session: Session, plan: PlacePlan) -> OrderView | None:
    """Place an order in one statement; ``None`` when nothing was written because a
    product is unknown or no longer sold, or the customer doesn't exist."""
    return _placed(plan, session.execute(_PLACE_PG, _place_params(plan)).all())


def place_to_process(session: Session, plan: PlacePlan) -> PlacedToProcess | None:
    """Place an order to process in the same transaction, in one statement that locks its
    customer and products first; ``None`` as in ``place``."""
    rows = session.execute(_PLACE_TO_PROCESS_PG, _place_params(plan)).all()
    view = _placed(plan, rows)
    if view is None:
        return None
    return PlacedToProcess(
        view,
        rows[0].balance,
        {row.product_id: row.stock for row in rows},
        {row.product_id: row.low_stock_threshold for row in rows},
    )


def place_at_commit(
    session: Session, plan: PlacePlan, done: Callable[[Session, OrderView | None], None]
) -> None:
    """Place and number an order as the transaction's last writes, sent with its commit:
    one round trip, and the counter's lock is held for no round trip to the client.
    ``done`` gets the numbered order once committed (``None`` as in ``place``)."""
    placed: list[OrderView] = []

    def on_placed(session: Session, rows: Sequence[Any]) -> None:
        view = _placed(plan, rows)
        if view is not None:
            placed.append(view)
        done(session, view)

    def on_numbered(_session: Session, rows: Sequence[Any]) -> None:
        if placed:
            placed[0].number = rows[0].number

    final_writes.at_commit(session, _PLACE_PG, _place_params(plan), on_placed)
    number_placed_at_commit(session, plan, on_numbered)


def number_placed_at_commit(session: Session, plan: PlacePlan, use: final_writes.Use) -> None:
    """Number the order placed from ``plan`` by a statement queued before this one for
    the commit (found by its placeholder); no order, no number taken: ``use`` gets no
    row."""
    final_writes.at_commit(
        session, _NUMBER_PLACED_PG, {"placeholder": plan.placeholder, "year": plan.now.year}, use
    )


def _place_params(plan: PlacePlan) -> dict[str, Any]:
    actor = plan.actor
    return {
        "pid": [line.product_id for line in plan.lines],
        "qty": [line.quantity for line in plan.lines],
        "line_extra": [
            json.dumps(line.extra) if line.extra is not None else None for line in plan.lines
        ],
        "lines": len(plan.lines),
        "customer_id": plan.customer_id,
        "placeholder": plan.placeholder,
        "now": plan.now,
        "currency": plan.currency,
        "shipping_address": plan.shipping_address,
        "note": plan.note,
        "extra": json.dumps(plan.extra),
        "actor": actor.label,
        "uid": actor.user_id,
        "tid": actor.token_id,
        "status": OrderStatus.PENDING.value,
        "audit_action": ORDER_CREATED,
        "entity": ENTITY,
        "event_kind": CREATED,
        "visibility": Visibility.CUSTOMER.value,
        "outbox_type": EventType.ORDER_CREATED.value,
    }


def _placed(plan: PlacePlan, rows: Sequence[Any]) -> OrderView | None:
    """The order as ``_PLACE_PG`` returned it (no rows: nothing written)."""
    if not rows:
        return None
    head = rows[0]
    return plan.placed(
        head.order_id,
        head.number,
        head.total,
        [
            LineView(
                id=row.id,
                product_id=row.product_id,
                name=row.product_name,
                sku=row.sku,
                unit_price=row.unit_price,
                quantity_ordered=row.quantity_ordered,
                quantity=row.quantity_ordered,
                line_total=row.line_total,
                extra=row.extra,
            )
            for row in rows
        ],
    )


# The counter's upsert and the order's update in one round trip; the number reads
# like format_order_number's: the year, a dash, at least five digits.
_NUMBER_PG = text(
    """
WITH counter AS (
    INSERT INTO order_counters (year, last_value) VALUES (:year, 1)
    ON CONFLICT (year) DO UPDATE SET last_value = order_counters.last_value + 1
    RETURNING last_value
)
UPDATE orders SET number = CAST(:year AS text) || '-' || lpad(CAST(counter.last_value AS text),
    greatest(5, length(CAST(counter.last_value AS text))), '0')
FROM counter WHERE orders.id = :id
RETURNING orders.number
"""
)


def assign_number(session: Session, order_id: int, year: int) -> str:
    """Take the year's next number and give it to the order, in one statement."""
    return str(session.execute(_NUMBER_PG, {"year": year, "id": order_id}).scalar_one())


def number_at_commit(session: Session, order_id: int, year: int, use: final_writes.Use) -> None:
    """``assign_number`` as the transaction's last write, sent with its commit."""
    final_writes.at_commit(session, _NUMBER_PG, {"year": year, "id": order_id}, use)


# The same for the order that holds a placeholder, when the statement placing it was sent
# in the same pipeline (its id not known yet); no order, no number taken.
_NUMBER_PLACED_PG = text(
    """
WITH placed AS (
    SELECT id FROM orders WHERE number = :placeholder
), counter AS (
    INSERT INTO order_counters (year, last_value) SELECT CAST(:year AS integer), 1 FROM placed
    ON CONFLICT (year) DO UPDATE SET last_value = order_counters.last_value + 1
    RETURNING last_value
)
UPDATE orders SET number = CAST(:year AS text) || '-' || lpad(CAST(counter.last_value AS text),
    greatest(5, length(CAST(counter.last_value AS text))), '0')
FROM counter, placed WHERE orders.id = placed.id
RETURNING orders.number
"""
)
