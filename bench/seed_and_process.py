"""Benchmark: seed a store, then bulk-process every pending order, through the real CLI.

    .venv/bin/python bench/seed_and_process.py [--orders 100000] [--runs 3] [--postgres URL]

Each run gets a fresh database (a temp SQLite file; with --postgres, also a throwaway
PostgreSQL database), seeds it with `ordermill seed`, gives every customer a large
balance so processing measures work rather than refusals, then times
`ordermill orders process --all-pending`. It prints medians over the runs and checks
afterwards that no stock went negative and every order was processed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ordermill.config import Settings

CLI = str(Path(sys.executable).with_name("ordermill"))


def run_cli(url: str, *args: str) -> float:
    env = {**os.environ, "ORDERMILL_DATABASE_URL": url}
    started = time.perf_counter()
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ordermill {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def one_run(url: str, orders: int) -> tuple[float, float]:
    seed_s = run_cli(
        url, "seed", "--customers", "1000", "--products", "10000", "--orders", str(orders),
        "--random-seed", "42",
    )  # fmt: skip
    engine = create_engine(Settings(database_url=url).database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE customers SET balance = 100000000000"))
    process_s = run_cli(url, "orders", "process", "--all-pending", "--batch-size", "500")
    with engine.connect() as conn:
        pending = conn.execute(text("SELECT count(*) FROM orders WHERE status = 'pending'"))
        negative = conn.execute(text("SELECT count(*) FROM products WHERE stock < 0"))
        assert pending.scalar_one() == 0, "orders left pending"
        assert negative.scalar_one() == 0, "stock went negative"
    engine.dispose()
    return seed_s, process_s


def postgres_database(admin_url: str) -> tuple[str, str]:
    admin = make_url(Settings(database_url=admin_url).database_url)
    name = f"ordermill_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False), name


def drop_postgres(admin_url: str, name: str) -> None:
    engine = create_engine(
        Settings(database_url=admin_url).database_url, isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--postgres", help="an admin URL, e.g. postgresql://postgres@127.0.0.1/test"
    )
    args = parser.parse_args()

    results: dict[str, list[tuple[float, float]]] = {"SQLite": []}
    if args.postgres:
        results["PostgreSQL"] = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            results["SQLite"].append(one_run(f"sqlite:///{tmp}/bench.db", args.orders))
        if args.postgres:
            url, name = postgres_database(args.postgres)
            try:
                results["PostgreSQL"].append(one_run(url, args.orders))
            finally:
                drop_postgres(args.postgres, name)

    print(f"{args.orders} orders, median of {args.runs} runs")
    print("| database | seed (s) | seed orders/s | process all (s) | processed orders/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, runs in results.items():
        seed_s = statistics.median(r[0] for r in runs)
        process_s = statistics.median(r[1] for r in runs)
        print(
            f"| {name} | {seed_s:.1f} | {args.orders / seed_s:,.0f} "
            f"| {process_s:.1f} | {args.orders / process_s:,.0f} |"
        )


if __name__ == "__main__":
    main()
