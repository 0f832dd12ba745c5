"""PostgreSQL: an order placed and processed in one write, decided from a read that locks
nothing (``services.place_processed``).

``read`` is one statement outside any transaction: the customer's balance, the
products as they are, and ids for the order and its lines. ``write_at_commit`` sends
the whole decided order (the placed order's rows and the processing's, in their final
state) with the number and ``COMMIT`` in one round trip. The statement first locks the
customer and then the products in id order, as every writer does, and writes only if
what the decision read still holds: the same balance, each product still sold at the
same name, SKU and price, with at least the stock the decision needs. Otherwise it
writes nothing, takes no number, and the caller decides again under locks. The
products' locks are held for no round trip to the client: only while PostgreSQL runs
the statement, the number and the commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ordermill import final_writes

if TYPE_CHECKING:
    from ordermill.db import Database
from ordermill.domain.events import EventType
from ordermill.services.plans import CREATED, ORDER_CREATED, PlacePlan, ProcessPlan
from ordermill.services.timeline import Visibility
from ordermill.services.writers.postgres import (
    ENTITY,
    number_placed_at_commit,
    stock_and_money_params,
)

_READ = text(
    """
WITH ids AS (
    SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS order_id,
        ARRAY(SELECT nextval(pg_get_serial_sequence('order_lines', 'id'))
              FROM generate_series(1, :lines)) AS line_ids
)
SELECT c.balance, ids.order_id, ids.line_ids, p.id, p.name, p.sku, p.price, p.stock,
    p.low_stock_threshold, p.active
FROM customers c CROSS JOIN ids
LEFT JOIN products p ON p.id = ANY(CAST(:pid AS integer[]))
WHERE c.id = :customer_id
"""
)


@dataclass(frozen=True, slots=True)
class Read:
    """What ``read`` found: the customer's balance, the products by id (rows with
    name, sku, price, stock, low_stock_threshold and active), and the new ids."""

    balance: int
    products: dict[int, Any]
    order_id: int
    line_ids: tuple[int, ...]


def read(session: Session, customer_id: int, product_ids: Sequence[int]) -> Read | None:
    """The customer's balance, the products and ids for a new order with one line per
    product, in one statement; ``None`` when the customer doesn't exist."""
    return _found(session.execute(_READ, _read_params(customer_id, product_ids)).all())


async def read_async(
    database: Database, customer_id: int, product_ids: Sequence[int]
) -> Read | None:
    """``read`` from the event loop."""
    return _found(await database.lookup_async(_READ, _read_params(customer_id, product_ids)))


def _read_params(customer_id: int, product_ids: Sequence[int]) -> dict[str, Any]:
    return {"customer_id": customer_id, "pid": list(product_ids), "lines": len(product_ids)}


def _found(rows: Sequence[Any]) -> Read | None:
    if not rows:
        return None
    head = rows[0]
    return Read(
        balance=int(head.balance),
        products={row.id: row for row in rows if row.id is not None},
        order_id=int(head.order_id),
        line_ids=tuple(int(i) for i in head.line_ids),
    )


@dataclass(frozen=True, slots=True)
class StockGuard:
    """A product as the decision read it, and the least stock for which it holds."""

    product_id: int
    least: int
    name: str
    sku: str
    price: int


# Every row of both plans, gated on ``held``: the locks taken in the writers' order, and
# the read still true under them. Nothing can be checked after the statement (the commit
# is in the same write), so it writes all or nothing and says which by its count.
_WRITE = text(
    """
WITH buyer AS (
    SELECT id, balance FROM customers WHERE id = :customer_id FOR NO KEY UPDATE
), locked AS (
    SELECT p.id, p.name, p.sku, p.price, p.stock, p.active
    FROM products p, buyer
    WHERE p.id = ANY(CAST(:g_pid AS integer[]))
    ORDER BY p.id
    FOR NO KEY UPDATE OF p
), held AS (
    SELECT 1 AS ok FROM buyer
    WHERE buyer.balance = :balance AND (
        SELECT count(*)
        FROM locked k JOIN unnest(CAST(:g_pid AS integer[]), CAST(:g_least AS integer[]),
            CAST(:g_name AS text[]), CAST(:g_sku AS text[]), CAST(:g_price AS bigint[]))
            AS g(pid, least, name, sku, price) ON k.id = g.pid
        WHERE k.active AND k.stock >= g.least AND k.name = g.name AND k.sku = g.sku
            AND k.price = g.price
    ) = :products
), stock AS (
    UPDATE products AS p SET stock = p.stock - v.qty, updated = :processed
    FROM unnest(CAST(:pid AS integer[]), CAST(:qty AS integer[])) AS v(pid, qty), held
    WHERE p.id = v.pid AND p.id = ANY(CAST(:pid AS integer[]))
), new_order AS (
    INSERT INTO orders (id, number, customer_id, status, strategy, payment_flow, created,
        processed, currency, shipping_address, note, extra, total, paid, refunded)
    SELECT :order_id, :placeholder, :customer_id, :status, :strat, :flw, :created,
        :processed, :currency, :shipping_address, :note, CAST(:extra AS jsonb), :total,
        :paid, 0
    FROM held
), new_lines AS (
    INSERT INTO order_lines (id, order_id, product_id, product_name, sku, unit_price,
        quantity_ordered, quantity, line_total, quantity_returned, quantity_restocked, extra)
    SELECT v.id, :order_id, v.pid, v.name, v.sku, v.price, v.ordered, v.qty, v.total, 0, 0,
        CAST(v.extra AS jsonb)
    FROM unnest(CAST(:l_id AS integer[]), CAST(:l_pid AS integer[]), CAST(:l_name AS text[]),
        CAST(:l_sku AS text[]), CAST(:l_price AS bigint[]), CAST(:l_ordered AS integer[]),
        CAST(:l_qty AS integer[]), CAST(:l_total AS bigint[]), CAST(:l_extra AS text[]))
        WITH ORDINALITY AS v(id, pid, name, sku, price, ordered, qty, total, extra, n), held
    ORDER BY v.n
), charged AS (
    UPDATE customers AS c SET balance = c.balance - v.amt, updated = :processed
    FROM unnest(CAST(:cid AS integer[]), CAST(:amt AS bigint[])) AS v(cid, amt), held
    WHERE c.id = v.cid AND c.id = ANY(CAST(:cid AS integer[]))
), entries AS (
    INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id, reason,
        actor)
    SELECT v.cid, :processed, v.kind, v.amount, v.after, v.oid, v.reason, :actor
    FROM unnest(CAST(:lg_cid AS integer[]), CAST(:lg_kind AS text[]), CAST(:lg_amount AS bigint[]),
        CAST(:lg_after AS bigint[]), CAST(:lg_oid AS integer[]), CAST(:lg_reason AS text[]))
        WITH ORDINALITY AS v(cid, kind, amount, after, oid, reason, n), held
    ORDER BY v.n
), paid AS (
    INSERT INTO payments (order_id, at, amount, credited, method, reference, actor)
    SELECT v.oid, :processed, v.amount, v.credited, v.method, v.reference, :actor
    FROM unnest(CAST(:p_oid AS integer[]), CAST(:p_amount AS bigint[]),
        CAST(:p_credited AS bigint[]), CAST(:p_method AS text[]), CAST(:p_reference AS text[]))
        WITH ORDINALITY AS v(oid, amount, credited, method, reference, n), held
    ORDER BY v.n
), timeline AS (
    INSERT INTO order_events (order_id, at, kind, actor, visibility, detail)
    SELECT v.oid, v.at, v.kind, :actor, :visibility, CAST(v.detail AS jsonb)
    FROM unnest(CAST(:e_oid AS integer[]), CAST(:e_at AS timestamptz[]), CAST(:e_kind AS text[]),
        CAST(:e_detail AS text[])) WITH ORDINALITY AS v(oid, at, kind, detail, n), held
    ORDER BY v.n
), audited AS (
    INSERT INTO audit_log (at, actor, user_id, token_id, action, entity, entity_id, detail)
    SELECT v.at, :actor, CAST(:uid AS integer), CAST(:tid AS integer), v.action, :entity,
        v.oid, CAST(v.detail AS jsonb)
    FROM unnest(CAST(:a_oid AS integer[]), CAST(:a_at AS timestamptz[]),
        CAST(:a_action AS text[]), CAST(:a_detail AS text[]))
        WITH ORDINALITY AS v(oid, at, action, detail, n), held
    ORDER BY v.n
), announced AS (
    INSERT INTO outbox_events (type, order_id, product_id, data, created)
    SELECT v.type, v.oid, v.pid, CAST(v.data AS jsonb), v.at
    FROM unnest(CAST(:o_type AS text[]), CAST(:o_oid AS integer[]), CAST(:o_pid AS integer[]),
        CAST(:o_data AS text[]), CAST(:o_at AS timestamptz[]))
        WITH ORDINALITY AS v(type, oid, pid, data, at, n), held
    ORDER BY v.n
)
SELECT count(*) AS written FROM held
"""
)


def write_at_commit(
    session: Session,
    place: PlacePlan,
    process: ProcessPlan,
    *,
    order_id: int,
    line_ids: Sequence[int],
    balance: int,
    guards: Sequence[StockGuard],
    done: Callable[[str | None], None],
) -> None:
    """Queue the order's every row, placed and processed, and its number, to go with the
    commit. ``done`` gets the order's number once committed, or ``None`` when the
    read no longer held and nothing was written."""
    (order,) = process.orders
    adjusted = {line.line_id: line for line in process.line_adjustments}
    snapshot = place.snapshot or {}
    lines = list(zip(line_ids, place.lines, strict=True))
    placed_total = sum(snapshot[line.product_id].price * line.quantity for line in place.lines)
    created = {"customer_id": place.customer_id, "total": placed_total}
    journal = process.journal
    actor = process.actor
    params: dict[str, Any] = {
        "customer_id": place.customer_id,
        "balance": balance,
        "g_pid": [guard.product_id for guard in guards],
        "g_least": [guard.least for guard in guards],
        "g_name": [guard.name for guard in guards],
        "g_sku": [guard.sku for guard in guards],
        "g_price": [guard.price for guard in guards],
        "products": len(guards),
        "order_id": order_id,
        "placeholder": place.placeholder,
        "status": order.status.value,
        "strat": process.strategy.value,
        "flw": process.flow.value,
        "created": place.now,
        "processed": process.now,
        "currency": place.currency,
        "shipping_address": place.shipping_address,
        "note": place.note,
        "extra": json.dumps(place.extra),
        "total": order.total,
        "paid": order.paid,
        "l_id": [line_id for line_id, _ in lines],
        "l_pid": [line.product_id for _, line in lines],
        "l_name": [snapshot[line.product_id].name for _, line in lines],
        "l_sku": [snapshot[line.product_id].sku for _, line in lines],
        "l_price": [snapshot[line.product_id].price for _, line in lines],
        "l_ordered": [line.quantity for _, line in lines],
        "l_qty": [
            adjusted[line_id].quantity if line_id in adjusted else line.quantity
            for line_id, line in lines
        ],
        "l_total": [
            adjusted[line_id].line_total
            if line_id in adjusted
            else snapshot[line.product_id].price * line.quantity
            for line_id, line in lines
        ],
        "l_extra": [None if line.extra is None else json.dumps(line.extra) for _, line in lines],
        **stock_and_money_params(process),
        "actor": actor.label,
        "uid": actor.user_id,
        "tid": actor.token_id,
        "visibility": Visibility.CUSTOMER.value,
        "e_oid": [order_id] + [event.order_id for event in journal.events],
        "e_at": [place.now] + [process.now] * len(journal.events),
        "e_kind": [CREATED] + [event.kind for event in journal.events],
        "e_detail": [json.dumps(created)] + [json.dumps(event.detail) for event in journal.events],
        "entity": ENTITY,
        "a_oid": [order_id] + [entry.order_id for entry in journal.audits],
        "a_at": [place.now] + [process.now] * len(journal.audits),
        "a_action": [ORDER_CREATED] + [journal.action] * len(journal.audits),
        "a_detail": [json.dumps(created)] + [json.dumps(entry.detail) for entry in journal.audits],
        "o_type": [EventType.ORDER_CREATED.value] + [row.type for row in journal.outbox],
        "o_oid": [order_id] + [row.order_id for row in journal.outbox],
        "o_pid": [None] + [row.product_id for row in journal.outbox],
        "o_data": [json.dumps(created)] + [json.dumps(row.data) for row in journal.outbox],
        "o_at": [place.now] + [process.now] * len(journal.outbox),
    }

    def numbered(_session: Session, rows: Sequence[Any]) -> None:
        done(rows[0].number if rows else None)

    final_writes.at_commit(session, _WRITE, params, lambda _session, _rows: None)
    number_placed_at_commit(session, place, numbered)
