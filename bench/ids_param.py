"""The lines of 50 orders read by an expanding ``IN`` and by ``= ANY(array)``, in-process.

    .venv/bin/ordermill seed --customers 200 --products 1000 --orders 20000   # once
    .venv/bin/python bench/ids_param.py --database postgresql://postgres@127.0.0.1:5432/DB

SQLAlchemy renders an expanding ``IN`` again at every execution (one parameter per id),
and PostgreSQL sees a new statement text for each count; ``= ANY(:ids)`` binds one
array. Each way reads the lines of 50 random orders ``--calls`` times through a
``Database.lookup`` session, in ``--rounds`` alternating rounds, and prints this
process's CPU time per read (median).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from sqlalchemy import Select, select, text

from ordermill.db import Database
from ordermill.services.order_views import line_columns
from ordermill.services.tables import one_of, order_lines


def statements() -> dict[str, Select[Any]]:
    def lines(where: Any) -> Select[Any]:
        return select(*line_columns()).where(where).order_by(order_lines.c.order_id)

    ids = order_lines.c.order_id
    return {  # tables.one_of's two forms, both sent to PostgreSQL
        "expanding IN": lines(one_of("sqlite", ids, "ids")),
        "= ANY(array)": lines(one_of("postgresql", ids, "ids")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    database = Database(opts.database)
    with database.lookup() as session:
        known = list(session.execute(text("SELECT id FROM orders LIMIT 20000")).scalars())
    cpu: dict[str, list[float]] = {}
    for _ in range(opts.rounds):
        for name, statement in statements().items():
            times = []
            for call in range(opts.calls + 50):  # the first 50 warm up (and prepare)
                ids = random.sample(known, 50)
                started = time.process_time()
                with database.lookup() as session:
                    session.execute(statement, {"ids": ids}).all()
                if call >= 50:
                    times.append(time.process_time() - started)
            cpu.setdefault(name, []).append(statistics.median(times))
    for name, medians in cpu.items():
        shown = ", ".join(f"{m * 1e6:.0f}" for m in medians)
        print(f"{name}: {statistics.median(medians) * 1e6:.0f} µs of CPU a read ({shown})")


if __name__ == "__main__":
    main()
