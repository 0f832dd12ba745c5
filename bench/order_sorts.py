"""The back office's orders table on 1,000,000 orders: every sort, with and without filters,
on its first page and on a page halfway down.

    .venv/bin/python bench/order_sorts.py --postgres postgresql://postgres@127.0.0.1:5432/test

Creates a throwaway database beside the one named, fills it with SQL (10,000 customers,
1,000,000 orders over two years, eight statuses, totals spread over 0-999.99), times
``services.order_listing.list_orders`` (the two statements a page costs: the orders,
then their lines) and prints a Markdown table with each case's median of ``--runs``
and the plan's first line; drops the database at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.migrate import upgrade
from ordermill.services import order_listing, order_views
from ordermill.services.order_listing import OrderSort
from ordermill.services.order_views import OrderFilters
from ordermill.services.pagination import encode_cursor

SEED = """
INSERT INTO customers (id, name, email, balance, created, updated)
SELECT g, 'Customer ' || g, 'c' || g || '@bench.test', 100000, now(), now()
FROM generate_series(1, 10000) g;
INSERT INTO orders (id, number, customer_id, status, created, currency, extra, total, paid,
                    refunded)
SELECT g, '2026-' || lpad(g::text, 7, '0'), 1 + (g % 10000),
  (ARRAY['pending', 'processed', 'processed', 'fulfilled', 'delivered', 'delivered',
         'cancelled', 'awaiting_payment'])[1 + (g::bigint * 7 % 8)],
  now() - (g || ' minutes')::interval, 'USD', '{}', (g::bigint * 7919) % 100000, 0, 0
FROM generate_series(1, :orders) g;
ANALYZE;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="a PostgreSQL URL to create a db beside")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    admin_url = make_url(Settings(database_url=opts.postgres).database_url)
    name = f"ordermill_bench_sorts_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            for statement in SEED.split(";"):
                if statement.strip():
                    conn.execute(text(statement), {"orders": opts.orders})
        engine.dispose()
        measure(url, opts.runs)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(url: str, runs: int) -> None:
    database = Database(url, Settings(database_url=url))
    statements: list[tuple[str, Any]] = []
    event.listen(
        database.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, params, *_: statements.append((statement, params)),
    )
    now = datetime.now(UTC)
    with database.read() as session:
        # Halfway down every sort: an order from the middle of the table, its total
        # near the middle too.
        middle_id = session.execute(
            text(
                "SELECT id FROM orders WHERE id >= (SELECT max(id) / 2 FROM orders)"
                " AND total BETWEEN 45000 AND 55000 ORDER BY id LIMIT 1"
            )
        ).scalar_one()
        middle = order_views.get_order(session, middle_id)
    cases = {
        "no filter": OrderFilters(),
        "status=pending": OrderFilters(status="pending"),
        "customer": OrderFilters(customer_id=42),
        "last 30 days": OrderFilters(created_from=now - timedelta(days=30)),
    }
    print("| filter | sort | page | p50 ms | plan |")
    print("|---|---|---|---|---|")
    for label, filters in cases.items():
        for sort in OrderSort:
            for depth in ("first", "deep"):
                cursor = None
                if depth == "deep":
                    if label in ("customer", "last 30 days"):
                        continue  # 100 orders, 43,200 orders: no page is deep
                    key = {
                        OrderSort.NEWEST: None,
                        OrderSort.OLDEST: middle.created.isoformat(),
                    }.get(sort, middle.total)
                    cursor = (
                        encode_cursor(middle.created.isoformat(), middle.id)
                        if sort is OrderSort.NEWEST
                        else encode_cursor(sort.value, key, middle.id)
                    )
                times = []
                for _ in range(runs):
                    statements.clear()
                    with database.read() as session:
                        started = time.perf_counter()
                        order_listing.list_orders(
                            session, filters, sort=sort, limit=50, cursor=cursor
                        )
                        times.append((time.perf_counter() - started) * 1000)
                main_statement = next(s for s in statements if "ORDER BY orders." in s[0])
                with database.read() as session:
                    plan = session.connection().exec_driver_sql(
                        "EXPLAIN " + main_statement[0], main_statement[1]
                    )
                    scans = [str(row[0]).replace("->", "").split() for row in plan]
                    first = next((" ".join(s[:6]) for s in scans if "Scan" in s), "")
                print(
                    f"| {label} | {sort.value} | {depth} | {statistics.median(times):.1f} | "
                    f"{first[:70]} |"
                )
    database.dispose()


if __name__ == "__main__":
    main()
