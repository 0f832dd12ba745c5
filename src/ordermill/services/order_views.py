"""The order read model: how an order and its lines are read, shown and found.

Every service that reads orders goes through here: the columns, the mapping of
rows to ``OrderView`` and ``LineView``, loading orders with their lines by id
(locked, for a change), the filters that listing and exporting share, and
resolving what a person types ("42" or "2026-00042") to one order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, Table, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from ordermill.domain.orders import OrderStatus, format_order_number, parse_order_number
from ordermill.errors import InvalidInput, order_not_found
from ordermill.services.pagination import MAX_ID, Page, decode_time_id_cursor, encode_cursor
from ordermill.services.tables import customers, one_of, order_lines, orders


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
        (the number is given last, see ``orders.assign_number``)."""
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
class OrderFilters:
    """What listing and exporting orders may narrow by; ``None`` means any."""

    status: str | None = None
    customer_id: int | None = None
    processed: bool | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    order_id: int | None = None  # one order (a search by its number or id)


# ---------------------------------------------------------------- columns and rows


def order_columns() -> list[Any]:
    """Every column an ``OrderView`` is read from."""
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


def line_columns() -> list[Any]:
    """Every column a ``LineView`` is read from, with the line's ``order_id``."""
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


_ORDER_WIDTH = len(order_columns())


def order_view(row: Any) -> OrderView:
    """An order (without its lines) from a row that starts with ``order_columns``.

    By position, in ``order_columns``' order: a page of 50 orders with their lines spent
    a fifth of its reading in looking up columns by name."""
    (
        id_, number, customer_id, status, strategy, created, processed, currency,
        shipping_address, note, extra, total, payment_flow, paid, refunded, fulfilled,
        delivered, cancelled, carrier, tracking_number, cancel_reason,
    ) = row[:_ORDER_WIDTH]  # fmt: skip
    return OrderView(
        id=id_,
        number=number,
        customer_id=customer_id,
        status=status,
        strategy=strategy,
        created=created,
        processed=processed,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=extra or {},
        total=total,
        payment_flow=payment_flow,
        paid=paid,
        refunded=refunded,
        fulfilled=fulfilled,
        delivered=delivered,
        cancelled=cancelled,
        carrier=carrier,
        tracking_number=tracking_number,
        cancel_reason=cancel_reason,
    )


def line_view(row: Any) -> LineView:
    """A line from a row of ``line_columns``, by position (see ``order_view``)."""
    (
        id_, _order_id, product_id, name, sku, unit_price, quantity_ordered, quantity,
        line_total, quantity_returned, quantity_restocked, extra,
    ) = row  # fmt: skip
    return LineView(
        id=id_,
        product_id=product_id,
        name=name,
        sku=sku,
        unit_price=unit_price,
        quantity_ordered=quantity_ordered,
        quantity=quantity,
        line_total=line_total,
        quantity_returned=quantity_returned,
        quantity_restocked=quantity_restocked,
        extra=extra,
    )


def _prefixed_line_view(row: Any) -> LineView:
    """A line from a row that also holds its order: line columns named ``l_…``."""
    return LineView(
        id=row.l_id,
        product_id=row.l_product_id,
        name=row.l_product_name,
        sku=row.l_sku,
        unit_price=row.l_unit_price,
        quantity_ordered=row.l_quantity_ordered,
        quantity=row.l_quantity,
        line_total=row.l_line_total,
        quantity_returned=row.l_quantity_returned,
        quantity_restocked=row.l_quantity_restocked,
        extra=row.l_extra,
    )


def attach_lines(session: Session, views: list[OrderView]) -> list[OrderView]:
    """Load every line of ``views`` in one statement (no query per order)."""
    if not views:
        return views
    by_id = {view.id: view for view in views}
    lines = _lines_of(session.get_bind().dialect.name)
    for row in session.execute(lines, {"order_ids": list(by_id)}).all():
        by_id[row[1]].lines.append(line_view(row))
    return views


@functools.cache
def _lines_of(dialect: str) -> Select[Any]:
    """The lines of the orders in ``:order_ids``, in ``line_columns``' order; built once
    per database (see ``_with_lines``)."""
    return (
        select(*line_columns())
        .where(one_of(dialect, order_lines.c.order_id, "order_ids"))
        .order_by(order_lines.c.order_id, order_lines.c.id)
    )


# ---------------------------------------------------------------- loading by id


@functools.cache
def _with_lines(
    *, one: bool, balance: bool, lock: tuple[Table, ...] = (), dialect: str = ""
) -> Select[Any]:
    """Orders joined to their lines (and with ``balance`` their customers' balances) by
    id: ``:order_id`` when ``one``, else ``:order_ids`` (``one_of`` on ``dialect``); locking the
    tables in ``lock``. Built once per shape: building and hashing a statement of
    this many columns costs more than running it on SQLite."""
    prefixed = [column.label(f"l_{column.name}") for column in line_columns()]
    joined = orders.join(order_lines, order_lines.c.order_id == orders.c.id)
    extra: list[Any] = []
    if balance:
        joined = joined.join(customers, customers.c.id == orders.c.customer_id)
        extra = [customers.c.balance]
    stmt = (
        select(*order_columns(), *extra, *prefixed)
        .select_from(joined)
        .where(
            orders.c.id == bindparam("order_id")
            if one
            else one_of(dialect, orders.c.id, "order_ids")
        )
        .order_by(orders.c.id, order_lines.c.id)
    )
    if lock:
        stmt = stmt.with_for_update(of=list(lock), key_share=True)
    return stmt


def _group(rows: Iterable[Any]) -> dict[int, OrderView]:
    views: dict[int, OrderView] = {}
    for row in rows:
        view = views.get(row.id)
        if view is None:
            view = views[row.id] = order_view(row)
        view.lines.append(_prefixed_line_view(row))
    return views


def load_orders(
    session: Session, ids: Sequence[int], *, lock: bool = False
) -> dict[int, OrderView]:
    """Orders with their lines by id, in one statement; unknown ids are left out.

    With ``lock`` the orders and their lines are locked for a change (``FOR NO KEY
    UPDATE``, in id order): a statement that waited for the lock then reads the lines
    as the transaction before it left them (PostgreSQL re-reads only the rows it locks).
    """
    if not ids:
        return {}
    locked = (orders, order_lines) if lock else ()
    dialect = session.get_bind().dialect.name
    stmt = _with_lines(one=False, balance=False, lock=locked, dialect=dialect)
    return _group(session.execute(stmt, {"order_ids": list(ids)}))


def load_order_with_balance(
    session: Session, order_id: int, *, lock: bool = False, lock_customer: bool = False
) -> tuple[OrderView, int] | None:
    """One order with its lines and its customer's balance, in one statement (``None``
    when there is no such order); ``lock`` locks the order and its lines, and with
    ``lock_customer`` the customer too, in the lock order every writer uses."""
    locked: tuple[Table, ...] = ()
    if lock:
        locked = (orders, customers, order_lines) if lock_customer else (orders, order_lines)
    stmt = _with_lines(one=True, balance=True, lock=locked)
    rows = session.execute(stmt, {"order_id": order_id}).all()
    if not rows:
        return None
    return _group(rows)[order_id], int(rows[0].balance)


# ---------------------------------------------------------------- finding one order


def get_order(session: Session, order_id: int) -> OrderView:
    """One order with its lines."""
    row = session.execute(select(*order_columns()).where(orders.c.id == order_id)).one_or_none()
    if row is None:
        raise order_not_found(order_id)
    return attach_lines(session, [order_view(row)])[0]


def get_order_by_number(session: Session, number: str) -> OrderView:
    """One order by its number (``2026-00001``)."""
    year, sequence = parse_order_number(number)
    canonical = format_order_number(year, sequence)
    row = session.execute(
        select(*order_columns()).where(orders.c.number == canonical)
    ).one_or_none()
    if row is None:
        raise order_not_found(canonical)
    return attach_lines(session, [order_view(row)])[0]


def get_customer_order(session: Session, number: str, customer_id: int) -> OrderView:
    """One of the customer's own orders by its number, with its lines.

    Another customer's order is not found, in the same words as a number that no order
    has: what a customer sees never says whether someone else's order exists.
    """
    try:
        canonical = format_order_number(*parse_order_number(number))
    except InvalidInput:
        raise order_not_found(number.strip()[:40]) from None
    row = session.execute(
        select(*order_columns()).where(
            orders.c.number == canonical, orders.c.customer_id == customer_id
        )
    ).one_or_none()
    if row is None:
        raise order_not_found(canonical)
    return attach_lines(session, [order_view(row)])[0]


def last_shipping_address(session: Session, customer_id: int) -> str | None:
    """The shipping address of the customer's most recent order that gave one (``None``
    before their first), to offer it again at checkout."""
    found = session.execute(
        select(orders.c.shipping_address)
        .where(
            orders.c.customer_id == customer_id,
            orders.c.shipping_address.is_not(None),
            orders.c.shipping_address != "",
        )
        .order_by(orders.c.created.desc(), orders.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else str(found)


_ID = re.compile(r"[0-9]+")
_NUMBER_LIKE = re.compile(r"[0-9]{4}-[0-9]{5,}")


def parse_order_ref(ref: str) -> int | str:
    """An order id (``42``) or a canonical order number (``2026-00042``) from ``ref``."""
    text = ref.strip()
    if _ID.fullmatch(text):
        return int(text)
    if _NUMBER_LIKE.fullmatch(text):
        return format_order_number(*parse_order_number(text))
    raise InvalidInput(
        f"'{ref}' is neither an order id (digits, like 42) nor an order number (like 2026-00042)",
        field="order",
    )


def resolve_order(session: Session, ref: str) -> OrderView:
    """The order ``ref`` names: digits are its id, ``YYYY-NNNNN`` its number.

    Anything else is invalid input (400); an order that doesn't exist is
    ``order_not_found`` (404) in the same words for both forms.
    """
    key = parse_order_ref(ref)
    if isinstance(key, str):
        return get_order_by_number(session, key)
    if not 0 < key <= MAX_ID:  # no such id can exist; don't send it to the database
        raise order_not_found(key)
    return get_order(session, key)


def resolve_order_id(session: Session, ref: str) -> int:
    """The id of the order ``ref`` names (see ``resolve_order``), in one small lookup."""
    key = parse_order_ref(ref)
    if isinstance(key, int) and not 0 < key <= MAX_ID:
        raise order_not_found(key)
    column = orders.c.id if isinstance(key, int) else orders.c.number
    found = session.execute(select(orders.c.id).where(column == key)).scalar_one_or_none()
    if found is None:
        raise order_not_found(key)
    return int(found)


# ---------------------------------------------------------------- lists


def filter_orders(stmt: Select[Any], filters: OrderFilters) -> Select[Any]:
    """``stmt`` (over ``orders``) narrowed to the orders ``filters`` describe."""
    if filters.order_id is not None:
        stmt = stmt.where(orders.c.id == filters.order_id)
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
    return stmt


def list_orders(
    session: Session, filters: OrderFilters, *, limit: int, cursor: str | None = None
) -> Page[OrderView]:
    """Orders newest first, with their lines, in two statements whatever the page size."""
    values = {
        name: getattr(filters, name)
        for name in _BOUND_FILTERS
        if getattr(filters, name) is not None
    }
    stmt = _newest_page(frozenset(values), filters.processed, after=cursor is not None)
    if cursor is not None:
        values["after_created"], values["after_id"] = decode_time_id_cursor(cursor)
    rows = session.execute(stmt, {**values, "limit": limit + 1}).all()
    views = [order_view(row) for row in rows]
    next_cursor = None
    if len(views) > limit:
        views = views[:limit]
        last = views[-1]
        next_cursor = encode_cursor(last.created.isoformat(), last.id)
    return Page(attach_lines(session, views), next_cursor)


_BOUND_FILTERS = ("status", "customer_id", "created_from", "created_to", "order_id")


@functools.cache
def _newest_page(bound: frozenset[str], processed: bool | None, *, after: bool) -> Select[Any]:
    """The newest-first page for filters with values in ``bound`` (bound by those names)
    and ``processed``, after the cursor's ``:after_created``, ``:after_id`` if ``after``,
    ``:limit`` rows. Built once per shape: building and hashing it cost about a sixth of
    a page of 50 orders."""
    # The filters' own clauses (``filter_orders``), with parameters for values.
    bound_values: dict[str, Any] = {name: bindparam(name) for name in bound}
    template = OrderFilters(**bound_values, processed=processed)
    stmt = filter_orders(select(*order_columns()), template)
    if after:
        created: Any = bindparam("after_created")
        last_id: Any = bindparam("after_id")
        # ``created <= …`` alone is the bound an index range scan starts from (the
        # ``or_`` by itself is only a filter: deep pages would read every row before).
        stmt = stmt.where(
            orders.c.created <= created,
            or_(
                orders.c.created < created,
                and_(orders.c.created == created, orders.c.id < last_id),
            ),
        )
    order = stmt.order_by(orders.c.created.desc(), orders.c.id.desc())
    return order.limit(bindparam("limit", type_=Integer))
