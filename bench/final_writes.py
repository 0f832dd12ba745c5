"""A transaction's last statements and COMMIT, three ways, on one connection.

    .venv/bin/python bench/final_writes.py --postgres postgresql://postgres@127.0.0.1:5432/test

Each way runs ``BEGIN``, two small statements and ``COMMIT`` ``--calls`` times in a
loop and prints the wall time and this process's CPU time per transaction, in
``--rounds`` alternating rounds: psycopg's ``conn.pipeline()`` (a flush and a poll per
command), the same statements one round trip each, and ``pg_pipeline.run_with_commit``
(queued in libpq, flushed once), which ``final_writes`` uses on PostgreSQL. Nothing is
written: the statements read a catalog table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import text

from ordermill import pg_pipeline

FIRST = "SELECT oid, relname FROM pg_class WHERE oid = ANY(CAST(:ids AS oid[]))"
SECOND = "SELECT CAST(:year AS integer) + 1 AS next"
PARAMS: dict[str, Any] = {"ids": [1259, 1247, 1249], "year": 2026}


def ways(conn: psycopg.Connection[Any]) -> dict[str, Callable[[], object]]:
    as_psycopg = [pg_pipeline.compiled(text(sql)) for sql in (FIRST, SECOND)]
    pyformat = [
        sql.replace(":ids", "%(ids)s").replace(":year", "%(year)s") for sql in (FIRST, SECOND)
    ]

    def psycopg_pipeline() -> object:
        with conn.pipeline():
            cursors = [conn.cursor() for _ in pyformat]
            for cursor, sql in zip(cursors, pyformat, strict=True):
                cursor.execute(sql, PARAMS)
            conn.commit()
        return [cursor.fetchall() for cursor in cursors]

    def one_by_one() -> object:
        rows = [conn.execute(sql, PARAMS).fetchall() for sql in pyformat]
        conn.commit()
        return rows

    def one_write() -> object:
        return pg_pipeline.run_with_commit(conn, [(s, PARAMS) for s in as_psycopg])

    return {
        "psycopg pipeline": psycopg_pipeline,
        "one round trip each": one_by_one,
        "pg_pipeline, one write": one_write,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", required=True, help="a database URL (libpq form)")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    ns = parser.parse_args()
    with psycopg.connect(ns.postgres.replace("postgresql+psycopg://", "postgresql://")) as conn:
        measured: dict[str, list[tuple[float, float]]] = {}
        for _ in range(ns.rounds):
            for name, run in ways(conn).items():
                for _ in range(100):  # warm: statements prepared, caches filled
                    run()
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(ns.calls):
                    run()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                measured.setdefault(name, []).append((wall / ns.calls, cpu / ns.calls))
    for name, runs in measured.items():
        wall = statistics.median(w for w, _ in runs) * 1e6
        cpu = statistics.median(c for _, c in runs) * 1e6
        print(f"{name:24} wall {wall:6.0f} µs   client CPU {cpu:6.0f} µs per transaction")


if __name__ == "__main__":
    main()
