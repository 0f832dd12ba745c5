"""Orders: placing, reading, listing, deleting and processing them.

Placing and processing are hot paths, written as a handful of Core statements
with a fixed lock order (order, customer, then products by id) so concurrent
work neither deadlocks nor oversells.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from ordermill.domain.orders import (
    OrderStatus,
    find_shortages,
    format_order_number,
    insufficient_stock,
    parse_order_number,
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
from ordermill.services.pagination import Page, decode_time_id_cursor, encode_cursor
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


@dataclass(slots=True)
class LineView:
    id: int
    product_id: int | None
    name: str
    sku: str
    unit_price: int
    quantity_ordered: int
    quantity: int
    line_total: int
    quantity_returned: int = 0
    quantity_restocked: int = 0
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class OrderView:
    id: int
    number: str
    customer_id: int
    status: str
    strategy: str | None
    created: datetime
    processed: datetime | None
    currency: str
    shipping_address: str | None
    note: str | None
    extra: dict[str, Any]
    total: int
    payment_flow: str | None = None
    paid: int = 0
    refunded: int = 0
    fulfilled: datetime | None = None
    delivered: datetime | None = None
    cancelled: datetime | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    cancel_reason: str | None = None
    lines: list[LineView] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """How messages name the order: its number, or its id while it is being created
        (the number is given last, see ``assign_number``)."""
        return str(self.id) if self.number.startswith("~") else self.number

    @property
    def expects_payment(self) -> bool:
        """Whether money is owed for the order: it was processed and not cancelled."""
        return self.status not in (OrderStatus.PENDING, OrderStatus.CANCELLED)

    @property
    def balance_due(self) -> int:
        return max(self.total - self.paid, 0) if self.expects_payment else 0

    @property
    def is_fully_paid(self) -> bool:
        return self.expects_payment and self.paid >= self.total


@dataclass(frozen=True, slots=True)
class ItemRequest:
    product_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderFilters:
    status: str | None = None
    customer_id: int | None = None
    processed: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


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


def _catalog_rows(session: Session, customer_id: int, product_ids: Sequence[int]) -> dict[int, Any]:
    """Customer check and product snapshot in one round trip."""
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


def _check_catalog(wanted: Mapping[int, int], catalog: Mapping[int, Any]) -> None:
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


def _insert_order(
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
        _check_catalog(wanted, _catalog_rows(session, customer_id, list(wanted)))
        raise _catalog_changed()
    catalog = _catalog_rows(session, customer_id, list(wanted))
    _check_catalog(wanted, catalog)
    if require_stock:
        shortages = find_shortages(wanted, {pid: row.stock for pid, row in catalog.items()})
        if shortages:
            raise insufficient_stock(shortages)
    view = _insert_order(
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


# ---------------------------------------------------------------- reading


def _order_columns() -> list[Any]:
    return [
        orders.c.id,
        orders.c.number,
        orders.c.customer_id,
        orders.c.status,
        orders.c.strategy,
        orders.c.created,
        orders.c.processed,
        orders.c.currency,
        orders.c.shipping_address,
        orders.c.note,
        orders.c.extra,
        orders.c.total,
        orders.c.payment_flow,
        orders.c.paid,
        orders.c.refunded,
        orders.c.fulfilled,
        orders.c.delivered,
        orders.c.cancelled,
        orders.c.carrier,
        orders.c.tracking_number,
        orders.c.cancel_reason,
    ]


def _line_columns() -> list[Any]:
    return [
        order_lines.c.id,
        order_lines.c.order_id,
        order_lines.c.product_id,
        order_lines.c.product_name,
        order_lines.c.sku,
        order_lines.c.unit_price,
        order_lines.c.quantity_ordered,
        order_lines.c.quantity,
        order_lines.c.line_total,
        order_lines.c.quantity_returned,
        order_lines.c.quantity_restocked,
        order_lines.c.extra,
    ]


def _order_view(row: Any) -> OrderView:
    return OrderView(
        id=row.id,
        number=row.number,
        customer_id=row.customer_id,
        status=row.status,
        strategy=row.strategy,
        created=row.created,
        processed=row.processed,
        currency=row.currency,
        shipping_address=row.shipping_address,
        note=row.note,
        extra=row.extra or {},
        total=row.total,
        payment_flow=row.payment_flow,
        paid=row.paid,
        refunded=row.refunded,
        fulfilled=row.fulfilled,
        delivered=row.delivered,
        cancelled=row.cancelled,
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        cancel_reason=row.cancel_reason,
    )


def _line_view(row: Any) -> LineView:
    return LineView(
        id=row.id,
        product_id=row.product_id,
        name=row.product_name,
        sku=row.sku,
        unit_price=row.unit_price,
        quantity_ordered=row.quantity_ordered,
        quantity=row.quantity,
        line_total=row.line_total,
        quantity_returned=row.quantity_returned,
        quantity_restocked=row.quantity_restocked,
        extra=row.extra,
    )


def _attach_lines(session: Session, views: list[OrderView]) -> list[OrderView]:
    """Load every line of ``views`` in one statement (no query per order)."""
    if not views:
        return views
    by_id = {view.id: view for view in views}
    rows = session.execute(
        select(*_line_columns())
        .where(order_lines.c.order_id.in_(list(by_id)))
        .order_by(order_lines.c.order_id, order_lines.c.id)
    )
    for row in rows:
        by_id[row.order_id].lines.append(_line_view(row))
    return views


def get_order(session: Session, order_id: int) -> OrderView:
    """One order with its lines."""
    row = session.execute(select(*_order_columns()).where(orders.c.id == order_id)).one_or_none()
    if row is None:
        raise order_not_found(order_id)
    return _attach_lines(session, [_order_view(row)])[0]


def get_order_by_number(session: Session, number: str) -> OrderView:
    """One order by its number (``2026-00001``)."""
    year, sequence = parse_order_number(number)
    canonical = format_order_number(year, sequence)
    row = session.execute(
        select(*_order_columns()).where(orders.c.number == canonical)
    ).one_or_none()
    if row is None:
        raise order_not_found(canonical)
    return _attach_lines(session, [_order_view(row)])[0]


def list_orders(
    session: Session, filters: OrderFilters, *, limit: int, cursor: str | None = None
) -> Page[OrderView]:
    """Orders newest first, with their lines, in two statements whatever the page size."""
    stmt = select(*_order_columns())
    if filters.status is not None:
        stmt = stmt.where(orders.c.status == filters.status)
    if filters.customer_id is not None:
        stmt = stmt.where(orders.c.customer_id == filters.customer_id)
    if filters.processed is True:
        stmt = stmt.where(orders.c.processed.is_not(None))
    elif filters.processed is False:
        stmt = stmt.where(orders.c.processed.is_(None))
    if filters.created_from is not None:
        stmt = stmt.where(orders.c.created >= filters.created_from)
    if filters.created_to is not None:
        stmt = stmt.where(orders.c.created < filters.created_to)
    if cursor is not None:
        created, last_id = decode_time_id_cursor(cursor)
        stmt = stmt.where(
            or_(
                orders.c.created < created,
                and_(orders.c.created == created, orders.c.id < last_id),
            )
        )
    stmt = stmt.order_by(orders.c.created.desc(), orders.c.id.desc()).limit(limit + 1)
    views = [_order_view(row) for row in session.execute(stmt)]
    next_cursor = None
    if len(views) > limit:
        views = views[:limit]
        last = views[-1]
        next_cursor = encode_cursor(last.created.isoformat(), last.id)
    return Page(_attach_lines(session, views), next_cursor)


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
