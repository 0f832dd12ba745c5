"""Orders listed in the order staff choose: newest or oldest first, or by total.

Each sort pages with a keyset cursor of its own (the sort key and the id of the
previous page's last order) and reads along an index, so a page costs the same on
the first and the ten-thousandth page of 1,000,000 orders:

* newest first: ``order_views.list_orders`` (``ix_orders_created_id``, or
  ``ix_orders_status_created`` / ``ix_orders_customer_created`` with those filters);
* oldest first: the same indexes read forwards;
* total, high or low: ``ix_orders_total_id``, or ``ix_orders_status_total`` with a
  status filter (a customer's orders are few: their index, then a sort).

A cursor names its sort, so one made for another sort is refused as invalid.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ordermill.errors import Code, InvalidInput
from ordermill.services import order_views
from ordermill.services.catalog import normalize_email
from ordermill.services.order_views import (
    OrderFilters,
    OrderView,
    attach_lines,
    filter_orders,
    order_columns,
    order_view,
)
from ordermill.services.pagination import MAX_ID, Page, decode_cursor, encode_cursor
from ordermill.services.tables import customers, orders

# No total can be larger (domain.money.MAX_AMOUNT_MINOR times the most lines), and
# none is negative (a check constraint): a cursor outside is forged.
_MAX_TOTAL = 2**63 - 1


class OrderSort(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    TOTAL_HIGH = "total_high"
    TOTAL_LOW = "total_low"


def _invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "cursor is not valid for this sort; start again from the first page",
        code=Code.INVALID_CURSOR,
        field="cursor",
    )


def _decode(cursor: str, sort: OrderSort) -> tuple[Any, int]:
    """The (sort key, id) of the previous page's last order, from a cursor of ``sort``."""
    try:
        name, key, last_id = decode_cursor(cursor, 3)
    except InvalidInput:
        raise _invalid_cursor() from None
    if name != sort.value:
        raise _invalid_cursor()
    if isinstance(last_id, bool) or not isinstance(last_id, int) or not 0 < last_id <= MAX_ID:
        raise _invalid_cursor()
    if sort is OrderSort.OLDEST:
        if not isinstance(key, str):
            raise _invalid_cursor()
        try:
            moment = datetime.fromisoformat(key)
        except ValueError:
            raise _invalid_cursor() from None
        if moment.tzinfo is None:
            raise _invalid_cursor()
        return moment, last_id
    if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key <= _MAX_TOTAL:
        raise _invalid_cursor()
    return key, last_id


def list_orders(
    session: Session,
    filters: OrderFilters,
    *,
    sort: OrderSort = OrderSort.NEWEST,
    limit: int,
    cursor: str | None = None,
) -> Page[OrderView]:
    """Orders in ``sort`` order, with their lines, in two statements whatever the page size."""
    if sort is OrderSort.NEWEST:
        return order_views.list_orders(session, filters, limit=limit, cursor=cursor)
    key = orders.c.created if sort is OrderSort.OLDEST else orders.c.total
    descending = sort is OrderSort.TOTAL_HIGH
    stmt = filter_orders(select(*order_columns()), filters)
    if cursor is not None:
        value, last_id = _decode(cursor, sort)
        # The first bound alone is what an index range scan starts from; the
        # second skips the rows of the same key already shown.
        if descending:
            stmt = stmt.where(and_(key <= value, or_(key < value, orders.c.id < last_id)))
        else:
            stmt = stmt.where(and_(key >= value, or_(key > value, orders.c.id > last_id)))
    if descending:
        stmt = stmt.order_by(key.desc(), orders.c.id.desc())
    else:
        stmt = stmt.order_by(key.asc(), orders.c.id.asc())
    views = [order_view(row) for row in session.execute(stmt.limit(limit + 1))]
    next_cursor = None
    if len(views) > limit:
        views = views[:limit]
        last = views[-1]
        mark = last.created.isoformat() if sort is OrderSort.OLDEST else last.total
        next_cursor = encode_cursor(sort.value, mark, last.id)
    return Page(attach_lines(session, views), next_cursor)


# ---------------------------------------------------------------- who the orders are for


def customer_names(session: Session, customer_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(name, email) of each customer, by id, in one statement."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(customers.c.id, customers.c.name, customers.c.email).where(customers.c.id.in_(ids))
    )
    return {int(row.id): (row.name, row.email) for row in rows}


def customer_id_by_email(session: Session, email: str) -> int | None:
    """The id of the customer with this email (any case), or None."""
    found = session.execute(
        select(customers.c.id).where(customers.c.email == normalize_email(email))
    ).scalar_one_or_none()
    return int(found) if found is not None else None
