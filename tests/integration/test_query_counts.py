"""Order lists cost a fixed number of SQL statements, however long the page (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from ordermill import pg_pipeline
from ordermill.db import Database
from ordermill.services import carts
from tests import factories

ORDERS = 60
LINES_PER_ORDER = 3


class StatementLog:
    """Every SQL statement sent to the database's engine while recording."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.recording = False

    def __call__(self, *args: Any) -> None:
        _conn, _cursor, statement, *_rest = args
        if self.recording:
            self.statements.append(statement)

    def during(self, client: TestClient, path: str) -> tuple[list[Any], list[str]]:
        """The JSON list ``path`` returns, and the statements it took.

        The caller's token is checked first, outside the count: a server remembers a
        token for a few seconds, so only the first request would pay for its lookup.
        """
        assert client.get("/api/auth/whoami").status_code == 200
        self.statements = []
        self.recording = True
        try:
            response = client.get(path)
        finally:
            self.recording = False
        assert response.status_code == 200, response.text
        body: list[Any] = response.json()
        return body, list(self.statements)


@pytest.fixture
def sql(database: Database) -> Iterator[StatementLog]:
    log = StatementLog()
    event.listen(database.engine, "before_cursor_execute", log)
    yield log
    event.remove(database.engine, "before_cursor_execute", log)


@dataclass(frozen=True)
class Shop:
    buyer: int  # has all 60 orders of 3 lines
    other: int  # has 2 orders of their own


@pytest.fixture
def shop(database: Database) -> Shop:
    products = [factories.product(database, stock=1_000) for _ in range(LINES_PER_ORDER)]
    items = [(pid, quantity) for quantity, pid in enumerate(products, start=1)]
    buyer = factories.customer(database)
    other = factories.customer(database)
    for _ in range(ORDERS):
        factories.order(database, buyer, *items)
    for _ in range(2):
        factories.order(database, other, *items)
    return Shop(buyer, other)


def test_listing_orders_takes_as_many_statements_for_50_as_for_5(
    client: TestClient, sql: StatementLog, shop: Shop
) -> None:
    # Given 62 orders of 3 lines each (shop)

    # When a page of 5 and a page of 50 are listed
    small, small_sql = sql.during(client, "/api/orders?limit=5")
    large, large_sql = sql.during(client, "/api/orders?limit=50")

    # Then each page is complete, lines included, and both took the same statements
    assert [len(order["lines"]) for order in small] == [LINES_PER_ORDER] * 5
    assert [len(order["lines"]) for order in large] == [LINES_PER_ORDER] * 50
    assert len(large_sql) == len(small_sql), large_sql


def test_on_postgresql_a_page_of_5_and_a_page_of_50_send_the_same_statements(
    client: TestClient, database: Database, sql: StatementLog, shop: Shop
) -> None:
    # Given 62 orders of 3 lines each (shop), on PostgreSQL
    if database.is_sqlite:
        pytest.skip("SQLite's lines are read with an IN list as long as the page")

    # When a page of 5 and a page of 50 are listed
    _small, small_sql = sql.during(client, "/api/orders?limit=5")
    _large, large_sql = sql.during(client, "/api/orders?limit=50")

    # Then the texts are the same: the lines' ids go as one array, so each statement is
    # prepared once, not once per page size
    assert small_sql == large_sql
    assert any("= ANY (" in statement for statement in large_sql), large_sql


def test_listing_a_customers_orders_takes_as_many_statements_for_50_as_for_5(
    client: TestClient, sql: StatementLog, shop: Shop
) -> None:
    # Given a customer with 60 orders of 3 lines each, and another with 2 (shop)
    path = f"/api/customers/{shop.buyer}/orders"

    # When a page of 5 and a page of 50 of the first customer's orders are listed
    small, small_sql = sql.during(client, f"{path}?limit=5")
    large, large_sql = sql.during(client, f"{path}?limit=50")

    # Then each page holds only their orders, lines included, for the same statements
    assert {order["customer_id"] for order in small + large} == {shop.buyer}
    assert [len(order["lines"]) for order in small] == [LINES_PER_ORDER] * 5
    assert [len(order["lines"]) for order in large] == [LINES_PER_ORDER] * 50
    assert len(large_sql) == len(small_sql), large_sql


def test_a_page_of_orders_is_read_in_two_statements_without_a_transaction(
    client: TestClient, database: Database, shop: Shop
) -> None:
    # Given 62 orders of 3 lines each (shop), and a record of each statement's connection
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement != "BEGIN":  # SQLite's, sent as a statement
            driver = conn.connection.driver_connection
            seen.append((statement, getattr(driver, "autocommit", None) is True))

    assert client.get("/api/auth/whoami").status_code == 200  # the token, outside the count
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        # When pages of all orders and of one status are listed
        everyone = client.get("/api/orders?limit=50")
        pending = client.get("/api/orders?status=pending&limit=50")
    finally:
        event.remove(database.engine, "before_cursor_execute", record)

    # Then each took the page and its lines, and on PostgreSQL no BEGIN and ROLLBACK
    # round trips (each statement is its own snapshot, as in READ COMMITTED)
    assert everyone.status_code == pending.status_code == 200
    assert len(everyone.json()) == len(pending.json()) == 50
    assert len(seen) == 4, seen
    if database.is_sqlite:
        return
    assert all(autocommit for _statement, autocommit in seen), seen


@dataclass
class LoopTalk:
    """What went to PostgreSQL from the event loop: the statements of each read without
    a transaction, and of each write with its commit."""

    reads: list[int]
    writes: list[int]


@pytest.fixture
def loop_talk(monkeypatch: pytest.MonkeyPatch) -> LoopTalk:
    talk = LoopTalk([], [])
    run_async, run_with_commit_async = pg_pipeline.run_async, pg_pipeline.run_with_commit_async

    async def read(conn: Any, statements: Any) -> Any:
        talk.reads.append(len(statements))
        return await run_async(conn, statements)

    async def write(conn: Any, statements: Any) -> Any:
        talk.writes.append(len(statements))
        return await run_with_commit_async(conn, statements)

    monkeypatch.setattr(pg_pipeline, "run_async", read)
    monkeypatch.setattr(pg_pipeline, "run_with_commit_async", write)
    return talk


def test_placing_an_order_is_one_write_with_its_commit(
    client: TestClient, database: Database, sql: StatementLog, loop_talk: LoopTalk
) -> None:
    # Given a customer and two products
    buyer = factories.customer(database)
    items = [{"product_id": factories.product(database), "quantity": 2} for _ in range(2)]
    assert client.get("/api/auth/whoami").status_code == 200  # the token, outside the count

    # When an order is placed
    sql.recording = True
    try:
        answer = client.post("/api/orders", json={"customer_id": buyer, "items": items})
    finally:
        sql.recording = False

    # Then on PostgreSQL nothing was read, and the order and its number went with the
    # commit in one write from the event loop, none through the engine's threads
    assert (answer.status_code, answer.json()["number"][:4]) == (201, answer.json()["created"][:4])
    if database.is_sqlite:
        assert loop_talk == LoopTalk([], [])
        return
    assert sql.statements == []
    assert loop_talk == LoopTalk(reads=[], writes=[2])


def test_placing_and_processing_an_order_reads_once_and_writes_with_the_commit(
    client: TestClient, database: Database, sql: StatementLog, loop_talk: LoopTalk
) -> None:
    # Given a customer with money and two products
    buyer = factories.customer(database, balance=100_00)
    items = [{"product_id": factories.product(database), "quantity": 2} for _ in range(2)]
    assert client.get("/api/auth/whoami").status_code == 200  # the token, outside the count

    # When an order is placed and processed in one request
    sql.recording = True
    try:
        answer = client.post(
            "/api/orders", json={"customer_id": buyer, "items": items, "process": True}
        )
    finally:
        sql.recording = False

    # Then the customer and products were read once. On PostgreSQL that read is one
    # statement outside any transaction, and everything else (the order, its processing,
    # its number) went with the commit in one write, both from the event loop; on
    # SQLite the catalog read before placing is the one read.
    assert (answer.status_code, answer.json()["status"]) == (201, "processed"), answer.text
    if database.is_sqlite:
        reads = [s for s in sql.statements if s.lstrip().upper().startswith("SELECT")]
        assert len(reads) == 1, sql.statements
        return
    assert sql.statements == []
    assert loop_talk == LoopTalk(reads=[1], writes=[2])  # the order processed, its number


def test_checking_out_with_processing_reads_the_catalog_once(
    database: Database, sql: StatementLog
) -> None:
    # Given a customer with money and a cart of two products
    buyer = factories.customer(database, balance=100_00)
    pen, ink = factories.product(database), factories.product(database)
    with database.write() as session:
        for product in (pen, ink):
            carts.set_cart_item(session, buyer, product, 2)

    # When they check out asking for processing
    sql.recording = True
    try:
        with database.write() as session:
            order = carts.checkout(session, buyer, currency="USD", process=True)
    finally:
        sql.recording = False

    # Then the only reads were the catalog (with the balance) and the cart's own data:
    # processing read neither the new order nor its customer and products again
    assert order.status == "processed"
    reads = [s for s in sql.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2, reads
    assert all("FROM orders" not in s for s in reads), reads
