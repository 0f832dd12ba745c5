"""Scenario 2 alone, with what it costs: orders placed and processed on 3 hot products.

    .venv/bin/python bench/hot.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --runs 3 --seconds 10

Seeds a throwaway ``bench_hot_*`` database as the suite's write scenarios do (1,000
customers, 10,000 products), serves it with ``ordermill serve --workers 2`` and runs,
``--runs`` times one after the other: ``hot.sql`` with pgbench (the ceiling), then
``POST /api/orders`` with ``"process": true`` on products 1, 2 and 3 with wrk (16
clients). Beside each rate it prints the CPU time per order of the server's processes
and of PostgreSQL's (read from /proc around the run) and the multixacts PostgreSQL made
(``mxid_age`` of the database): a second transaction locking a row another still holds
a lock on makes one, and on hot rows they cost more than the orders. Run it before and
after a change (``git stash``) to compare them on the same machine in the same session.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import (  # bench/suite.py, beside this file
    HOT,
    Options,
    PgDatabases,
    engine_for,
    execute,
    pgbench,
    prepare_for_writes,
    scalar,
    seed,
    serving,
    wrk,
)
from suite import admin_token as token_for

CUSTOMERS, PRODUCTS = 1000, 10_000


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes (the live ones)."""
    seconds = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings (a process started since spent it all)."""
    return sum(now - before.get(pid, 0.0) for pid, now in after.items())


def process_tree(pid: int) -> list[int]:
    """The process and its descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo += [int(child) for child in task.read_text().split()]
    return tree


def postgres_backends() -> list[int]:
    """PostgreSQL's processes (by their command line)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres"):
                found.append(int(pid))
        except OSError:
            continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", required=True, help="admin URL")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--mode", choices=("hot", "place"), default="hot",
        help="hot: scenario 2 (hot.sql); place: scenario 1 (place.sql, 3 random products)",
    )  # fmt: skip
    ns = parser.parse_args()
    opts = Options(
        postgres=ns.postgres, seconds=ns.seconds, runs=ns.runs, clients=ns.clients,
        wrk_threads=min(2, ns.clients), pgbench_threads=min(2, ns.clients), bulk_orders=0,
        bulk_time_limit=0, list_orders=0, only={ns.mode}, output=None,
    )  # fmt: skip
    databases = PgDatabases(ns.postgres)
    try:
        url = databases.create("hot")
        engine = engine_for(url)
        seed(url, CUSTOMERS, PRODUCTS, 1000, 42)
        prepare_for_writes(engine)
        execute(engine, "CREATE SEQUENCE bench_number_seq")
        env = {
            "BENCH_TOKEN": token_for(url),
            "BENCH_CUSTOMERS": str(CUSTOMERS),
            "BENCH_PRODUCTS": str(PRODUCTS),
            "BENCH_HOT": ",".join(map(str, HOT)),
        }
        variables = (
            {"customers": CUSTOMERS, "h1": HOT[0], "h2": HOT[1], "h3": HOT[2]}
            if ns.mode == "hot"
            else {"customers": CUSTOMERS, "products": PRODUCTS}
        )
        script = f"{ns.mode}.sql"

        def ids_and_orders() -> int:
            sql = "SELECT (SELECT last_value FROM orders_id_seq) - (SELECT count(*) FROM orders)"
            return int(scalar(engine, sql))

        def multixacts() -> int:
            sql = "SELECT mxid_age(datminmxid) FROM pg_database WHERE datname = current_database()"
            return int(scalar(engine, sql))

        with serving(url, 2) as two:
            for run in range(1, ns.runs + 1):
                made = multixacts()
                ceiling = pgbench(url, script, ns.seconds, variables, opts)
                made = multixacts() - made
                print(f"run {run} {script:9} {ceiling.tps:7.1f} tx/s      multixacts {made:6d}")
                assert two.process is not None
                served = cpu_seconds(process_tree(two.process.pid))
                backends, made = cpu_seconds(postgres_backends()), multixacts()
                unused = ids_and_orders()
                app = wrk(two, ns.mode, ns.seconds, env, opts)
                unused = ids_and_orders() - unused
                server_cpu = spent(served, cpu_seconds(process_tree(two.process.pid)))
                postgres_cpu = spent(backends, cpu_seconds(postgres_backends()))
                made = multixacts() - made
                orders = max(app.ok + app.conflict, 1)
                print(
                    f"run {run} ordermill {app.rate:7.1f} orders/s  multixacts"
                    f" {made:6d}  p50 {app.p50_ms:.1f} ms  p99"
                    f" {app.p99_ms:.1f} ms  CPU per order: server"
                    f" {server_cpu / orders * 1000:.2f} ms, PostgreSQL"
                    f" {postgres_cpu / orders * 1000:.2f} ms"
                    f"  ({app.conflict} out of stock, {app.other} other errors,"
                    f" {unused} order ids left unused: decided again under locks, or rolled back)"
                    f"  ratio {app.rate / ceiling.tps:.0%}"
                )
        engine.dispose()
    finally:
        databases.drop_all()


if __name__ == "__main__":
    main()
