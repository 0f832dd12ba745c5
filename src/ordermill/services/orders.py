"""Orders: placing them, numbering them, deleting them, counting them.

Placing is a hot path: a few Core statements on SQLite, one statement on
PostgreSQL, and the number last (its counter row stays locked until commit).
Reading orders is ``order_views``; changing their status is ``workflow`` and
``processing``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from ordermill.domain.orders import (
    OrderStatus,
    find_shortages,
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
from ordermill.services import audit
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.order_views import OrderView
from ordermill.services.plans import PlaceLine, PlacePlan, ProductSnapshot
from ordermill.services.tables import (
    customers,
    orders,
    products,
)
from ordermill.services.writers import postgres as postgres_writer
from ordermill.services.writers import writer_for

MAX_LINES = 500
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True, slots=True)
class ItemRequest:
    product_id: int
    quantity: int


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


_READ_CATALOG = (  # built once: building it per order cost more than running it
    select(
        customers.c.id.label("customer_id"),
        products.c.id,
        products.c.name,
        products.c.sku,
        products.c.price,
        products.c.stock,
        products.c.active,
    )
    .select_from(
        customers.outerjoin(products, products.c.id.in_(bindparam("product_ids", expanding=True)))
    )
    .where(customers.c.id == bindparam("customer_id"))
)


def read_catalog(session: Session, customer_id: int, product_ids: Sequence[int]) -> dict[int, Any]:
    """The products' snapshot (name, SKU, price, stock, whether sold) by id, checking
    that the customer exists, in one round trip."""
    rows = session.execute(
        _READ_CATALOG, {"customer_id": customer_id, "product_ids": list(product_ids)}
    ).all()
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
    plan = _plan(
        customer_id=customer_id,
        wanted=wanted,
        line_extra=line_extra,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=extra,
        now=now,
        actor=actor,
        snapshot={
            pid: ProductSnapshot(catalog[pid].name, catalog[pid].sku, catalog[pid].price)
            for pid in wanted
        },
    )
    placed = writer_for(session).place(session, plan)
    if placed is None:  # a product left the catalog since the caller read it
        raise _catalog_changed()
    return placed


def _plan(
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
    snapshot: Mapping[int, ProductSnapshot] | None = None,
) -> PlacePlan:
    return PlacePlan(
        now=now,
        actor=actor,
        customer_id=customer_id,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=extra or {},
        placeholder=f"~{secrets.token_hex(8)}",  # until assign_number
        lines=tuple(
            PlaceLine(pid, qty, line_extra.get(pid) if line_extra else None)
            for pid, qty in wanted.items()
        ),
        snapshot=snapshot,
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
    view.number = writer_for(session).assign_number(session, view.id, view.created.year)
    return view


def number_at_commit(session: Session, view: OrderView) -> None:
    """``assign_number`` sent with the commit of the caller's unit of work (one round trip
    with it on PostgreSQL); ``view.number`` is set once committed. The caller writes
    nothing after it."""
    if session.get_bind().dialect.name != "postgresql":
        assign_number(session, view)
        return

    def numbered(_session: Session, rows: Sequence[Any]) -> None:
        view.number = rows[0].number

    postgres_writer.number_at_commit(session, view.id, view.created.year, numbered)


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
        # One statement reads the catalog and writes the order (nothing when a product
        # or the customer is missing): no read before it.
        plan = _plan(
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
        placed = writer_for(session).place(session, plan)
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


class PendingOrder:
    """An order placed with its unit of work's commit (``place_order_at_commit``)."""

    def __init__(self) -> None:
        self._view: OrderView | None = None

    @property
    def view(self) -> OrderView:
        """The numbered order, once the unit of work has committed."""
        if self._view is None:
            raise RuntimeError("an order placed at commit is known once the commit is done")
        return self._view


def place_order_at_commit(
    session: Session,
    *,
    customer_id: int,
    items: Iterable[ItemRequest],
    currency: str,
    shipping_address: str | None = None,
    note: str | None = None,
    extra: dict[str, Any] | None = None,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> PendingOrder:
    """``place_order`` as the whole of the caller's unit of work, numbered: on PostgreSQL
    the order, its number and the commit go to the database in one round trip, so the
    year's counter is locked for no round trip to the client. The caller writes nothing
    after it and reads the order from ``.view`` after the commit; an unknown or withdrawn
    product or customer is raised by the commit then, with nothing written."""
    pending = PendingOrder()
    if session.get_bind().dialect.name != "postgresql":
        pending._view = place_order(
            session, customer_id=customer_id, items=items, currency=currency,
            shipping_address=shipping_address, note=note, extra=extra, now=now, actor=actor,
        )  # fmt: skip
        return pending
    wanted = merge_items(items)
    plan = _plan(
        customer_id=customer_id,
        wanted=wanted,
        line_extra=None,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=extra,
        now=(now or utcnow()).astimezone(UTC),
        actor=actor,
    )

    def done(session: Session, view: OrderView | None) -> None:
        if view is None:  # nothing was written: say exactly what is missing
            check_catalog(wanted, read_catalog(session, customer_id, list(wanted)))
            raise _catalog_changed()
        pending._view = view

    postgres_writer.place_at_commit(session, plan, done)
    return pending


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
