"""Scenario 6's reference: orders placed and then processed by a plain Python loop on
``sqlite3``, in one process, with the pragmas ordermill sets on every connection
(``ordermill.db._configure_sqlite``) and its ``BEGIN IMMEDIATE`` for writes.

Per order, two transactions: the first inserts a pending order with 3 lines of random
products (name, SKU and price read in the same transaction), 1 to 3 units each, and
its ``order.created`` outbox row; the second processes it: takes the stock of its
products in id order, each only if enough is left, sets the lines' quantities and
totals, marks the order processed and paid, charges the customer's balance with one
ledger entry, and writes one timeline event and one ``order.processed`` outbox row.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import time
from pathlib import Path

from ordermill.config import Settings


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "PRAGMA foreign_keys = ON",
        f"PRAGMA busy_timeout = {int(Settings().sqlite_busy_timeout_ms)}",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
    ):
        conn.execute(pragma)
    return conn


def now() -> str:
    """UTC, naive, as SQLAlchemy stores ordermill's datetimes on SQLite."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def place(conn: sqlite3.Connection, number: str, customer: int, items: dict[int, int]) -> int:
    conn.execute("BEGIN IMMEDIATE")
    ids = sorted(items)
    found = conn.execute(
        "SELECT id, name, sku, price FROM products WHERE id IN (?, ?, ?) ORDER BY id", ids
    ).fetchall()
    total = sum(price * items[pid] for pid, _name, _sku, price in found)
    at = now()
    (order_id,) = conn.execute(
        "INSERT INTO orders (number, customer_id, status, created, currency, extra, total,"
        " paid, refunded) VALUES (?, ?, 'pending', ?, 'USD', '{}', ?, 0, 0) RETURNING id",
        (number, customer, at, total),
    ).fetchone()
    conn.executemany(
        "INSERT INTO order_lines (order_id, product_id, product_name, sku, unit_price,"
        " quantity_ordered, quantity, line_total, quantity_returned, quantity_restocked)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0)",
        [(order_id, pid, name, sku, price, items[pid]) for pid, name, sku, price in found],
    )
    conn.execute(
        "INSERT INTO outbox_events (type, order_id, data, created)"
        " VALUES ('order.created', ?, '{}', ?)",
        (order_id, at),
    )
    conn.execute("COMMIT")
    return int(order_id)


def process(conn: sqlite3.Connection, order_id: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    customer, total = conn.execute(
        "SELECT customer_id, total FROM orders WHERE id = ? AND status = 'pending'", (order_id,)
    ).fetchone()
    lines = conn.execute(
        "SELECT product_id, quantity_ordered FROM order_lines WHERE order_id = ?"
        " ORDER BY product_id",
        (order_id,),
    ).fetchall()
    at = now()
    for product_id, quantity in lines:
        taken = conn.execute(
            "UPDATE products SET stock = stock - ?, updated = ? WHERE id = ? AND stock >= ?",
            (quantity, at, product_id, quantity),
        )
        if taken.rowcount != 1:
            raise RuntimeError(f"product {product_id} is out of stock")
    conn.execute(
        "UPDATE order_lines SET quantity = quantity_ordered,"
        " line_total = quantity_ordered * unit_price WHERE order_id = ?",
        (order_id,),
    )
    conn.execute(
        "UPDATE orders SET status = 'processed', processed = ?, strategy = 'adjust',"
        " payment_flow = 'balance', paid = total WHERE id = ?",
        (at, order_id),
    )
    (balance,) = conn.execute(
        "UPDATE customers SET balance = balance - ?, updated = ? WHERE id = ? RETURNING balance",
        (total, at, customer),
    ).fetchone()
    conn.execute(
        "INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id,"
        " reason, actor) VALUES (?, ?, 'charge', ?, ?, ?, 'loop', 'loop')",
        (customer, at, -total, balance, order_id),
    )
    conn.execute(
        "INSERT INTO order_events (order_id, at, kind, actor, visibility, detail)"
        " VALUES (?, ?, 'processed', 'loop', 'customer', '{}')",
        (order_id, at),
    )
    conn.execute(
        "INSERT INTO outbox_events (type, order_id, data, created)"
        " VALUES ('order.processed', ?, '{}', ?)",
        (order_id, at),
    )
    conn.execute("COMMIT")


def placed_then_processed(
    path: Path, customers: int, products: int, seconds: float, tag: str
) -> float:
    """Place then process orders for ``seconds``; orders per second (both done)."""
    conn = connect(path)
    rng = random.Random(tag)
    done = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            items = {pid: rng.randint(1, 3) for pid in rng.sample(range(1, products + 1), 3)}
            order_id = place(conn, f"L{tag}-{done}", rng.randint(1, customers), items)
            process(conn, order_id)
            done += 1
    finally:
        conn.close()
    return done / (time.perf_counter() - started)
