"""Orders: placing them, numbering them, deleting them, counting them.

Placing is a hot path: a few Core statements on SQLite, one statement on
PostgreSQL, and the number last (its counter row stays locked until commit).
Reading orders is ``order_views``; changing their status is ``workflow`` and
``processing``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ordermill.domain.orders import (
    OrderStatus,
    find_shortages,
    insufficient_stock,
)
from ordermill.errors import (
    Code,
    Conflict,
    customer_not_found,
    order_not_found,
)
from ordermill.models import utcnow
from ordermill.services import audit
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.order_items import (
    ItemRequest,
    check_catalog,
    merge_items,
    read_catalog,
)
from ordermill.services.order_views import OrderView
from ordermill.services.plans import PlacedToProcess, PlaceLine, PlacePlan, ProductSnapshot
from ordermill.services.tables import (
    customers,
    orders,
)
from ordermill.services.writers import postgres as postgres_writer
from ordermill.services.writers import writer_for

# ---------------------------------------------------------------- placing


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
    plan = place_plan(
        customer_id=customer_id,
        wanted=wanted,
        line_extra=line_extra,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=extra,
        now=now,
        actor=actor,
        snapshot=snapshot_of(wanted, catalog),
    )
    placed = writer_for(session).place(session, plan)
    if placed is None:  # a product left the catalog since the caller read it
        raise _catalog_changed()
    return placed


def insert_order_to_process(
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
) -> PlacedToProcess:
    """``insert_order`` for an order the caller processes next in the same transaction
    (``processing.process_placed``), with its customer and products locked and read for
    it: on PostgreSQL by the one statement that places it, on SQLite by the caller's
    ``read_catalog`` (the transaction holds the database's write lock)."""
    plan = place_plan(
        customer_id=customer_id, wanted=wanted, line_extra=line_extra, currency=currency,
        shipping_address=shipping_address, note=note, extra=extra, now=now, actor=actor,
        snapshot=snapshot_of(wanted, catalog),
    )  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        placed = postgres_writer.place_to_process(session, plan)
    else:
        view = writer_for(session).place(session, plan)
        placed = None if view is None else _as_read(view, catalog)
    if placed is None:  # a product left the catalog since the caller read it
        raise _catalog_changed()
    return placed


def snapshot_of(
    wanted: Mapping[int, int], catalog: Mapping[int, Any]
) -> dict[int, ProductSnapshot]:
    """What each wanted product's line copies, from catalog rows as read."""
    return {
        pid: ProductSnapshot(catalog[pid].name, catalog[pid].sku, catalog[pid].price)
        for pid in wanted
    }


def _as_read(view: OrderView, catalog: Mapping[int, Any]) -> PlacedToProcess:
    """An order placed from ``read_catalog``'s rows, with what they say of its customer
    and products."""
    return PlacedToProcess(
        view,
        int(next(iter(catalog.values())).balance),
        {pid: row.stock for pid, row in catalog.items()},
        {pid: row.low_stock_threshold for pid, row in catalog.items()},
    )


def place_plan(
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
    """The plan of a new order for ``wanted`` (product id -> quantity), before its number."""
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


def _nothing_placed(session: Session, customer_id: int, wanted: Mapping[int, int]) -> NoReturn:
    """Placing wrote nothing (PostgreSQL's one statement): say exactly what is missing or
    no longer sold."""
    check_catalog(wanted, read_catalog(session, customer_id, list(wanted)))
    raise _catalog_changed()


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
        plan = place_plan(
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
        _nothing_placed(session, customer_id, wanted)
    view, _catalog = _place_checked(
        session, customer_id=customer_id, wanted=wanted, currency=currency,
        shipping_address=shipping_address, note=note, extra=extra, require_stock=require_stock,
        now=now, actor=actor,
    )  # fmt: skip
    return assign_number(session, view) if numbered else view


def _place_checked(
    session: Session,
    *,
    customer_id: int,
    wanted: Mapping[int, int],
    currency: str,
    shipping_address: str | None,
    note: str | None,
    extra: dict[str, Any] | None,
    require_stock: bool,
    now: datetime,
    actor: Actor,
) -> tuple[OrderView, dict[int, Any]]:
    """Read and check the catalog, then write the order (unnumbered) from it; the order
    and the catalog as read."""
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
    return view, catalog


def place_order_to_process(
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
) -> PlacedToProcess:
    """``place_order`` (unnumbered) for an order the caller processes next in the same
    transaction (``processing.process_placed``): with its customer and products locked
    and read for it, so processing reads nothing again.

    On PostgreSQL one statement locks and places; on SQLite the transaction holds the
    database's write lock, so the catalog as read before placing is as good as locked.
    """
    wanted = merge_items(items)
    now = (now or utcnow()).astimezone(UTC)
    if session.get_bind().dialect.name == "postgresql":
        plan = place_plan(
            customer_id=customer_id, wanted=wanted, line_extra=None, currency=currency,
            shipping_address=shipping_address, note=note, extra=extra, now=now, actor=actor,
        )  # fmt: skip
        placed = postgres_writer.place_to_process(session, plan)
        if placed is None:
            _nothing_placed(session, customer_id, wanted)
        return placed
    view, catalog = _place_checked(
        session, customer_id=customer_id, wanted=wanted, currency=currency,
        shipping_address=shipping_address, note=note, extra=extra, require_stock=False,
        now=now, actor=actor,
    )  # fmt: skip
    return _as_read(view, catalog)


class PendingOrder:
    """An order placed with its unit of work's commit (``place_order_at_commit``)."""

    def __init__(self, customer_id: int, wanted: Mapping[int, int]) -> None:
        self._view: OrderView | None = None
        self.customer_id = customer_id
        self.wanted = wanted
        self.refused = False  # nothing was written: see ``explain``

    @property
    def view(self) -> OrderView:
        """The numbered order, once the unit of work has committed."""
        if self._view is None:
            raise RuntimeError("an order placed at commit is known once the commit is done")
        return self._view

    def explain(self, session: Session) -> NoReturn:
        """Why nothing was placed: a product or the customer unknown or withdrawn."""
        _nothing_placed(session, self.customer_id, self.wanted)


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
    if session.get_bind().dialect.name != "postgresql":
        pending = PendingOrder(customer_id, {})
        pending._view = place_order(
            session, customer_id=customer_id, items=items, currency=currency,
            shipping_address=shipping_address, note=note, extra=extra, now=now, actor=actor,
        )  # fmt: skip
        return pending
    return place_order_last_writes(
        session, customer_id=customer_id, items=items, currency=currency,
        shipping_address=shipping_address, note=note, extra=extra, now=now, actor=actor,
        explain=True,
    )  # fmt: skip


def place_order_last_writes(
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
    explain: bool = False,
) -> PendingOrder:
    """``place_order_at_commit`` on PostgreSQL, reading nothing (``Database.last_writes``
    runs it from the event loop): when nothing is written, ``.refused`` is set after the
    commit, and ``.explain`` with a session that reads raises the reason (at once, with
    ``explain``)."""
    wanted = merge_items(items)
    pending = PendingOrder(customer_id, wanted)
    plan = place_plan(
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
        if view is None:
            pending.refused = True
            if explain:
                pending.explain(session)
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
