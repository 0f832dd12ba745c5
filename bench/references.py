"""References bench/suite.py measures ordermill against, beyond pgbench's ceilings.

- Rows written per processed order: the rows each table gained over a measurement,
  divided by the orders it processed (scenarios 3 and 4, ordermill beside its reference).
- Scenario 4's reference: the same batches of pending orders processed by plain
  set-based SQL (``UPDATE … FROM``, ``INSERT … SELECT``), one transaction per batch of
  500, run by psql on a copy of the database taken before ordermill ran.
- Scenario 13: the authenticated trivial request beside an empty endpoint on the same
  server (bench/pipeline.py's measurement).
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, text
from suite import (
    TARGET_RATIO,
    BenchError,
    Options,
    PgDatabases,
    Report,
    Row,
    bulk_process,
    check_books,
    engine_for,
    libpq_url,
    log,
    run,
    scalar,
    verdict,
)

# What processing an order may add rows to (updated rows are the same in both by
# construction: the order, its lines, its products, its customer).
TABLES = (
    "orders",
    "order_lines",
    "ledger_entries",
    "payments",
    "order_events",
    "audit_log",
    "outbox_events",
)
PIPELINE_RATIO = 0.50
BULK_BATCH = 500


# ---------------------------------------------------------------- rows written per order


@dataclass
class Tally:
    """Rows added per table, and orders processed, over one or more measurements."""

    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    processed: int = 0

    def per_order(self) -> dict[str, float]:
        if not self.processed:
            return {}
        return {t: n / self.processed for t, n in self.added.items() if n}

    def describe(self) -> str:
        rows = self.per_order()
        listed = ", ".join(f"{t} {n:.2g}" for t, n in rows.items())
        return f"{listed} ({sum(rows.values()):.3g} rows)" if rows else "-"


def _counts(engine: Engine) -> dict[str, int]:
    columns = ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES)
    processed = "(SELECT count(*) FROM orders WHERE status = 'processed') AS processed_orders"
    with engine.connect() as conn:
        found = conn.execute(text(f"SELECT {columns}, {processed}")).mappings().one()
    return {k: int(v) for k, v in found.items()}


def _quiet(engine: Engine, limit: float = 10.0) -> None:
    """Wait until no other session on the database is inside a statement or transaction:
    requests a load generator left in flight finish where they belong."""
    busy = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND state <> 'idle' AND backend_type = 'client backend'"
    )
    time.sleep(0.3)
    deadline = time.monotonic() + limit
    while scalar(engine, busy) and time.monotonic() < deadline:
        time.sleep(0.1)


@contextlib.contextmanager
def counting(engine: Engine, tally: Tally) -> Iterator[None]:
    """Add to ``tally`` the rows written and orders processed inside the block."""
    _quiet(engine)
    before = _counts(engine)
    yield
    _quiet(engine)
    after = _counts(engine)
    for table in TABLES:
        tally.added[table] += after[table] - before[table]
    tally.processed += after["processed_orders"] - before["processed_orders"]


def rows_row(scenario: str, app: Tally, reference: Tally, reference_name: str, runs: int) -> Row:
    app_total = sum(app.per_order().values())
    ref_total = sum(reference.per_order().values())
    return Row(
        scenario=scenario,
        measure="rows added per processed order (count per table before/after)",
        figure=f"ordermill, {app.processed:,} orders: {app.describe()}",
        ceiling=f"{reference_name}, {reference.processed:,} orders: {reference.describe()}",
        ratio=f"{app_total:.3g} vs {ref_total:.3g}",
        runs=str(runs),
    )


# ---------------------------------------------------------------- scenario 4's reference


def _range(table: str = "o") -> str:
    prefix = f"{table}." if table else ""
    return f"{prefix}id > :lo AND {prefix}id <= :hi AND {prefix}status = 'pending'"


PER_ORDER_ROWS = {
    "payments": "INSERT INTO payments (order_id, at, amount, credited, method, actor)"
    " SELECT o.id, now(), o.total, 0, 'balance', 'psql' FROM {orders} AND o.total > 0",
    "order_events": "INSERT INTO order_events (order_id, at, kind, actor, visibility, detail)"
    " SELECT o.id, now(), 'processed', 'psql', 'customer', '{{}}' FROM {orders}",
    "audit_log": "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail)"
    " SELECT now(), 'psql', 'order.processed', 'order', o.id, '{{}}' FROM {orders}",
    "outbox_events": "INSERT INTO outbox_events (type, order_id, data, created)"
    " SELECT 'order.processed', o.id, '{{}}'::jsonb, now() FROM {orders}",
}
BATCH = "o.id > :lo AND o.id <= :hi AND o.status = 'pending'"


def bulk_batch_sql(per_order: dict[str, int]) -> str:
    """One batch, one transaction: the next 500 pending orders by id (locked); the stock of
    their products taken per product (conditional), their lines, the balances charged per
    customer, one ledger entry per order, then ``per_order[table]`` rows per order in each
    of PER_ORDER_ROWS's tables; the orders marked processed and paid last."""
    statements = [
        "BEGIN;",
        "SELECT coalesce(max(id), :lo) AS hi FROM (SELECT id FROM orders WHERE status ="
        f" 'pending' AND id > :lo ORDER BY id LIMIT {BULK_BATCH} FOR NO KEY UPDATE) b \\gset",
        "UPDATE products p SET stock = p.stock - s.q, updated = now() FROM (SELECT"
        " l.product_id, sum(l.quantity_ordered) AS q FROM order_lines l JOIN orders o ON"
        f" o.id = l.order_id WHERE {BATCH} GROUP BY l.product_id) s WHERE p.id = s.product_id"
        " AND p.stock >= s.q;",
        "UPDATE order_lines l SET quantity = l.quantity_ordered, line_total ="
        f" l.quantity_ordered * l.unit_price FROM orders o WHERE o.id = l.order_id AND {BATCH};",
        "UPDATE customers c SET balance = c.balance - s.t, updated = now() FROM (SELECT"
        f" o.customer_id, sum(o.total) AS t FROM orders o WHERE {BATCH} GROUP BY"
        " o.customer_id) s WHERE c.id = s.customer_id;",
        # Each entry's balance_after: the final balance plus the later orders' totals.
        "INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id,"
        " reason, actor) SELECT o.customer_id, now(), 'charge', -o.total, c.balance +"
        " coalesce(sum(o.total) OVER (PARTITION BY o.customer_id ORDER BY o.id ROWS BETWEEN"
        " 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0), o.id, o.number, 'psql' FROM orders o"
        f" JOIN customers c ON c.id = o.customer_id WHERE {BATCH} AND o.total > 0;",
    ]
    for table, sql in PER_ORDER_ROWS.items():
        copies = per_order.get(table, 0)
        if copies:
            orders = f"orders o CROSS JOIN generate_series(1, {copies}) WHERE {BATCH}"
            statements.append(sql.format(orders=orders) + ";")
    statements += [
        "UPDATE orders o SET status = 'processed', processed = now(), strategy = 'adjust',"
        f" payment_flow = 'balance', paid = o.total WHERE {BATCH};",
        "COMMIT;",
        "\\set lo :hi",
    ]
    return "\n".join(statements) + "\n"


def bulk_reference(url: str, pending: int, per_order: dict[str, int]) -> float:
    """Process every pending order of ``url`` with set-based SQL in batches; the seconds
    psql took (wall clock)."""
    batches = -(-pending // BULK_BATCH)
    script = "\\set lo 0\n" + bulk_batch_sql(per_order) * batches
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bulk_ref.sql"
        path.write_text(script)
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path), libpq_url(url)]
        started = time.perf_counter()
        run(command)
        return time.perf_counter() - started


def bulk(opts: Options, dbs: PgDatabases, report: Report, url: str) -> None:
    """Scenario 4 on ``url`` (seeded, ready for writes, nothing connected): a copy for the
    reference first, then `ordermill orders process --all-pending` on it, then the
    reference on the copy, writing per order the rows ordermill wrote."""
    ref_url = dbs.create("bulkref", template=url)
    engine, ref_engine = engine_for(url), engine_for(ref_url)
    try:
        app, ref = Tally(), Tally()
        log("bulk: ordermill orders process --all-pending")
        with counting(engine, app):
            seconds, finished = bulk_process(url, opts.bulk_time_limit)
        bulk_books(opts, engine, report, finished)
        if not app.processed:
            raise BenchError("bulk processing processed no orders")
        per_order = {t: round(n) for t, n in app.per_order().items()}
        pending = int(scalar(ref_engine, "SELECT count(*) FROM orders WHERE status = 'pending'"))
        log(f"bulk: the set-based reference (psql) over {pending:,} orders")
        with counting(ref_engine, ref):
            ref_seconds = bulk_reference(ref_url, pending, per_order)
        check_books(ref_engine, "bulk reference")
        rate, ref_rate = app.processed / seconds, ref.processed / ref_seconds
        report.add(
            Row(
                scenario="4. Bulk processing (PostgreSQL)",
                measure=f"ordermill orders process --all-pending, {opts.bulk_orders:,} pending",
                figure=f"{rate:,.0f} orders/s ({app.processed:,} in {seconds:.0f} s)",
                ceiling=f"set-based SQL, batches of {BULK_BATCH} (psql): {ref_rate:,.0f}"
                f" orders/s ({ref.processed:,} in {ref_seconds:.1f} s)",
                ratio=f"{rate / ref_rate:.0%}",
                verdict=f"{verdict(rate >= TARGET_RATIO * ref_rate)} (≥{TARGET_RATIO:.0%})",
                runs="1",
            )
        )
        report.add(rows_row("4. Rows written (PostgreSQL)", app, ref, "set-based SQL", 1))
    finally:
        engine.dispose()
        ref_engine.dispose()
        dbs.drop(ref_url)


def bulk_books(opts: Options, engine: Engine, report: Report, finished: bool) -> None:
    """Check the books after the bulk run; a note if it was stopped at its time limit."""
    n = opts.bulk_orders
    processed = int(scalar(engine, "SELECT count(*) FROM orders WHERE status = 'processed'"))
    pending = int(scalar(engine, "SELECT count(*) FROM orders WHERE status = 'pending'"))
    check_books(engine, "bulk processing")
    if finished and (pending or processed != n):
        raise BenchError(f"bulk processing processed {processed} of {n}, left {pending}")
    if not finished:
        report.notes.append(
            f"Scenario 4 was stopped at its time limit ({opts.bulk_time_limit} s) after"
            f" processing {processed:,} of {n:,} orders (committed batches of 500; the"
            " batch in flight rolled back); the rate is over the orders it processed."
        )


# ---------------------------------------------------------------- scenario 13


def pipeline(opts: Options, dbs: PgDatabases, report: Report) -> None:
    """Scenario 13: GET /api/auth/whoami with a bearer token beside an empty endpoint
    without one, on one server process (bench/pipeline.py), on SQLite and PostgreSQL."""
    from pipeline import TARGETS, measure  # bench/pipeline.py, beside this file

    url = dbs.create("pipeline")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            log("pipeline: SQLite")
            sqlite_url = f"sqlite:///{scratch}/bench.db"
            sqlite = measure(sqlite_url, None, opts.runs, opts.seconds, TARGETS)
        log("pipeline: PostgreSQL")
        postgres = measure(url, None, opts.runs, opts.seconds, TARGETS)
    except SystemExit as exc:  # how bench/pipeline.py, a command of its own, gives up
        raise BenchError(f"pipeline: {exc}") from None
    finally:
        dbs.drop(url)
    for label, rows in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        ratios = [w / e for (w, _), (e, _) in zip(rows["whoami"], rows["empty"], strict=True)]
        ratio = statistics.median(ratios)
        whoami = statistics.median(r for r, _ in rows["whoami"])
        cpu = statistics.median(c for _, c in rows["whoami"])
        empty = statistics.median(r for r, _ in rows["empty"])
        report.add(
            Row(
                scenario=f"13. Authenticated trivial request ({label}, 1 server process)",
                measure="GET /api/auth/whoami with a bearer token",
                figure=f"{whoami:,.0f} req/s ({cpu:.2f} ms server CPU/request)",
                ceiling=f"GET /bench/empty, no token: {empty:,.0f} req/s",
                ratio=f"{ratio:.0%}",
                verdict=f"{verdict(ratio >= PIPELINE_RATIO)} (≥{PIPELINE_RATIO:.0%})",
                runs=str(opts.runs),
            )
        )
