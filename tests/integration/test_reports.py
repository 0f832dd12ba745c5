"""The dashboard's figures: what counts as a sale, on which day, and what it earned."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from ordermill.db import Database
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import InvalidInput
from ordermill.services import catalog, processing, reports, workflow
from ordermill.services import orders as order_service
from ordermill.services.reports import Period
from ordermill.services.workflow import ReturnLine
from tests import factories

UTC_ZONE = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sell(
    database: Database,
    customer_id: int,
    *items: tuple[int, int],
    when: datetime,
    flow: PaymentFlow = PaymentFlow.BALANCE,
    currency: str = "USD",
) -> int:
    """Place an order and process it at ``when``; its id."""
    with database.write() as session:
        view = order_service.place_order(
            session,
            customer_id=customer_id,
            items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
            currency=currency,
            now=when - timedelta(minutes=5),
        )
        processing.process_order(session, view.id, flow=flow, now=when)
        return view.id


def per_day(database: Database, period: Period) -> dict[str, dict[date, tuple[int, int]]]:
    with database.read() as session:
        found = reports.sales_per_day(session, period)
    return {s.currency: {d.day: (d.orders, d.revenue) for d in s.days if d.orders} for s in found}


def top(database: Database, period: Period, **kw: Any) -> list[tuple[Any, ...]]:
    with database.read() as session:
        found = reports.top_products(session, period, **kw)
    return [(p.rank, p.name, p.sku, p.currency, p.units, p.revenue) for p in found]


@pytest.fixture
def shop(database: Database) -> tuple[int, int, int]:
    """A rich customer and two products: (customer, tea at 2.50, cake at 4.00)."""
    customer = factories.customer(database, balance=1_000_00)
    tea = factories.product(database, price=2_50, stock=1000, name="Tea", sku="TEA")
    cake = factories.product(database, price=4_00, stock=1000, name="Cake", sku="CAKE")
    return customer, tea, cake


def test_only_processed_and_paid_orders_that_were_not_cancelled_are_sales(
    database: Database, shop: tuple[int, int, int]
) -> None:
    customer, tea, cake = shop
    day = at("2026-05-04T12:00:00")
    sell(database, customer, (tea, 2), (cake, 1), when=day)  # 9.00
    factories.order(database, customer, (tea, 5))  # pending
    sell(database, customer, (cake, 3), when=day, flow=PaymentFlow.ADVANCE)  # awaiting payment
    gone = sell(database, customer, (tea, 1), when=day)
    shipped = sell(database, customer, (tea, 4), when=day)  # 10.00
    with database.write() as session:
        workflow.cancel(session, gone, reason="changed mind")
        workflow.fulfill(session, shipped, carrier="Post")

    figures = per_day(database, Period(date(2026, 5, 4), date(2026, 5, 4), UTC_ZONE))

    assert figures == {"USD": {date(2026, 5, 4): (2, 9_00 + 10_00)}}


def test_an_order_paid_later_is_a_sale_of_the_day_it_was_processed(
    database: Database, shop: tuple[int, int, int]
) -> None:
    customer, tea, _cake = shop
    order = sell(
        database, customer, (tea, 4), when=at("2026-05-04T09:00:00"), flow=PaymentFlow.ADVANCE
    )
    week = Period(date(2026, 5, 1), date(2026, 5, 10), UTC_ZONE)
    before = per_day(database, week)

    with database.write() as session:
        workflow.pay(session, order, amount=10_00, method="transfer", now=at("2026-05-07T10:00:00"))

    assert before == {}
    assert per_day(database, week) == {"USD": {date(2026, 5, 4): (1, 10_00)}}


def test_returned_units_come_off_the_sale_and_the_order_still_counts(
    database: Database, shop: tuple[int, int, int]
) -> None:
    customer, tea, cake = shop
    order = sell(database, customer, (tea, 4), (cake, 1), when=at("2026-05-04T09:00:00"))
    with database.write() as session:
        view = workflow.fulfill(session, order)
        tea_line = next(line for line in view.lines if line.product_id == tea)
        workflow.return_order(
            session, order, lines=[ReturnLine(tea_line.id, 3)], now=at("2026-05-09T09:00:00")
        )
    period = Period(date(2026, 5, 1), date(2026, 5, 10), UTC_ZONE)

    assert per_day(database, period) == {"USD": {date(2026, 5, 4): (1, 2_50 + 4_00)}}
    assert top(database, period) == [
        (1, "Cake", "CAKE", "USD", 1, 4_00),
        (2, "Tea", "TEA", "USD", 1, 2_50),
    ]


def test_a_shortage_sells_only_what_was_processed(database: Database) -> None:
    customer = factories.customer(database, balance=1_000_00)
    scarce = factories.product(database, price=3_00, stock=2, name="Scarce", sku="SC")

    sell(database, customer, (scarce, 5), when=at("2026-05-04T09:00:00"))  # adjust: 2 sold

    period = Period(date(2026, 5, 4), date(2026, 5, 4), UTC_ZONE)
    assert per_day(database, period) == {"USD": {date(2026, 5, 4): (1, 6_00)}}
    assert top(database, period) == [(1, "Scarce", "SC", "USD", 2, 6_00)]


def test_days_are_the_store_time_zones_days_across_a_change_to_summer_time(
    database: Database, shop: tuple[int, int, int]
) -> None:
    customer, tea, _cake = shop
    # Paris is UTC+1 until 2026-03-29 02:00, then UTC+2.
    sell(database, customer, (tea, 1), when=at("2026-03-27T22:59:59"))  # 23:59:59 on the 27th
    sell(database, customer, (tea, 2), when=at("2026-03-27T23:00:00"))  # 00:00 on the 28th
    sell(database, customer, (tea, 3), when=at("2026-03-29T21:59:00"))  # 23:59 on the 29th
    sell(database, customer, (tea, 4), when=at("2026-03-29T22:00:00"))  # 00:00 on the 30th

    paris = per_day(database, Period(date(2026, 3, 27), date(2026, 3, 30), PARIS))
    in_utc = per_day(database, Period(date(2026, 3, 27), date(2026, 3, 30), UTC_ZONE))

    assert paris == {
        "USD": {
            date(2026, 3, 27): (1, 2_50),
            date(2026, 3, 28): (1, 5_00),
            date(2026, 3, 29): (1, 7_50),
            date(2026, 3, 30): (1, 10_00),
        }
    }
    assert in_utc == {"USD": {date(2026, 3, 27): (2, 7_50), date(2026, 3, 29): (2, 17_50)}}


def test_a_period_starts_and_ends_at_the_store_s_midnights_even_half_an_hour_off_utc(
    database: Database, shop: tuple[int, int, int]
) -> None:
    customer, tea, cake = shop
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    sell(database, customer, (tea, 1), when=at("2026-01-01T18:29:59"))  # 23:59:59 on the 1st
    sell(database, customer, (cake, 1), when=at("2026-01-01T18:30:00"))  # 00:00 on the 2nd
    sell(database, customer, (cake, 1), when=at("2026-01-02T18:30:00"))  # 00:00 on the 3rd

    second = Period(date(2026, 1, 2), date(2026, 1, 2), kolkata)

    assert per_day(database, second) == {"USD": {date(2026, 1, 2): (1, 4_00)}}
    assert top(database, second) == [(1, "Cake", "CAKE", "USD", 1, 4_00)]


def test_every_day_of_the_period_is_listed_and_no_sale_gives_the_store_currency_in_zeros(
    database: Database,
) -> None:
    period = Period(date(2026, 2, 27), date(2026, 3, 2), UTC_ZONE)

    with database.read() as session:
        without = reports.sales_per_day(session, period)
        with_currency = reports.sales_per_day(session, period, currency="EUR")

    assert without == []
    assert [
        (s.currency, [(d.day.day, d.orders, d.revenue) for d in s.days]) for s in with_currency
    ] == [("EUR", [(27, 0, 0), (28, 0, 0), (1, 0, 0), (2, 0, 0)])]


def test_currencies_are_never_added_together(
    database: Database, shop: tuple[int, int, int]
) -> None:
    customer, tea, cake = shop
    day = at("2026-05-04T12:00:00")
    sell(database, customer, (tea, 1), when=day, currency="USD")
    sell(database, customer, (cake, 2), when=day, currency="EUR")
    period = Period(date(2026, 5, 4), date(2026, 5, 4), UTC_ZONE)

    assert per_day(database, period) == {
        "EUR": {date(2026, 5, 4): (1, 8_00)},
        "USD": {date(2026, 5, 4): (1, 2_50)},
    }
    assert top(database, period) == [
        (1, "Cake", "CAKE", "EUR", 2, 8_00),
        (1, "Tea", "TEA", "USD", 1, 2_50),
    ]


def test_top_products_rank_by_units_then_revenue_and_stop_at_the_limit(
    database: Database,
) -> None:
    customer = factories.customer(database, balance=10_000_00)
    day = at("2026-05-04T12:00:00")
    names = ["A", "B", "C", "D"]
    ids = {n: factories.product(database, price=p, stock=100, name=n, sku=n) for n, p in
           zip(names, [1_00, 5_00, 2_00, 9_00], strict=True)}  # fmt: skip
    sell(database, customer, (ids["A"], 5), (ids["B"], 3), when=day)
    sell(database, customer, (ids["C"], 3), (ids["D"], 1), when=day)
    sell(database, customer, (ids["B"], 2), when=day - timedelta(days=3))  # before the period

    period = Period(date(2026, 5, 4), date(2026, 5, 4), UTC_ZONE)

    assert top(database, period, limit=3) == [
        (1, "A", "A", "USD", 5, 5_00),
        (2, "B", "B", "USD", 3, 15_00),  # ties with C on units, more revenue
        (3, "C", "C", "USD", 3, 6_00),
    ]


def test_a_product_shows_its_catalog_name_now_and_a_deleted_one_its_snapshot(
    database: Database, shop: tuple[int, int, int]
) -> None:
    customer, tea, cake = shop
    sell(database, customer, (tea, 2), (cake, 1), when=at("2026-05-04T12:00:00"))
    with database.write() as session:
        product = catalog.get_product(session, tea)
        catalog.update_product(session, product, catalog.ProductChanges(name="Green tea"))
        catalog.delete_product(session, cake)

    period = Period(date(2026, 5, 4), date(2026, 5, 4), UTC_ZONE)

    with database.read() as session:
        found = reports.top_products(session, period)
    assert [(p.product_id, p.name, p.sku, p.units) for p in found] == [
        (tea, "Green tea", "TEA", 2),
        (None, "Cake", "CAKE", 1),
    ]


def test_products_deleted_since_count_as_one_entry(database: Database) -> None:
    customer = factories.customer(database, balance=1_000_00)
    kept = factories.product(database, price=1_00, stock=100, name="Kept", sku="K")
    old = [
        factories.product(database, price=2_00, stock=100, name=f"Old {n}", sku=f"OLD-{n}")
        for n in range(2)
    ]
    sell(database, customer, (kept, 3), (old[0], 2), (old[1], 2), when=at("2026-05-04T12:00:00"))
    with database.write() as session:
        for product in old:
            catalog.delete_product(session, product)

    period = Period(date(2026, 5, 4), date(2026, 5, 4), UTC_ZONE)

    assert top(database, period) == [
        (1, reports.GONE, "", "USD", 4, 8_00),
        (2, "Kept", "K", "USD", 3, 3_00),
    ]


def test_the_two_charts_agree_on_the_revenue(database: Database) -> None:
    customer = factories.customer(database, balance=100_000_00)
    products = [factories.product(database, price=1_00 + 37 * n, stock=500) for n in range(6)]
    start = at("2026-06-01T00:00:00")
    for n in range(24):
        sell(
            database,
            customer,
            (products[n % 6], 1 + n % 4),
            (products[(n * 5 + 1) % 6], 2),
            when=start + timedelta(hours=7 * n),
        )
    period = Period(date(2026, 6, 1), date(2026, 6, 10), PARIS)

    with database.read() as session:
        (sales,) = reports.sales_per_day(session, period)
        products_sold = reports.top_products(session, period, limit=100)

    assert sales.orders == 24
    assert sales.revenue == sum(p.revenue for p in products_sold) > 0


class Statements:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, *args: Any) -> None:
        self.seen.append(args[2])
        self.calls.append((args[2], args[3]))


def test_each_chart_is_one_statement(database: Database, shop: tuple[int, int, int]) -> None:
    customer, tea, _cake = shop
    sell(database, customer, (tea, 1), when=at("2026-05-04T12:00:00"))
    period = Period(date(2026, 1, 1), date(2026, 12, 31), PARIS)
    log = Statements()
    results = []

    with database.read() as session:
        session.connection()  # the transaction's own statements come first
        event.listen(database.engine, "before_cursor_execute", log)
        try:
            for query in (
                lambda: reports.sales_per_day(session, period),
                lambda: reports.top_products(session, period),
                lambda: reports.work_counts(session),
                lambda: reports.low_stock(session, 5),
            ):
                before = len(log.seen)
                results.append(query())
                assert len(log.seen) - before == 1, log.seen[before:]
        finally:
            event.remove(database.engine, "before_cursor_execute", log)

    assert results[0][0].orders == 1


def test_work_waiting_is_counted_by_status(database: Database, shop: tuple[int, int, int]) -> None:
    customer, tea, _cake = shop
    for _ in range(3):
        factories.order(database, customer, (tea, 1))
    for flow in (PaymentFlow.ADVANCE, PaymentFlow.ADVANCE, PaymentFlow.BALANCE):
        sell(database, customer, (tea, 1), when=datetime.now(UTC), flow=flow)
    shipped = sell(database, customer, (tea, 1), when=datetime.now(UTC))
    with database.write() as session:
        workflow.fulfill(session, shipped)

    with database.read() as session:
        counts = reports.work_counts(session)

    assert counts == reports.WorkCounts(to_process=3, awaiting_payment=2, to_fulfil=1)


def test_low_stock_is_at_or_below_the_products_threshold_or_the_store_default(
    database: Database,
) -> None:
    def product(name: str, stock: int, threshold: int | None, active: bool = True) -> int:
        with database.write() as session:
            return catalog.create_product(
                session,
                name=name,
                sku=name,
                price=1_00,
                stock=stock,
                active=active,
                low_stock_threshold=threshold,
            ).id

    at_default = product("at-default", 5, None)
    product("above-default", 6, None)
    own = product("own-threshold", 12, 20)
    product("below-own", 3, 2)
    empty = product("empty", 0, None)
    product("archived", 0, None, active=False)

    with database.read() as session:
        low = reports.low_stock(session, 5)
        first_two = reports.low_stock(session, 5, limit=2)

    assert [(p.id, p.stock, p.threshold) for p in low.products] == [
        (empty, 0, 5),
        (at_default, 5, 5),
        (own, 12, 20),
    ]
    assert low.total == 3
    assert (len(first_two.products), first_two.total) == (2, 3)


def test_a_period_is_whole_days_in_order_and_at_most_a_year_and_a_day() -> None:
    assert reports.last_days(7, date(2026, 3, 3), PARIS) == Period(
        date(2026, 2, 25), date(2026, 3, 3), PARIS
    )
    week = Period(date(2026, 3, 26), date(2026, 3, 29), PARIS)
    assert week.start == at("2026-03-25T23:00:00")
    assert week.end == at("2026-03-29T22:00:00")  # summer time from the 29th
    assert Period(date(2026, 1, 1), date(2026, 12, 31), PARIS).length == 365
    with pytest.raises(InvalidInput):
        Period(date(2026, 3, 2), date(2026, 3, 1), PARIS)
    with pytest.raises(InvalidInput):
        Period(date(2026, 1, 1), date(2027, 1, 2), PARIS)


def test_on_sqlite_without_statistics_the_sales_are_read_from_the_sales_index(
    database: Database, shop: tuple[int, int, int]
) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans from its statistics (bench/dashboard.py logs its plans)")
    customer, tea, _cake = shop
    sell(database, customer, (tea, 1), when=at("2026-05-04T12:00:00"))
    period = Period(date(2026, 5, 1), date(2026, 5, 31), PARIS)
    log = Statements()
    plans = []

    with database.read() as session:
        session.connection()
        event.listen(database.engine, "before_cursor_execute", log)
        try:
            reports.sales_per_day(session, period)
            reports.top_products(session, period)
        finally:
            event.remove(database.engine, "before_cursor_execute", log)
    with database.engine.connect() as conn:
        for statement, parameters in log.calls:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plans.append(" / ".join(row[3] for row in rows))

    assert len(plans) == 2
    for plan in plans:
        assert "SEARCH orders USING COVERING INDEX ix_orders_sales" in plan, plan
