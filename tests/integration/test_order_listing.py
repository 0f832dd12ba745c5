"""Orders listed newest or oldest first, or by total high or low, a keyset page at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text, update

from ordermill.db import Database
from ordermill.errors import InvalidInput
from ordermill.services import order_listing
from ordermill.services.order_listing import OrderSort
from ordermill.services.order_views import OrderFilters
from ordermill.services.pagination import encode_cursor
from ordermill.services.tables import orders
from tests import factories

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# (minutes after T0, total in cents): ties on both keys, so the id decides.
SHAPES = [(0, 500), (5, 900), (5, 100), (10, 900), (20, 500), (20, 300), (30, 900)]


@pytest.fixture
def shop(database: Database) -> list[int]:
    """Seven pending orders with the created times and totals of SHAPES, by id."""
    buyer = factories.customer(database)
    pen = factories.product(database, price=1, stock=10_000)
    ids = [factories.order(database, buyer, (pen, 1)) for _ in SHAPES]
    with database.write() as session:
        for order_id, (minutes, total) in zip(ids, SHAPES, strict=True):
            session.execute(
                update(orders)
                .where(orders.c.id == order_id)
                .values(created=T0 + timedelta(minutes=minutes), total=total)
            )
    return ids


def every_page(database: Database, sort: OrderSort, filters: OrderFilters, limit: int) -> list[Any]:
    """The ids of every page, following the cursors, and how many pages there were."""
    seen: list[list[int]] = []
    cursor = None
    while True:
        with database.read() as session:
            page = order_listing.list_orders(
                session, filters, sort=sort, limit=limit, cursor=cursor
            )
        seen.append([view.id for view in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return seen


def expected(ids: list[int], sort: OrderSort) -> list[int]:
    rows = [(m, total, order_id) for order_id, (m, total) in zip(ids, SHAPES, strict=True)]
    if sort is OrderSort.NEWEST:
        rows.sort(key=lambda r: (r[0], r[2]), reverse=True)
    elif sort is OrderSort.OLDEST:
        rows.sort(key=lambda r: (r[0], r[2]))
    elif sort is OrderSort.TOTAL_HIGH:
        rows.sort(key=lambda r: (r[1], r[2]), reverse=True)
    else:
        rows.sort(key=lambda r: (r[1], r[2]))
    return [r[2] for r in rows]


@pytest.mark.parametrize("sort", list(OrderSort))
@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_every_sort_pages_through_all_orders_once_in_its_order_ties_broken_by_id(
    database: Database, shop: list[int], sort: OrderSort, limit: int
) -> None:
    pages = every_page(database, sort, OrderFilters(), limit)

    assert [order_id for page in pages for order_id in page] == expected(shop, sort)
    assert all(len(page) == limit for page in pages[:-1])


@pytest.mark.parametrize("sort", list(OrderSort))
def test_a_sort_keeps_the_filters(database: Database, shop: list[int], sort: OrderSort) -> None:
    with database.write() as session:
        session.execute(
            update(orders).where(orders.c.id.in_(shop[1::2])).values(status="cancelled")
        )
    filters = OrderFilters(status="pending", created_from=T0 + timedelta(minutes=5))

    pages = every_page(database, sort, filters, 1)

    wanted = [
        order_id
        for order_id in expected(shop, sort)
        if order_id not in shop[1::2] and order_id != shop[0]
    ]
    assert [order_id for page in pages for order_id in page] == wanted


def test_an_order_id_filter_finds_that_order_only(database: Database, shop: list[int]) -> None:
    with database.read() as session:
        page = order_listing.list_orders(
            session, OrderFilters(order_id=shop[3]), sort=OrderSort.TOTAL_HIGH, limit=10
        )

    assert [view.id for view in page.items] == [shop[3]]
    assert page.items[0].lines  # with its lines, like every list


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        (OrderSort.TOTAL_HIGH, encode_cursor("total_low", 500, 3)),  # another sort's cursor
        (OrderSort.OLDEST, encode_cursor(T0.isoformat(), 3)),  # newest first's cursor
        (OrderSort.NEWEST, encode_cursor("oldest", T0.isoformat(), 3)),
        (OrderSort.TOTAL_LOW, encode_cursor("total_low", "500", 3)),
        (OrderSort.TOTAL_LOW, encode_cursor("total_low", -1, 3)),
        (OrderSort.TOTAL_LOW, encode_cursor("total_low", True, 3)),
        (OrderSort.TOTAL_LOW, encode_cursor("total_low", 500, 0)),
        (OrderSort.OLDEST, encode_cursor("oldest", "2026-03-01T12:00:00", 3)),  # no zone
        (OrderSort.OLDEST, encode_cursor("oldest", "yesterday", 3)),
        (OrderSort.OLDEST, "!!not base64!!"),
    ],
)
def test_a_cursor_of_another_sort_or_tampered_with_is_invalid(
    database: Database, shop: list[int], sort: OrderSort, cursor: str
) -> None:
    with database.read() as session, pytest.raises(InvalidInput) as exc:
        order_listing.list_orders(session, OrderFilters(), sort=sort, limit=2, cursor=cursor)

    assert exc.value.code == "invalid_cursor"


def test_customers_are_named_and_found_by_email_in_any_case(database: Database) -> None:
    ann = factories.customer(database, name="Ann", email="ann@example.com")
    bob = factories.customer(database, name="Bob", email="bob@example.com")

    with database.read() as session:
        names = order_listing.customer_names(session, [bob, ann, bob])
        found = order_listing.customer_id_by_email(session, "  ANN@Example.com ")
        missing = order_listing.customer_id_by_email(session, "nobody@example.com")

    assert names == {ann: ("Ann", "ann@example.com"), bob: ("Bob", "bob@example.com")}
    assert (found, missing) == (ann, None)


# ---------------------------------------------------------------- read along an index


def _plan(database: Database, sort: OrderSort, filters: OrderFilters, cursor: str | None) -> str:
    """The query plan of the page's main statement, with sequential scans ruled out on
    PostgreSQL (a small test table would otherwise be read whole, whatever the indexes)."""
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        with database.read() as session:
            order_listing.list_orders(session, filters, sort=sort, limit=2, cursor=cursor)
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)
    statement, parameters = next(s for s in statements if "ORDER BY orders." in s[0])
    with database.read() as session:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("sort", list(OrderSort))
@pytest.mark.parametrize("status", [None, "pending"])
def test_each_sort_reads_its_index_in_order_without_sorting_the_orders(
    database: Database, shop: list[int], sort: OrderSort, status: str | None
) -> None:
    filters = OrderFilters(status=status)
    with database.read() as session:
        first = order_listing.list_orders(session, filters, sort=sort, limit=2)

    plan = _plan(database, sort, filters, first.next_cursor)

    index = {
        (OrderSort.NEWEST, None): "ix_orders_created_id",
        (OrderSort.OLDEST, None): "ix_orders_created_id",
        (OrderSort.TOTAL_HIGH, None): "ix_orders_total_id",
        (OrderSort.TOTAL_LOW, None): "ix_orders_total_id",
        (OrderSort.NEWEST, "pending"): "ix_orders_status_created",
        (OrderSort.OLDEST, "pending"): "ix_orders_status_created",
        (OrderSort.TOTAL_HIGH, "pending"): "ix_orders_status_total",
        (OrderSort.TOTAL_LOW, "pending"): "ix_orders_status_total",
    }[(sort, status)]
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "Sort" not in plan, plan
