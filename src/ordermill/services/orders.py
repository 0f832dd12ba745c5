"""Orders: placing them, numbering them, deleting them, counting them.

Placing is a hot path: a few Core statements on SQLite, one statement on
PostgreSQL, and the number last (its counter row stays locked until commit).
Reading orders is ``order_views``; changing their status is ``workflow`` and
``processing``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from ordermill.domain.orders import (
    OrderStatus,
    find_shortages,
    format_order_number,
    insufficient_stock,
)
from ordermill.errors import (
    Code,
    Conflict,
    InvalidInput,
    NotFound,
    customer_not_found,
    order_not_found,
)
from ordermill.models import utcnow
from ordermill.services import audit, timeline
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.order_views import LineView, OrderView
from ordermill.services.tables import (
    customers,
    order_counters,
    order_lines,
    orders,
    products,
    upsert,
)

MAX_LINES = 500
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True, slots=True)
class ItemRequest:
    product_id: int
    quantity: int


# ---------------------------------------------------------------- numbers


def allocate_order_numbers(session: Session, year: int, count: int = 1) -> int:
    """Reserve ``count`` consecutive sequence numbers in ``year``; return the first.

    One upsert: the counter row stays locked until the transaction ends, so
    concurrent orders get distinct numbers, and a rollback hands nothing out.
    """
    stmt = (
        upsert(session, order_counters)
        .values(year=year, last_value=count)
        .on_conflict_do_update(
            index_elements=[order_counters.c.year],
            set_={"last_value": order_counters.c.last_value + count},
        )
        .returning(order_counters.c.last_value)
    )
    last = session.execute(stmt).scalar_one()
    return int(last) - count + 1


# ---------------------------------------------------------------- placing


def merge_items(items: Iterable[ItemRequest]) -> dict[int, int]:
    """Sum the quantities asked for each product, validating them."""
    merged: dict[int, int] = {}
    for item in items:
        if item.quantity <= 0:
            raise InvalidInput("quantity must be at least 1", field="quantity")
        merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
        if merged[item.product_id] > MAX_QUANTITY:
            raise InvalidInput(f"quantity may not exceed {MAX_QUANTITY}", field="quantity")
    if not merged:
        raise InvalidInput("an order needs at least one item", field="items")
    if len(merged) > MAX_LINES:
        raise InvalidInput(f"an order may have at most {MAX_LINES} lines", field="items")
    return merged


def read_catalog(session: Session, customer_id: int, product_ids: Sequence[int]) -> dict[int, Any]:
    """The products' snapshot (name, SKU, price, stock, whether sold) by id, checking
    that the customer exists, in one round trip."""
    stmt = (
        select(
            customers.c.id.label("customer_id"),
            products.c.id,
            products.c.name,
            products.c.sku,
            products.c.price,
            products.c.stock,
            products.c.active,
        )
        .select_from(customers.outerjoin(products, products.c.id.in_(product_ids)))
        .where(customers.c.id == customer_id)
    )
    rows = session.execute(stmt).all()
    if not rows:
        raise customer_not_found(customer_id)
    return {row.id: row for row in rows if row.id is not None}


def check_catalog(wanted: Mapping[int, int], catalog: Mapping[int, Any]) -> None:
    """Refuse products that don't exist (404) or are no longer sold (409)."""
    missing = sorted(pid for pid in wanted if pid not in catalog)
    if missing:
        raise NotFound(
            f"Product(s) {', '.join(map(str, missing))} do not exist.",
            code=Code.PRODUCT_NOT_FOUND,
            product_ids=missing,
        )
    inactive = sorted(pid for pid in wanted if not catalog[pid].active)
    if inactive:
        raise Conflict(
            f"Product(s) no longer sold: {', '.join(map(str, inactive))}",
            code=Code.PRODUCT_INACTIVE,
            product_ids=inactive,
        )


def insert_order(
    session: Session,
    *,
    customer_id: int,
    wanted: Mapping[int, int],
    catalog: Mapping[int, Any],
    currency: str,
    shipping_address: str | None,
    note: str | None,
    extra: dict[str, Any] | None,
    now: datetime,
    actor: Actor,
    line_extra: Mapping[int, dict[str, Any]] | None = None,
) -> OrderView:
    """Write a pending order for ``wanted`` at the prices in ``catalog`` (read and checked
    by the caller), without its number: the caller gives it with ``assign_number``."""
    if session.get_bind().dialect.name == "postgresql":
        placed = _place_pg(
            session,
            customer_id=customer_id,
            wanted=wanted,
            line_extra=line_extra,
            currency=currency,
            shipping_address=shipping_address,
            note=note,
            extra=extra,
            now=now,
            actor=actor,
        )
        if placed is None:  # a product left the catalog since the caller read it
            raise _catalog_changed()
        return placed
    # SQLite: one Core statement each. The number comes last (``assign_number``): its
    # counter row stays locked until the transaction ends, and every new order waits
    # for it. Until then the row holds a placeholder no other transaction can see.
    line_values = [
        {
            "product_id": pid,
            "product_name": catalog[pid].name,
            "sku": catalog[pid].sku,
            "unit_price": catalog[pid].price,
            "quantity_ordered": qty,
            "quantity": qty,
            "line_total": qty * catalog[pid].price,
            "extra": line_extra.get(pid) if line_extra else None,
        }
        for pid, qty in wanted.items()
    ]
    total = sum(v["line_total"] for v in line_values)
    number = f"~{secrets.token_hex(8)}"
    created = {"customer_id": customer_id, "total": total}
    order_id = session.execute(
        insert(orders)
        .values(
            number=number,
            customer_id=customer_id,
            status=OrderStatus.PENDING.value,
            created=now,
            currency=currency,
            shipping_address=shipping_address,
            note=note,
            extra=extra or {},
            total=total,
        )
        .returning(orders.c.id)
    ).scalar_one()
    audit.record(session, actor, "order.created", "order", order_id, created)
    timeline.record(session, order_id, "created", actor, created, now=now)
    for values in line_values:
        values["order_id"] = order_id
    line_ids = list(
        session.execute(
            insert(order_lines).returning(order_lines.c.id, sort_by_parameter_order=True),
            line_values,
        ).scalars()
    )
    return OrderView(
        id=order_id,
        number=number,
        customer_id=customer_id,
        status=OrderStatus.PENDING.value,
        strategy=None,
        created=now,
        processed=None,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=extra or {},
        total=total,
        lines=[
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


# On PostgreSQL placing an order is one statement of data-modifying CTEs: read the
# products' snapshot (only those still sold, only for a customer who exists), insert the
# order with its total, its lines, its audit entry and its "created" event. When a
# product or the customer is missing nothing is written and no row comes back. The
# number is not taken here: the counter's lock would be held through all these inserts
# (placing became serial when it was); ``assign_number`` takes it last.
_PLACE_PG = text(
    """
WITH wanted AS (
    SELECT v.pid, v.qty, v.extra, v.n
    FROM unnest(CAST(:pid AS integer[]), CAST(:qty AS integer[]), CAST(:line_extra AS text[]))
        WITH ORDINALITY AS v(pid, qty, extra, n)
), snapshot AS (
    SELECT p.id, p.name, p.sku, p.price, w.qty, w.extra, w.n, p.price * w.qty AS line_total
    FROM wanted w JOIN products p ON p.id = w.pid AND p.active
    WHERE p.id = ANY(CAST(:pid AS integer[]))  -- an index scan even in a generic plan
), complete AS (
    SELECT coalesce(sum(line_total), 0) AS total FROM snapshot
    HAVING count(*) = :lines AND EXISTS (SELECT 1 FROM customers WHERE id = :customer_id)
), new_order AS (
    INSERT INTO orders (number, customer_id, status, created, currency, shipping_address,
        note, extra, total, paid, refunded)
    SELECT :placeholder, :customer_id, 'pending', :now, :currency, :shipping_address, :note,
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
    SELECT :now, :actor, CAST(:uid AS integer), CAST(:tid AS integer), 'order.created',
        'order', new_order.id,
        jsonb_build_object('customer_id', CAST(:customer_id AS integer), 'total', new_order.total)
    FROM new_order
), created AS (
    INSERT INTO order_events (order_id, at, kind, actor, visibility, detail)
    SELECT new_order.id, :now, 'created', :actor, 'customer',
        jsonb_build_object('customer_id', CAST(:customer_id AS integer), 'total', new_order.total)
    FROM new_order
)
SELECT new_order.id AS order_id, new_order.number, new_order.total, l.*
FROM new_order, new_lines l
ORDER BY l.id
"""
)


def _place_pg(
    session: Session,
    *,
    customer_id: int,
    wanted: Mapping[int, int],
    line_extra: Mapping[int, dict[str, Any]] | None,
    currency: str,
    shipping_address: str | None,
    note: str | None,
    extra: dict[str, Any] | None,
    now: datetime,
    actor: Actor,
) -> OrderView | None:
    """Place an order in one statement (PostgreSQL); ``None`` when nothing was written
    because a product is unknown or no longer sold, or the customer doesn't exist."""
    rows = session.execute(
        _PLACE_PG,
        {
            "pid": list(wanted),
            "qty": list(wanted.values()),
            "line_extra": [
                json.dumps(line_extra[pid]) if line_extra and pid in line_extra else None
                for pid in wanted
            ],
            "lines": len(wanted),
            "customer_id": customer_id,
            "placeholder": f"~{secrets.token_hex(8)}",  # until assign_number
            "now": now,
            "currency": currency,
            "shipping_address": shipping_address,
            "note": note,
            "extra": json.dumps(extra or {}),
            "actor": actor.label,
            "uid": actor.user_id,
            "tid": actor.token_id,
        },
    ).all()
    if not rows:
        return None
    head = rows[0]
    return OrderView(
        id=head.order_id,
        number=head.number,
        customer_id=customer_id,
        status=OrderStatus.PENDING.value,
        strategy=None,
        created=now,
        processed=None,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=extra or {},
        total=head.total,
        lines=[
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


def _catalog_changed() -> Conflict:
    return Conflict(
        "A product was removed from the catalog while the order was placed; try again.",
        code=Code.CATALOG_CHANGED,
    )


def assign_number(session: Session, view: OrderView) -> OrderView:
    """Give a new order its number, as the last write of the transaction creating it.

    The year's counter row is locked from here to the commit, so orders created at
    the same moment get consecutive numbers, and a rollback hands its number back.
    """
    year = view.created.year
    if session.get_bind().dialect.name == "postgresql":
        view.number = session.execute(_NUMBER_PG, {"year": year, "id": view.id}).scalar_one()
        return view
    number = format_order_number(year, allocate_order_numbers(session, year))
    session.execute(update(orders).where(orders.c.id == view.id).values(number=number))
    view.number = number
    return view


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


def place_order(
    session: Session,
    *,
    customer_id: int,
    items: Iterable[ItemRequest],
    currency: str,
    shipping_address: str | None = None,
    note: str | None = None,
    extra: dict[str, Any] | None = None,
    require_stock: bool = False,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
    numbered: bool = True,
) -> OrderView:
    """Create a pending order with a snapshot of each product's name, SKU and price.

    Stock is taken when the order is processed; with ``require_stock`` an order
    asking for more than the shelves hold is refused up front (checkout). With
    ``numbered=False`` the caller does more work first and then calls
    ``assign_number`` last, before its transaction commits.
    """
    wanted = merge_items(items)
    now = (now or utcnow()).astimezone(UTC)
    if not require_stock and session.get_bind().dialect.name == "postgresql":
        placed = _place_pg(
            session,
            customer_id=customer_id,
            wanted=wanted,
            line_extra=None,
            currency=currency,
            shipping_address=shipping_address,
            note=note,
            extra=extra,
            now=now,
            actor=actor,
        )
        if placed is not None:
            return assign_number(session, placed) if numbered else placed
        # Nothing was written: say exactly what is missing or no longer sold.
        check_catalog(wanted, read_catalog(session, customer_id, list(wanted)))
        raise _catalog_changed()
    catalog = read_catalog(session, customer_id, list(wanted))
    check_catalog(wanted, catalog)
    if require_stock:
        shortages = find_shortages(wanted, {pid: row.stock for pid, row in catalog.items()})
        if shortages:
            raise insufficient_stock(shortages)
    view = insert_order(
        session,
        customer_id=customer_id,
        wanted=wanted,
        catalog=catalog,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=extra,
        now=now,
        actor=actor,
    )
    return assign_number(session, view) if numbered else view


def ensure_customer_exists(session: Session, customer_id: int) -> None:
    found = session.execute(
        select(customers.c.id).where(customers.c.id == customer_id)
    ).scalar_one_or_none()
    if found is None:
        raise customer_not_found(customer_id)


# ---------------------------------------------------------------- deleting


def delete_order(session: Session, order_id: int, *, actor: Actor = SYSTEM) -> None:
    """Delete a pending order; a processed order is kept for the books (409)."""
    deleted = session.execute(
        delete(orders)
        .where(orders.c.id == order_id, orders.c.status == OrderStatus.PENDING.value)
        .returning(orders.c.number)
    ).scalar_one_or_none()
    if deleted is not None:
        audit.record(session, actor, "order.deleted", "order", order_id, {"number": deleted})
        return
    status = session.execute(
        select(orders.c.status).where(orders.c.id == order_id)
    ).scalar_one_or_none()
    if status is None:
        raise order_not_found(order_id)
    raise Conflict(
        f"Order {order_id} is {status} and can't be deleted; processed orders are kept.",
        code=Code.ORDER_NOT_DELETABLE,
        status=status,
    )


def pending_order_ids(session: Session, *, after_id: int = 0, limit: int = 1000) -> list[int]:
    """Ids of pending orders, oldest first, for bulk processing in batches."""
    return list(
        session.execute(
            select(orders.c.id)
            .where(orders.c.status == OrderStatus.PENDING.value, orders.c.id > after_id)
            .order_by(orders.c.id)
            .limit(limit)
        ).scalars()
    )


def count_orders(session: Session, status: str | None = None) -> int:
    stmt = select(func.count()).select_from(orders)
    if status is not None:
        stmt = stmt.where(orders.c.status == status)
    return int(session.execute(stmt).scalar_one())
