"""The CPU one customer's page of 50 orders costs in-process, one page at a time.

    .venv/bin/ordermill seed --customers 200 --products 1000 --orders 20000   # once
    .venv/bin/python bench/listing_cpu.py --database postgresql://postgres@127.0.0.1:5432/DB

What ``GET /api/orders?customer_id=…&limit=50`` does after its token check, without
the HTTP server: ``list_orders`` in a ``Database.lookup`` session (the page, then its
lines), ``order_document`` for each order and ``json_bytes`` of the list. Prints the
median of this process's CPU time per page, and of the documents and JSON alone, over
``--pages`` pages of random customers with at least 60 orders.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from sqlalchemy import text

from ordermill.db import Database
from ordermill.services import order_views
from ordermill.web.http import json_bytes
from ordermill.web.present import order_document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--pages", type=int, default=2000)
    opts = parser.parse_args()
    database = Database(opts.database)
    with database.lookup() as session:
        found = session.execute(
            text("SELECT customer_id FROM orders GROUP BY 1 HAVING count(*) >= 60 LIMIT 200")
        )
        customers = list(found.scalars())
    if not customers:
        raise SystemExit("no customer has 60 orders: seed more orders per customer")

    def page(customer: int) -> float:
        """Lists the page; returns the CPU its documents and JSON took."""
        filters = order_views.OrderFilters(customer_id=customer)
        with database.lookup() as session:
            listed = order_views.list_orders(session, filters, limit=50)
        started = time.process_time()
        json_bytes([order_document(view) for view in listed.items])
        return time.process_time() - started

    whole, documents = [], []
    for call in range(opts.pages + 50):  # the first 50 warm up (and prepare)
        started = time.process_time()
        rendering = page(random.choice(customers))
        if call >= 50:
            whole.append(time.process_time() - started)
            documents.append(rendering)
    print(
        f"{opts.pages} pages: {statistics.median(whole) * 1e3:.2f} ms of CPU a page,"
        f" of which documents and JSON {statistics.median(documents) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
