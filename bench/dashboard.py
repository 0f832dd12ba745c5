"""Scenario 12: the dashboard's queries on 1,000,000 orders (bench/suite.py runs them with
`--only dashboard`, or on the listing scenario's database when both run).

The seeded orders are all pending, spread over 60 days; here 80 % of them become sales
(processed, fulfilled, delivered or returned, processed within two days of being placed),
5 % await payment, 5 % are cancelled and 10 % stay pending, in one UPDATE. The report
functions the page calls (``ordermill.services.reports``) are then timed in-process, each
chart for the last 7, 30 and 90 days in the store's time zone (90 days hold every sale),
again with the sales index dropped, and the whole page over HTTP with one client. The
plans (EXPLAIN ANALYZE) of the 90-day charts go to the log. Then the same orders are
spread over three years (a store that took a million orders in its life rather than in
two months) and the charts and the page timed again.
"""

from __future__ import annotations

import statistics
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session
from suite import (
    Options,
    PgDatabases,
    Report,
    Row,
    admin_token,
    driver_url,
    engine_for,
    execute,
    log,
    scalar,
    seed,
    serving,
)

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import reports

DENSE = "12. Dashboard, {n:,} orders in 60 days (PostgreSQL)"
SPREAD = "12. Dashboard, {n:,} orders over 3 years (PostgreSQL)"
PAGE = "GET /admin?period=30, the whole page, 1 client"
ZONE = ZoneInfo("Europe/Paris")
PERIODS = (7, 30, 90)
MIN_SAMPLES = 5
INDEX = "ix_orders_sales"

MARK_SALES = """
UPDATE orders SET
  status = CASE WHEN id % 20 = 2 THEN 'awaiting_payment'
                WHEN id % 20 = 3 THEN 'cancelled'
                WHEN id % 20 = 4 THEN 'returned'
                WHEN id % 20 < 10 THEN 'processed'
                WHEN id % 20 < 15 THEN 'fulfilled'
                ELSE 'delivered' END,
  processed = least(created + interval '1 hour' * (id % 48), now()),
  paid = CASE WHEN id % 20 = 2 THEN 0 ELSE total END,
  refunded = CASE WHEN id % 20 = 3 THEN total WHEN id % 20 = 4 THEN total / 4 ELSE 0 END,
  strategy = 'adjust',
  payment_flow = 'balance'
WHERE id % 20 NOT IN (0, 1)
"""
# Every order 18 times as far in the past: 60 days become 1,080.
STRETCH = """
UPDATE orders SET
  created = now() - (now() - created) * 18,
  processed = CASE WHEN processed IS NULL THEN NULL
                   ELSE least(now() - (now() - created) * 18 + interval '1 hour' * (id % 48), now())
              END
"""


def timings(work: Callable[[], Any], seconds: float) -> list[float]:
    """Milliseconds of each call of ``work``, for ``seconds`` (at least MIN_SAMPLES calls)."""
    work()  # warm the caches and the statement cache
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    while len(samples) < MIN_SAMPLES or time.monotonic() < deadline:
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], share: float) -> float:
    """Nearest rank: with fewer than 100 samples p99 is the slowest."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def figure(samples: list[float]) -> str:
    return (
        f"p50 {statistics.median(samples):,.0f} ms, p99 {percentile(samples, 0.99):,.0f} ms"
        f" ({len(samples)} calls)"
    )


def in_session(database: Database, query: Callable[[Session], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with database.read() as session:
            return query(session)

    return run


def charts(database: Database, seconds: float) -> dict[tuple[str, int], list[float]]:
    today = reports.today_in(ZONE)
    found: dict[tuple[str, int], list[float]] = {}
    for days in PERIODS:
        period = reports.last_days(days, today, ZONE)
        for name, query in (
            ("sales", lambda s, p=period: reports.sales_per_day(s, p)),
            ("top", lambda s, p=period: reports.top_products(s, p)),
        ):
            log(f"dashboard: {name}, last {days} days")
            found[(name, days)] = timings(in_session(database, query), seconds)
    return found


def explain(database: Database) -> None:
    """The 90-day charts' plans, to the log."""
    period = reports.last_days(90, reports.today_in(ZONE), ZONE)
    engine = database.engine
    for name, query in (("sales", reports.sales_per_day), ("top", reports.top_products)):
        captured: list[tuple[str, Any]] = []

        def grab(*args: Any, into: list[tuple[str, Any]] = captured) -> None:
            into.append((args[2], args[3]))

        event.listen(engine, "before_cursor_execute", grab)
        try:
            in_session(database, lambda s, q=query: q(s, period))()
        finally:
            event.remove(engine, "before_cursor_execute", grab)
        statement, parameters = captured[-1]
        with engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            log(f"dashboard: plan of {name}, last 90 days:\n" + "\n".join(r[0] for r in plan))


def page_timings(url: str, token: str, seconds: float) -> list[float]:
    """GET /admin?period=30 over HTTP, one request at a time, signed in with ``token``."""
    with serving(url, 1) as server:
        request = urllib.request.Request(
            f"{server.base}/admin?period=30", headers={"Cookie": f"ordermill_admin={token}"}
        )

        def get() -> None:
            with urllib.request.urlopen(request, timeout=60) as answer:
                body = answer.read()
            if answer.status != 200 or b'id="orders-' not in body:
                raise RuntimeError(f"GET /admin answered {answer.status} without its charts")

        log("dashboard: GET /admin?period=30")
        return timings(get, seconds)


def sales_in_periods(database: Database) -> dict[int, int]:
    today = reports.today_in(ZONE)
    with database.read() as session:
        return {
            days: sum(
                c.orders
                for c in reports.sales_per_day(session, reports.last_days(days, today, ZONE))
            )
            for days in PERIODS
        }


def vacuum(engine: Engine) -> None:
    """Statistics and visibility maps as autovacuum keeps them on a live database (without
    them on ``order_lines`` the planner hash-joins every line for a week's orders)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def chart_rows(
    report: Report,
    scenario: str,
    found: dict[tuple[str, int], list[float]],
    sales: dict[int, int],
    bare: dict[tuple[str, int], list[float]] | None = None,
) -> None:
    for (name, days), samples in found.items():
        what = "sales per day" if name == "sales" else "top products"
        row = Row(scenario, f"{what}, last {days} days ({sales[days]:,} sales)", figure(samples))
        if bare is not None:
            without = statistics.median(bare[(name, days)])
            row.ceiling = f"without {INDEX}: p50 {without:,.0f} ms"
            row.ratio = f"x{without / statistics.median(samples):.1f}"
        row.runs = "1"
        report.add(row)


def dashboard(opts: Options, dbs: PgDatabases, report: Report, url: str | None = None) -> None:
    own = url is None
    if url is None:
        url = dbs.create("dash")
        log(f"dashboard: seeding {opts.list_orders:,} orders")
        seed(url, 10_000, 10_000, opts.list_orders, 11)
    engine = engine_for(url)
    database = Database(driver_url(url), Settings(database_url=url, timezone=str(ZONE)))
    # Half a measurement's length per query: each is timed one call at a time, so 5 s
    # gives every chart's p50 and p99 from its own calls, and the suite its time budget.
    seconds = max(opts.seconds / 2, 3)
    try:
        log("dashboard: making 80 % of the orders sales")
        execute(engine, MARK_SALES)
        vacuum(engine)
        dense = DENSE.format(n=opts.list_orders)
        sales = sales_in_periods(database)
        indexed = charts(database, seconds)
        counts = timings(in_session(database, reports.work_counts), seconds)
        low = timings(in_session(database, lambda s: reports.low_stock(s, 5)), seconds)
        explain(database)
        definition = scalar(engine, "SELECT indexdef FROM pg_indexes WHERE indexname = :i", i=INDEX)
        execute(engine, f"DROP INDEX {INDEX}", "ANALYZE orders")
        try:
            bare = charts(database, seconds / 3)
        finally:
            execute(engine, definition, "ANALYZE orders")
        token = admin_token(url)
        page = page_timings(url, token, seconds)
        chart_rows(report, dense, indexed, sales, bare)
        report.add(Row(dense, "orders waiting (counts per status)", figure(counts), runs="1"))
        report.add(Row(dense, "low stock (10,000 products)", figure(low), runs="1"))
        report.add(Row(dense, PAGE, figure(page), runs="1"))

        log("dashboard: the same orders spread over three years")
        execute(engine, STRETCH)
        vacuum(engine)
        spread = SPREAD.format(n=opts.list_orders)
        sales = sales_in_periods(database)
        chart_rows(report, spread, charts(database, seconds), sales)
        report.add(Row(spread, PAGE, figure(page_timings(url, token, seconds)), runs="1"))
        report.notes.append(
            f"Scenario 12: the {opts.list_orders:,} seeded orders, 80 % made sales (processed"
            " within two days of being placed), first as seeded (60 days, about 16,700 orders"
            " a day: 90 days hold every sale), then spread over 1,080 days (about 930 a day)."
            " Each report function is timed in-process, one call at a time; the ratio is the"
            " median without the index ÷ with it. p99 of fewer than 100 calls is the slowest."
        )
    finally:
        database.dispose()
        engine.dispose()
        if own:
            dbs.drop(url)
