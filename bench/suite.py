"""The ordermill benchmark suite: each scenario measured beside its ceiling or reference.

    .venv/bin/python bench/suite.py --postgres postgresql://postgres@127.0.0.1:5432/test

Every figure comes from the real thing: `ordermill serve` on 127.0.0.1 driven by wrk
(bench/wrk/ordermill.lua), the `ordermill` CLI, and beside each target its reference in
the same run, so the ratio between them holds on a noisy machine: a SQL transaction run
by pgbench (bench/pgbench/*.sql) on the same database, set-based SQL run by psql
(bench/references.py), a plain sqlite3 loop (bench/sqlite_loop.py), or another request
to the same server (bench/pipeline.py's empty endpoint, the authenticated whoami).
Databases are throwaway (`bench_*` on the PostgreSQL server named, temporary SQLite
files) and are dropped at the end. After every write scenario the suite checks that
stock plus units sold equals the stock at the start, that no stock is negative, and that
balances dropped by exactly the totals of the processed orders; it fails loudly
otherwise. Results go to the terminal and between the markers in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from first_round import BEFORE  # bench/first_round.py, beside this file
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlite_loop import placed_then_processed  # bench/sqlite_loop.py, beside this file

from ordermill.config import Settings
from ordermill.domain.orders import HOLDS_STOCK

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "wrk" / "ordermill.lua"
PGBENCH_SQL = BENCH / "pgbench"
CLI = str(Path(sys.executable).with_name("ordermill"))
BEGIN_MARK = "<!-- bench:begin (written by bench/suite.py; edit outside the markers) -->"
END_MARK = "<!-- bench:end -->"
TARGET_RATIO = 0.50
LIST_FACTOR = 3.0
SQLITE_RATIO = 0.10  # scenario 6: ordermill ÷ the plain sqlite3 loop
SQLITE_P99_MS = 100.0
RSS_TOLERANCE = 0.20
HOT = (1, 2, 3)
PASSWORD = "bench password 1234"
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "16"))
BIG_BALANCE = 10**13
BIG_STOCK = 10**9


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """A scenario could not be measured, or its results are wrong."""


# ---------------------------------------------------------------- processes


def run(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        list(args),
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if check and done.returncode != 0:
        raise BenchError(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    return elapsed, done


def ordermill(url: str, *args: str, stdin: str | None = None) -> tuple[float, str]:
    elapsed, done = run([CLI, *args], env={"ORDERMILL_DATABASE_URL": url}, stdin=stdin)
    return elapsed, done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """`ordermill serve` on 127.0.0.1 (a process we started and stop by its id)."""

    url: str
    workers: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {
            **os.environ,
            "ORDERMILL_DATABASE_URL": self.url,
            "ORDERMILL_LOG_LEVEL": "warning",  # no access log: it would cost the server CPU
            # One connection per concurrent request a worker may get; few enough that two
            # servers and pgbench stay far below max_connections.
            "ORDERMILL_DB_POOL_SIZE": str(POOL_SIZE),
            "ORDERMILL_DB_MAX_OVERFLOW": "0",
            # The API alone: notifications are delivered by `ordermill worker`s where a
            # scenario measures them (9-11); every order still writes its outbox event.
            "ORDERMILL_WORKER_IN_SERVER": "false",
        }
        command = [CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--workers", str(self.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise BenchError(f"ordermill serve exited early:\n{err[-3000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.base}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return self
            time.sleep(0.3)
        self.stop()
        raise BenchError("ordermill serve did not answer /health within 60 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.contextmanager
def serving(url: str, workers: int) -> Iterator[Server]:
    server = Server(url, workers).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- load generators


@dataclass(frozen=True)
class HttpResult:
    requests: int
    seconds: float
    ok: int
    conflict: int
    other: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds


def wrk(server: Server, mode: str, seconds: int, env: dict[str, str], args: Options) -> HttpResult:
    command = [
        "wrk", f"-t{args.wrk_threads}", f"-c{args.clients}", f"-d{seconds}s",
        "--timeout", "10s", "-s", str(LUA), server.base,
    ]  # fmt: skip
    lua_env = {"BENCH_MODE": mode, "BENCH_THREADS": str(args.wrk_threads), **env}
    _elapsed, done = run(command, env=lua_env)
    match = re.search(r"BENCH_RESULT (\{.*\})", done.stdout)
    if not match:
        raise BenchError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    data = json.loads(match.group(1))
    if data["overflow"]:
        raise BenchError(f"wrk ran out of order ids to process ({data['overflow']} extra)")
    return HttpResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        ok=data["ok"],
        conflict=data["conflict"],
        other=data["other"],
        socket_errors=data["socket_errors"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_ms: float
    transactions: int


def pgbench(
    url: str, script: str, seconds: int, variables: dict[str, Any], args: Options
) -> PgbenchResult:
    command = [
        "pgbench", "-n", "-M", "prepared", f"-c{args.clients}", f"-j{args.pgbench_threads}",
        f"-T{seconds}", "-f", str(PGBENCH_SQL / script),
    ]  # fmt: skip
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    _elapsed, done = run([*command, libpq_url(url)], check=False)
    output = done.stdout + done.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    count = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    any_failed = failed is not None and failed.group(1) != "0"
    if done.returncode != 0 or not (tps and latency and count) or any_failed:
        raise BenchError(f"pgbench {script} failed (exit {done.returncode}):\n{output[-3000:]}")
    return PgbenchResult(float(tps.group(1)), float(latency.group(1)), int(count.group(1)))


# ---------------------------------------------------------------- databases


def driver_url(url: str) -> str:
    return Settings(database_url=url).database_url


def libpq_url(url: str) -> str:
    return make_url(driver_url(url)).set(drivername="postgresql").render_as_string(False)


@dataclass
class PgDatabases:
    """Throwaway databases on the server behind ``admin_url``, all dropped at the end."""

    admin_url: str
    created: list[str] = field(default_factory=list)

    def create(self, purpose: str, template: str | None = None) -> str:
        """A new database; a copy of the database at ``template`` if given (nothing may be
        connected to it)."""
        name = f"bench_{purpose}_{uuid.uuid4().hex[:6]}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        admin = create_engine(driver_url(self.admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        admin.dispose()
        self.created.append(name)
        url = make_url(driver_url(self.admin_url)).set(database=name)
        return url.render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        admin = create_engine(driver_url(self.admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            url = make_url(driver_url(self.admin_url)).set(database=name)
            self.drop(url.render_as_string(hide_password=False))


def engine_for(url: str) -> Engine:
    return create_engine(driver_url(url), pool_size=2, max_overflow=0)


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def execute(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql))


def seed(url: str, customers: int, products: int, orders: int, seed_value: int) -> float:
    """`ordermill seed`; returns the seconds it took."""
    elapsed, _out = ordermill(
        url, "seed", "--customers", str(customers), "--products", str(products),
        "--orders", str(orders), "--random-seed", str(seed_value), "--batch-size", "20000",
    )  # fmt: skip
    return elapsed


def prepare_for_writes(engine: Engine) -> None:
    """Top every balance up (through the ledger) and every shelf (counted as received), put
    every product on sale, then keep the baseline the books are checked against."""
    execute(
        engine,
        "INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, reason, actor)"
        f" SELECT id, CURRENT_TIMESTAMP, 'adjustment', {BIG_BALANCE} - balance, {BIG_BALANCE},"
        f" 'benchmark top-up', 'bench' FROM customers WHERE balance <> {BIG_BALANCE}",
        f"UPDATE customers SET balance = {BIG_BALANCE}",
        f"UPDATE products SET stock_received = stock_received + ({BIG_STOCK} - stock),"
        f" stock = {BIG_STOCK}, active = true",
        "CREATE TABLE bench_initial_stock AS SELECT id, stock FROM products",
        "CREATE TABLE bench_initial_balance AS SELECT id, balance FROM customers",
    )


def admin_token(url: str) -> str:
    """A new token of the benchmark's admin, made on first use (scenarios sharing a
    database each get their own token)."""
    email = "bench-admin@example.com"
    _elapsed, made = run(
        [CLI, "users", "create", "--email", email, "--role", "admin", "--password-stdin"],
        env={"ORDERMILL_DATABASE_URL": url}, stdin=PASSWORD + "\n", check=False,
    )  # fmt: skip
    if made.returncode != 0 and "email_taken" not in made.stderr:
        raise BenchError(f"ordermill users create exited {made.returncode}:\n{made.stderr}")
    _elapsed, out = ordermill(url, "tokens", "create", "--user", email, "--name", "bench")
    return out.strip().splitlines()[-1].strip()


@dataclass(frozen=True)
class Books:
    processed_orders: int
    units_sold: int


HOLDING = ", ".join(f"'{status.value}'" for status in sorted(HOLDS_STOCK))
BOOK_CHECKS = {
    "products with negative stock": "SELECT count(*) FROM products WHERE stock < 0",
    "products where stock + units held by orders != initial stock (oversold?)": (
        "SELECT count(*) FROM bench_initial_stock i JOIN products p ON p.id = i.id"
        " LEFT JOIN (SELECT l.product_id, sum(l.quantity - l.quantity_restocked) AS held"
        "  FROM order_lines l JOIN orders o ON o.id = l.order_id"
        f"  WHERE o.status IN ({HOLDING}) GROUP BY l.product_id) s ON s.product_id = p.id"
        " WHERE i.stock - p.stock <> coalesce(s.held, 0)"
    ),
    "orders charged more than once": (
        "SELECT count(*) FROM (SELECT order_id FROM ledger_entries WHERE kind = 'charge'"
        " GROUP BY order_id HAVING count(*) > 1) twice"
    ),
    "processed orders without their charge": (
        "SELECT count(*) FROM orders o WHERE o.status = 'processed' AND o.total > 0"
        " AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.order_id = o.id"
        " AND e.kind = 'charge' AND e.amount = -o.total)"
    ),
    "customers whose balance is not the sum of their ledger entries": (
        "SELECT count(*) FROM customers c LEFT JOIN (SELECT customer_id, sum(amount) AS s"
        " FROM ledger_entries GROUP BY customer_id) e ON e.customer_id = c.id"
        " WHERE c.balance <> coalesce(e.s, 0)"
    ),
    "money: drop in balances - totals of processed orders (must be 0)": (
        "SELECT (SELECT sum(balance) FROM bench_initial_balance)"
        " - (SELECT sum(balance) FROM customers)"
        " - (SELECT coalesce(sum(total), 0) FROM orders WHERE status = 'processed')"
    ),
}


def check_books(engine: Engine, label: str) -> Books:
    """Stock + held = initial stock and none negative; balances dropped by exactly the
    totals of processed orders, with one ledger charge each. Raises BenchError if not."""
    problems = []
    with engine.connect() as conn:
        for problem, sql in BOOK_CHECKS.items():
            found = conn.execute(text(sql)).scalar()
            if found:
                problems.append(f"{problem}: {found}")
        processed = conn.execute(
            text("SELECT count(*) FROM orders WHERE status = 'processed'")
        ).scalar()
        sold = conn.execute(
            text(
                "SELECT coalesce(sum(l.quantity), 0) FROM order_lines l"
                f" JOIN orders o ON o.id = l.order_id WHERE o.status IN ({HOLDING})"
            )
        ).scalar()
    if problems:
        raise BenchError(f"{label}: the books don't balance: " + "; ".join(problems))
    log(f"{label}: books balance ({processed} processed orders, {sold} units sold)")
    return Books(int(processed or 0), int(sold or 0))


def deadlocks(engine: Engine) -> int:
    return int(
        scalar(engine, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    )


def peak_rss_kb(args: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds and peak resident memory (KiB) of a command, from /usr/bin/time -v."""
    elapsed, done = run(["/usr/bin/time", "-v", *args], env=env)
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if not match:
        raise BenchError(f"no peak RSS in /usr/bin/time output:\n{done.stderr[-2000:]}")
    return elapsed, int(match.group(1))


# ---------------------------------------------------------------- results


@dataclass
class Options:
    postgres: str
    seconds: int
    runs: int
    clients: int
    wrk_threads: int
    pgbench_threads: int
    bulk_orders: int
    bulk_time_limit: int
    list_orders: int
    only: set[str]
    output: Path | None


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass
class Row:
    scenario: str
    measure: str
    figure: str
    ceiling: str = "-"
    ratio: str = "-"
    verdict: str = "-"
    runs: str = "-"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        log(" | ".join(str(v) for v in vars(row).values()))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ratio_row(
    scenario: str,
    measure: str,
    app: list[float],
    ceiling: list[float],
    runs: int,
    extra: str,
    ceiling_name: str,
) -> Row:
    app_m, ceiling_m = median(app), median(ceiling)
    ratio = app_m / ceiling_m if ceiling_m else 0.0
    return Row(
        scenario=scenario,
        measure=measure,
        figure=f"{app_m:,.0f} orders/s{extra}",
        ceiling=f"{ceiling_name}: {ceiling_m:,.0f} tx/s",
        ratio=f"{ratio:.0%}",
        verdict=f"{verdict(ratio >= TARGET_RATIO)} (≥{TARGET_RATIO:.0%})",
        runs=str(runs),
    )


def latency(results: list[HttpResult]) -> str:
    return (
        f" (p50 {median([r.p50_ms for r in results]):.1f} ms,"
        f" p99 {median([r.p99_ms for r in results]):.1f} ms)"
    )


def require_clean(results: list[HttpResult], label: str, allow_conflicts: bool = False) -> None:
    for result in results:
        bad = result.other + result.socket_errors + (0 if allow_conflicts else result.conflict)
        if bad:
            raise BenchError(
                f"{label}: {result.other} unexpected HTTP errors, {result.conflict} conflicts,"
                f" {result.socket_errors} socket errors"
            )


# ---------------------------------------------------------------- scenarios


def postgres_writes(opts: Options, dbs: PgDatabases, report: Report) -> None:
    """Scenarios 1, 2, 3 and 8 on one PostgreSQL database."""
    from references import Tally, counting, rows_row  # bench/references.py, beside this file

    customers, products = 1000, 10_000
    per_run = 40_000  # order ids each wrk run may process (scenario 3), far above its pace
    pgbench_orders = 200_000  # pending orders the process ceiling may take over all its runs
    url = dbs.create("writes")
    engine = engine_for(url)
    try:
        pending = opts.runs * per_run + pgbench_orders
        log(f"writes: seeding {pending:,} pending orders")
        seed(url, customers, products, pending, 42)
        prepare_for_writes(engine)
        execute(
            engine,
            "CREATE SEQUENCE bench_number_seq",
            f"CREATE SEQUENCE bench_process_seq START {opts.runs * per_run + 1}"
            f" MAXVALUE {pending} NO CYCLE",
        )
        token = admin_token(url)
        deadlocks_before = deadlocks(engine)
        place_vars = {"customers": customers, "products": products}
        hot_vars = {"customers": customers, "h1": HOT[0], "h2": HOT[1], "h3": HOT[2]}
        env = {
            "BENCH_TOKEN": token,
            "BENCH_CUSTOMERS": str(customers),
            "BENCH_PRODUCTS": str(products),
            "BENCH_HOT": ",".join(map(str, HOT)),
        }
        place_app: dict[int, list[HttpResult]] = {1: [], 2: []}
        place_ceiling: list[PgbenchResult] = []
        hot_app: list[HttpResult] = []
        hot_ceiling: list[PgbenchResult] = []
        process_app: list[HttpResult] = []
        process_ceiling: list[PgbenchResult] = []
        app_rows, ref_rows = Tally(), Tally()
        with serving(url, 2) as two, serving(url, 1) as one:
            for n in range(opts.runs):
                log(f"writes: run {n + 1}/{opts.runs}")
                place_ceiling.append(pgbench(url, "place.sql", opts.seconds, place_vars, opts))
                place_app[2].append(wrk(two, "place", opts.seconds, env, opts))
                place_app[1].append(wrk(one, "place", opts.seconds, env, opts))
                hot_ceiling.append(pgbench(url, "hot.sql", opts.seconds, hot_vars, opts))
                hot_app.append(wrk(two, "hot", opts.seconds, env, opts))
                with counting(engine, ref_rows):
                    ref = pgbench(url, "process_ref.sql", opts.seconds, {}, opts)
                process_ceiling.append(ref)
                ids = {
                    "BENCH_FIRST_ID": str(n * per_run + 1),
                    "BENCH_LAST_ID": str((n + 1) * per_run),
                }
                with counting(engine, app_rows):
                    process_app.append(wrk(two, "process", opts.seconds, {**env, **ids}, opts))
        # Servers stopped: their backends have reported their statistics.
        time.sleep(1.5)
        new_deadlocks = deadlocks(engine) - deadlocks_before
        books = check_books(engine, "PostgreSQL writes")
        for label, results in (
            ("place", place_app[1] + place_app[2]),
            ("process", process_app),
        ):
            require_clean(results, label)
        require_clean(hot_app, "hot", allow_conflicts=True)
        hot_errors = sum(r.other + r.socket_errors for r in hot_app)
        hot_409 = sum(r.conflict for r in hot_app)
        if new_deadlocks:
            raise BenchError(f"{new_deadlocks} deadlocks while placing and processing orders")

        report.add(
            ratio_row(
                "1. Place order over HTTP (PostgreSQL, 2 workers)",
                "POST /api/orders, 3 random lines of 10,000 products",
                [r.rate for r in place_app[2]],
                [r.tps for r in place_ceiling],
                opts.runs,
                latency(place_app[2]),
                "place.sql",
            )
        )
        report.add(
            ratio_row(
                "2. Place + process on 3 hot products",
                "POST /api/orders with process: true, same 3 products",
                [r.rate for r in hot_app],
                [r.tps for r in hot_ceiling],
                opts.runs,
                latency(hot_app),
                "hot.sql",
            )
        )
        report.notes.append(
            f"Scenario 2 checks: {new_deadlocks} deadlocks (pg_stat_database, whole write"
            f" session), {hot_errors} HTTP errors other than 409, {hot_409} out-of-stock 409s,"
            f" books balanced over {books.processed_orders:,} processed orders and"
            f" {books.units_sold:,} units sold (stock + sold = initial for every product, no"
            " negative stock, balances down by exactly the processed totals)."
        )
        report.add(
            ratio_row(
                "3. Process order over HTTP (PostgreSQL, 2 workers)",
                "PUT /api/orders/{id} {process: true}, each pending order once",
                [r.rate for r in process_app],
                [r.tps for r in process_ceiling],
                opts.runs,
                latency(process_app),
                "process_ref.sql",
            )
        )
        report.add(
            rows_row(
                "3. Rows written (PostgreSQL)", app_rows, ref_rows, "process_ref.sql", opts.runs
            )
        )
        one_m = median([r.rate for r in place_app[1]])
        two_m = median([r.rate for r in place_app[2]])
        report.add(
            Row(
                scenario="8. Scale-out on one box (scenario 1)",
                measure="1 worker vs 2 workers",
                figure=f"{one_m:,.0f} vs {two_m:,.0f} orders/s{latency(place_app[1])}",
                ratio=f"x{two_m / one_m:.2f}",
                runs=str(opts.runs),
            )
        )
    finally:
        engine.dispose()
        dbs.drop(url)


def bulk_and_export(opts: Options, dbs: PgDatabases, report: Report) -> dict[str, Any]:
    """Scenario 4 and the 100,000-order half of 7 (seed rate, export memory)."""
    url = dbs.create("bulk")
    engine = engine_for(url)
    figures: dict[str, Any] = {}
    try:
        n = opts.bulk_orders
        log(f"bulk: seeding {n:,} orders")
        seconds = seed(url, 1000, 10_000, n, 7)
        figures["seed_small"] = (n, seconds)
        prepare_for_writes(engine)
        engine.dispose()  # the reference's copy is made from it: nothing may be connected
        from references import bulk  # bench/references.py, beside this file

        bulk(opts, dbs, report, url)
        figures["export_small"] = export_run(url, opts.bulk_orders, ("csv", "jsonl"))
    finally:
        engine.dispose()
        dbs.drop(url)
    return figures


def bulk_process(url: str, limit: int) -> tuple[float, bool]:
    """Run the bulk command; stop it (SIGINT, like Ctrl-C) after ``limit`` seconds.
    Returns the seconds it ran and whether it finished by itself."""
    env = {**os.environ, "ORDERMILL_DATABASE_URL": url}
    command = [CLI, "orders", "process", "--all-pending", "--batch-size", "500"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        _out, err = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=60)
        return time.perf_counter() - started, False
    if process.returncode != 0:
        raise BenchError(f"ordermill orders process failed:\n{err.decode()[-3000:]}")
    return time.perf_counter() - started, True


def export_run(url: str, orders: int, formats: Sequence[str]) -> dict[str, tuple[float, int]]:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            target = Path(tmp) / f"orders.{fmt}"
            log(f"export: {orders:,} orders as {fmt}")
            results[fmt] = peak_rss_kb(
                [CLI, "orders", "export", "--format", fmt, "-o", str(target)],
                {"ORDERMILL_DATABASE_URL": url},
            )
            target.unlink()
    return results


def listing_and_large_export(
    opts: Options, dbs: PgDatabases, report: Report, small: dict[str, Any]
) -> None:
    """Scenario 5 and the 1,000,000-order half of 7 (then 12 on the same orders, if asked)."""
    url = dbs.create("list")
    engine = engine_for(url)
    customers = 10_000
    try:
        n = opts.list_orders
        log(f"list: seeding {n:,} orders")
        seconds = seed(url, customers, 10_000, n, 11)
        execute(engine, "ANALYZE")
        token = admin_token(url)
        env = {"BENCH_TOKEN": token, "BENCH_CUSTOMERS": str(customers)}
        modes = ("list_customer", "list_status", "whoami")
        results: dict[str, list[HttpResult]] = {mode: [] for mode in modes}
        with serving(url, 2) as server:
            for r in range(opts.runs):
                log(f"list: run {r + 1}/{opts.runs}")
                for mode in results:
                    results[mode].append(wrk(server, mode, opts.seconds, env, opts))
        for mode, found in results.items():
            require_clean(found, mode)
        # The same pages' SQL alone, by pgbench with as many clients: what the database
        # takes before any Python (once: the listing's target is against whoami).
        alone = {
            mode: pgbench(url, f"{mode}.sql", opts.seconds, {"customers": customers}, opts)
            for mode in ("list_customer", "list_status")
        }
        trivial = median([r.p50_ms for r in results["whoami"]])
        for mode, label in (
            ("list_customer", "GET /api/orders?customer_id=…&limit=50"),
            ("list_status", "GET /api/orders?status=pending&limit=50"),
        ):
            p50 = median([r.p50_ms for r in results[mode]])
            p99 = median([r.p99_ms for r in results[mode]])
            rps = median([r.rate for r in results[mode]])
            report.add(
                Row(
                    scenario=f"5. Listing, {n:,} orders",
                    measure=label,
                    figure=f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({rps:,.0f} req/s)",
                    ceiling=f"GET /api/auth/whoami p50 {trivial:.1f} ms",
                    ratio=f"x{p50 / trivial:.1f}",
                    verdict=f"{verdict(p50 <= LIST_FACTOR * trivial)} (≤ {LIST_FACTOR:.0f}x)",
                    runs=str(opts.runs),
                )
            )
            sql = alone[mode]
            report.add(
                Row(
                    scenario=f"5. Listing, {n:,} orders",
                    measure=f"the same pages' SQL alone: pgbench {mode}.sql, {opts.clients}"
                    " clients",
                    figure=f"{sql.tps:,.0f} pages/s, latency average {sql.latency_ms:.1f} ms",
                    ceiling=f"GET /api/auth/whoami p50 {trivial:.1f} ms",
                    ratio=f"x{sql.latency_ms / trivial:.1f}",
                    runs="1",
                )
            )
        small_n, small_s = small["seed_small"]
        report.add(
            Row(
                scenario="7. Seeding (PostgreSQL)",
                measure="ordermill seed --batch-size 20000",
                figure=(
                    f"{small_n:,} orders: {small_n / small_s:,.0f} orders/s ({small_s:.1f} s);"
                    f" {n:,} orders: {n / seconds:,.0f} orders/s ({seconds:.1f} s)"
                ),
                runs="1 each",
            )
        )
        large = export_run(url, n, ("csv",))
        exports = small["export_small"]
        for fmt in ("csv", "jsonl"):
            s_sec, s_kb = exports[fmt]
            small_text = f"{small_n:,}: {s_sec:.1f} s, peak RSS {s_kb / 1024:.0f} MiB"
            if fmt not in large:
                report.add(
                    Row(
                        scenario="7. Export (PostgreSQL)",
                        measure=f"ordermill orders export --format {fmt} -o FILE",
                        figure=small_text,
                        runs="1",
                    )
                )
                continue
            l_sec, l_kb = large[fmt]
            growth = l_kb / s_kb - 1
            report.add(
                Row(
                    scenario="7. Export (PostgreSQL)",
                    measure=f"ordermill orders export --format {fmt} -o FILE",
                    figure=(
                        f"{small_text}; {n:,}: {l_sec:.1f} s ({n / l_sec:,.0f} orders/s),"
                        f" peak RSS {l_kb / 1024:.0f} MiB"
                    ),
                    ratio=f"RSS {growth:+.0%}",
                    verdict=f"{verdict(abs(growth) < RSS_TOLERANCE)} (<±{RSS_TOLERANCE:.0%})",
                    runs="1 each",
                )
            )
        if "dashboard" in opts.only:
            from dashboard import dashboard  # bench/dashboard.py, beside this file

            dashboard(opts, dbs, report, url)
    finally:
        engine.dispose()
        dbs.drop(url)


def sqlite_writes(opts: Options, report: Report, pg_rows: dict[str, str]) -> None:
    """Scenario 6: scenarios 1 and 3 on the embedded default, one server process."""
    customers, products, per_run = 1000, 10_000, 15_000
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        log("sqlite: seeding")
        seed(url, customers, products, opts.runs * per_run, 5)
        engine = create_engine(url)
        prepare_for_writes(engine)
        engine.dispose()
        loop_db = Path(tmp) / "loop.db"  # the reference's copy, before ordermill writes
        with sqlite3.connect(f"{tmp}/bench.db") as source, sqlite3.connect(loop_db) as copy:
            source.backup(copy)
        token = admin_token(url)
        env = {
            "BENCH_TOKEN": token,
            "BENCH_CUSTOMERS": str(customers),
            "BENCH_PRODUCTS": str(products),
        }
        place: list[HttpResult] = []
        process: list[HttpResult] = []
        with serving(url, 1) as server:
            for n in range(opts.runs):
                log(f"sqlite: run {n + 1}/{opts.runs}")
                place.append(wrk(server, "place", opts.seconds, env, opts))
                ids = {
                    "BENCH_FIRST_ID": str(n * per_run + 1),
                    "BENCH_LAST_ID": str((n + 1) * per_run),
                }
                process.append(wrk(server, "process", opts.seconds, {**env, **ids}, opts))
        require_clean(place, "sqlite place")
        require_clean(process, "sqlite process")
        check_books(engine, "SQLite writes")
        engine.dispose()
        loop = [
            placed_then_processed(loop_db, customers, products, opts.seconds, str(n))
            for n in range(opts.runs)
        ]
    for label, found, key in (
        ("place (POST /api/orders)", place, "place"),
        ("process (PUT /api/orders/{id})", process, "process"),
    ):
        report.add(
            Row(
                scenario="6. Embedded SQLite, 1 server process",
                measure=label,
                figure=f"{median([r.rate for r in found]):,.0f} orders/s{latency(found)}",
                ceiling=f"PostgreSQL, 2 workers: {pg_rows.get(key, '-')}",
                runs=str(opts.runs),
            )
        )
    report.add(sqlite_versus_loop(place, process, loop, opts.runs))


def sqlite_versus_loop(
    place: list[HttpResult], process: list[HttpResult], loop: list[float], runs: int
) -> Row:
    """Orders placed and then processed: 1 / (1/place + 1/process) from the HTTP runs,
    beside the plain sqlite3 loop doing both transactions; p99 the worse of the two."""
    place_rate, process_rate = median([r.rate for r in place]), median([r.rate for r in process])
    both = 1 / (1 / place_rate + 1 / process_rate)
    p99 = max(median([r.p99_ms for r in place]), median([r.p99_ms for r in process]))
    reference = median(loop)
    ratio = both / reference
    passed = ratio >= SQLITE_RATIO and p99 < SQLITE_P99_MS
    return Row(
        scenario="6. Embedded SQLite, 1 server process",
        measure="orders placed then processed: 1 / (1/place + 1/process), worse p99",
        figure=f"{both:,.0f} orders/s (p99 {p99:.1f} ms)",
        ceiling=f"plain sqlite3 loop, same pragmas, one process: {reference:,.0f} orders/s",
        ratio=f"{ratio:.0%}",
        verdict=f"{verdict(passed)} (≥{SQLITE_RATIO:.0%}, p99 < {SQLITE_P99_MS:.0f} ms)",
        runs=str(runs),
    )


# ---------------------------------------------------------------- output


def machine() -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [f"{os.cpu_count()} cores, {cpu}", f"Python {platform.python_version()}"]


def render(report: Report, opts: Options, started: float, pg_version: str, wrk_version: str) -> str:
    minutes = (time.monotonic() - started) / 60
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    lines = [
        BEGIN_MARK,
        "",
        f"Measured {today} with `make bench` in {minutes:.1f} minutes.",
        "",
        f"- Machine: {'; '.join(machine())}; {pg_version}; {wrk_version}.",
        f"- Load: {opts.clients} concurrent clients, {opts.seconds} s per measurement, wrk with"
        f" {opts.wrk_threads} thread(s) and pgbench with {opts.pgbench_threads} (`-M prepared`),"
        " all on 127.0.0.1. Figures are medians of the runs shown.",
        "- Ceiling / reference: measured on the same machine in the same run (the SQL by"
        " pgbench or psql on the same database, a plain sqlite3 loop, an empty endpoint or"
        " the authenticated trivial request on the same server); ratio = ordermill ÷ it.",
        "- Before: the first round's figures (`make bench`, 2026-12-02), with their ratio and"
        " what it was of then.",
        "",
        "| scenario | what | before | now | ceiling / reference | ratio | target | runs |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for row in report.rows:
        before = BEFORE.get((row.scenario, row.measure), "-")
        lines.append(
            f"| {row.scenario} | {row.measure} | {before} | {row.figure} | {row.ceiling}"
            f" | {row.ratio} | {row.verdict} | {row.runs} |"
        )
    lines += ["", *[f"- {note}" for note in report.notes], "", "Commands:", "", "```sh"]
    lines += report.commands
    lines += ["```", "", END_MARK]
    return "\n".join(lines)


def write_document(path: Path, block: str) -> None:
    current = path.read_text() if path.exists() else "# Performance\n"
    if BEGIN_MARK in current and END_MARK in current:
        before = current.split(BEGIN_MARK, 1)[0]
        after = current.split(END_MARK, 1)[1]
        path.write_text(before + block + after)
    else:
        path.write_text(current.rstrip("\n") + "\n\n## Results\n\n" + block + "\n")


# ---------------------------------------------------------------- main


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--postgres", required=True, help="admin URL, e.g. postgresql://postgres@127.0.0.1/test"
    )
    parser.add_argument("--seconds", type=int, default=12, help="length of each measurement")
    parser.add_argument("--runs", type=int, default=3, help="runs of each short measurement")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--pgbench-threads", type=int, default=2)
    parser.add_argument("--bulk-orders", type=int, default=100_000)
    parser.add_argument(
        "--bulk-time-limit", type=int, default=200, help="stop bulk processing after N s"
    )
    parser.add_argument("--list-orders", type=int, default=1_000_000)
    parser.add_argument(
        "--only",
        default="writes,bulk,list,sqlite,pipeline,notify,dashboard",
        help="scenario groups to run",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    parser.add_argument("--no-output", action="store_true", help="print only")
    ns = parser.parse_args()
    opts = Options(
        postgres=ns.postgres,
        seconds=ns.seconds,
        runs=ns.runs,
        clients=ns.clients,
        wrk_threads=ns.wrk_threads,
        pgbench_threads=ns.pgbench_threads,
        bulk_orders=ns.bulk_orders,
        bulk_time_limit=ns.bulk_time_limit,
        list_orders=ns.list_orders,
        only=set(ns.only.split(",")),
        output=None if ns.no_output else ns.output,
    )
    return opts


def main() -> None:
    opts = parse_args()
    # Scenario 12 (the dashboard) alone needs neither load generator.
    needed = ("wrk", "pgbench", "psql") if opts.only - {"dashboard"} else ()
    for tool in needed:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is required (apt-get install {tool} / postgresql-client)")
    started = time.monotonic()
    report = Report()
    report.commands = [
        "ordermill serve --workers 2   # and --workers 1 for scenario 8; SQLite: --workers 1",
        "# BENCH_MODE=place|hot|process|list_customer|list_status|whoami selects the requests",
        f"wrk -t{opts.wrk_threads} -c{opts.clients} -d{opts.seconds}s --timeout 10s"
        " -s bench/wrk/ordermill.lua http://127.0.0.1:PORT",
        f"pgbench -n -M prepared -c{opts.clients} -j{opts.pgbench_threads} -T{opts.seconds}"
        " -f bench/pgbench/{place,hot,process_ref}.sql -D customers=1000 -D products=10000",
        "ordermill seed --customers 1000 --products 10000 --orders 100000 --batch-size 20000",
        "ordermill orders process --all-pending --batch-size 500",
        "psql -X -v ON_ERROR_STOP=1 -f bulk_ref.sql   # scenario 4's reference, on a copy"
        " (CREATE DATABASE … TEMPLATE), from bench/references.py",
        "ordermill seed --customers 10000 --products 10000 --orders 1000000 --batch-size 20000",
        f"pgbench -n -M prepared -c{opts.clients} -j{opts.pgbench_threads} -T{opts.seconds}"
        " -f bench/pgbench/list_{customer,status}.sql -D customers=10000   # scenario 5's SQL",
        "/usr/bin/time -v ordermill orders export --format csv|jsonl -o FILE",
        "# scenario 6's reference: bench/sqlite_loop.py in-process on a copy of the database",
        "# scenario 13: uvicorn on bench/pipeline.py's app (ordermill's, plus GET /bench/empty),"
        " wrk -t1 -c16",
        "ordermill worker --once --concurrency 8   # scenario 9; scenarios 10-11: ordermill worker",
        "# scenario 12: ordermill.services.reports in-process (bench/dashboard.py), and"
        " GET /admin?period=30 from ordermill serve --workers 1",
    ]
    dbs = PgDatabases(opts.postgres)
    admin = engine_for(opts.postgres)
    pg_version = "PostgreSQL " + str(scalar(admin, "SHOW server_version")).split()[0]
    admin.dispose()
    wrk_version = (
        run(["wrk", "-v"], check=False)[1].stdout.splitlines()[0].split(" [")[0]
        if shutil.which("wrk")
        else "no wrk"
    )
    only = opts.only
    failure: BaseException | None = None
    try:
        if "writes" in only:
            postgres_writes(opts, dbs, report)
        small: dict[str, Any] = {}
        if "bulk" in only:
            small = bulk_and_export(opts, dbs, report)
        if "list" in only and small:
            listing_and_large_export(opts, dbs, report, small)
        if "sqlite" in only:
            figures = {row.scenario[:2]: row.figure for row in reversed(report.rows)}  # 1st
            pg_rows = {"place": figures.get("1.", "-"), "process": figures.get("3.", "-")}
            sqlite_writes(opts, report, pg_rows)
        if "pipeline" in only:
            from references import pipeline  # bench/references.py, beside this file

            pipeline(opts, dbs, report)
        if "notify" in only:
            from notify import notifications  # bench/notify.py, beside this file

            notifications(opts, dbs, report)
        if "dashboard" in only and not any(r.scenario.startswith("12.") for r in report.rows):
            from dashboard import dashboard  # bench/dashboard.py, beside this file

            dashboard(opts, dbs, report)
    except (BenchError, KeyboardInterrupt) as exc:
        failure = exc
    finally:
        dbs.drop_all()
    block = render(report, opts, started, pg_version, wrk_version)
    print(block)
    if failure is not None:
        raise SystemExit(f"benchmark failed: {failure}")
    if opts.output is not None:
        write_document(opts.output, block)
        log(f"wrote {opts.output}")


if __name__ == "__main__":
    # bench/notify.py and the modules beside it import this one as `suite`: the same module.
    sys.modules.setdefault("suite", sys.modules[__name__])
    main()
