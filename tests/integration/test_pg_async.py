"""The event loop's own connections: a write with its commit and a read without a
transaction from a coroutine, a bounded pool that never hands out a dead connection,
and units of work that are nothing but their last writes (``Database.last_writes``)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, UnboundExecutionError

from ordermill import final_writes, pg_pipeline
from ordermill.config import Settings
from ordermill.db import Database, explain
from ordermill.errors import Code, OrdermillError
from ordermill.outages import Failure, failure_of
from ordermill.pg_async import LoopPool, engine_connector
from ordermill.services import orders as order_service
from ordermill.services.order_items import ItemRequest
from tests import factories

pytestmark = pytest.mark.postgres_only

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: this one may have a loop running already
    (Playwright's, kept by the browser tests)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def statement(sql: str) -> pg_pipeline.Statement:
    return pg_pipeline.compiled(text(sql))


@pytest.fixture
def own(pg_database: Database) -> Iterator[Database]:
    """The test database opened again with its connections named, so that a test counts
    its own connections only (the suite's other apps keep theirs open meanwhile)."""
    name = f"ordermill_loop_{uuid.uuid4().hex[:10]}"
    url = make_url(pg_database.url).update_query_dict({"application_name": name})
    text_url = url.render_as_string(hide_password=False)
    database = Database(text_url, Settings(database_url=text_url))
    yield database
    database.dispose()


def backends(database: Database) -> set[int]:
    """The backends of ``database``'s connections (``own``'s name)."""
    url = make_url(database.url)
    name = url.query["application_name"]
    libpq = url.difference_update_query(["application_name"]).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [name]
        ).fetchall()
    return {row[0] for row in rows}


def terminate(database: Database, pid: int) -> None:
    url = make_url(database.url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        # Gone once pg_stat_activity no longer lists it.
        for _ in range(100):
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                return
            other.execute("SELECT pg_sleep(0.01)")


@pytest.fixture
def pool(own: Database) -> Iterator[LoopPool]:
    loop_pool = LoopPool(engine_connector(own.engine), size=2, timeout=5)
    yield loop_pool
    loop_pool.close()


# ---------------------------------------------------------------- the conversation


def test_a_write_from_the_event_loop_commits_and_returns_its_rows(
    pg_database: Database, pool: LoopPool
) -> None:
    # Given a table
    create = statement("CREATE TABLE IF NOT EXISTS loop_t (v int)")
    insert = statement("INSERT INTO loop_t (v) VALUES (:v) RETURNING v * 10 AS w")

    # When a coroutine writes two rows with the commit
    async def write() -> list[list[Any]]:
        async with pool.connection() as conn:
            await pg_pipeline.run_with_commit_async(conn, [(create, {})])
            rows = await pg_pipeline.run_with_commit_async(
                conn, [(insert, {"v": 1}), (insert, {"v": 2})]
            )
            assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
            return rows

    try:
        rows = run(write())

        # Then each statement's rows came back, and another connection sees them committed
        assert [[r.w for r in statement_rows] for statement_rows in rows] == [[10], [20]]
        with pg_database.read() as session:
            total = session.execute(text("SELECT sum(v) FROM loop_t")).scalar_one()
        assert total == 3
    finally:
        with pg_database.write() as session:
            session.execute(text("DROP TABLE IF EXISTS loop_t"))


def test_a_read_from_the_event_loop_opens_no_transaction(pool: LoopPool) -> None:
    async def read(sql: str) -> tuple[list[Any], psycopg.pq.TransactionStatus]:
        async with pool.connection() as conn:
            (rows,) = await pg_pipeline.run_async(conn, [(statement(sql), {})])
            return rows, conn.pgconn.transaction_status

    rows, status = run(read("SELECT 1 AS one"))
    assert rows[0].one == 1
    assert status == psycopg.pq.TransactionStatus.IDLE  # nothing left open

    # No BEGIN went first: a savepoint, which needs a transaction block, is refused
    with pytest.raises(psycopg.errors.NoActiveSqlTransaction):
        run(read("SAVEPOINT inside"))


def test_a_failing_statement_writes_nothing_and_its_connection_is_not_reused(
    pg_database: Database, own: Database
) -> None:
    # Given a customer and a product
    ada = factories.customer(pg_database)
    tea = factories.product(pg_database)
    duplicate = text("INSERT INTO customers SELECT * FROM customers WHERE id = :id")
    before = backends(own)

    # When a unit of work's last writes fail on the server
    async def fail() -> None:
        async with own.last_writes() as session:
            final_writes.at_commit(session, duplicate, {"id": ada}, lambda _s, _rows: None)

    with pytest.raises(IntegrityError):
        run(fail())

    # Then the connection left in a failed transaction was closed, not kept
    assert _settled(own, before)

    # And the next unit of work gets a working one
    async def place() -> str:
        async with own.last_writes() as session:
            pending = order_service.place_order_last_writes(
                session, customer_id=ada, items=[ItemRequest(tea, 1)], currency="USD"
            )
        return pending.view.number

    assert run(place()).endswith("-00001")


# ---------------------------------------------------------------- the pool


def test_the_pool_opens_at_most_its_size_and_the_others_wait_their_turn(
    own: Database, pool: LoopPool
) -> None:
    before = backends(own)
    held: list[int] = []
    most = 0

    async def use() -> None:
        nonlocal most
        async with pool.connection() as conn:
            held.append(conn.info.backend_pid)
            most = max(most, len(backends(own) - before))
            await asyncio.sleep(0.02)

    async def many() -> None:
        await asyncio.gather(*(use() for _ in range(8)))

    run(many())

    assert len(held) == 8
    assert len(set(held)) == 2
    assert most == 2


def test_waiting_longer_than_the_timeout_is_a_database_unavailable_error(
    pg_database: Database,
) -> None:
    pool = LoopPool(engine_connector(pg_database.engine), size=1, timeout=0.2)

    async def hold_and_wait() -> None:
        async with pool.connection(), pool.connection():
            pass  # never: the only connection is held above

    try:
        with pytest.raises(OrdermillError) as refused:
            run(hold_and_wait())
        assert refused.value.code is Code.DATABASE_UNAVAILABLE
    finally:
        pool.close()


def test_a_connection_the_server_ended_while_idle_is_not_handed_out(
    pg_database: Database, pool: LoopPool
) -> None:
    async def backend_pid() -> int:
        async with pool.connection() as conn:
            (rows,) = await pg_pipeline.run_async(
                conn, [(statement("SELECT pg_backend_pid() AS pid"), {})]
            )
            return int(rows[0].pid)

    # Given a pooled connection whose backend is ended while it waits in the pool
    first = run(backend_pid())
    terminate(pg_database, first)

    # When it is asked for again, it is replaced: the next statement runs, on a new backend
    second = run(backend_pid())
    assert second != first


def test_a_cancelled_conversation_closes_its_connection_and_frees_its_place(
    pg_database: Database,
) -> None:
    pool = LoopPool(engine_connector(pg_database.engine), size=1, timeout=5)
    sleep = statement("SELECT pg_sleep(5)")

    async def cancelled_then_again() -> int:
        async def slow() -> None:
            async with pool.connection() as conn:
                await pg_pipeline.run_async(conn, [(sleep, {})])

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with pool.connection() as conn:  # the pool's only place is free again
            (rows,) = await pg_pipeline.run_async(conn, [(statement("SELECT 1 AS one"), {})])
            return int(rows[0].one)

    try:
        assert run(asyncio.wait_for(cancelled_then_again(), 3)) == 1
    finally:
        pool.close()


def test_dispose_closes_the_event_loops_connections(own: Database) -> None:
    async def read() -> None:
        await own.lookup_async(text("SELECT 1 AS one"), {})

    run(read())
    assert len(backends(own)) == 1

    own.dispose()
    assert _settled(own, set())

    # And, as an engine after dispose, it opens a new one when asked again
    run(read())
    assert len(backends(own)) == 1


def test_a_connection_lent_when_the_pool_is_closed_is_closed_when_it_comes_back(
    own: Database, pool: LoopPool
) -> None:

    async def close_while_lent() -> tuple[int, int]:
        async with pool.connection() as lent:
            pool.close()
            first = lent.info.backend_pid
        async with pool.connection() as fresh:
            return first, fresh.info.backend_pid

    first, second = run(close_while_lent())

    assert first != second
    assert _settled(own, {second})


def _settled(database: Database, expected: set[int]) -> bool:
    """Whether ``database``'s backends come to be ``expected`` within a second (a
    closed connection's backend ends once it reads the goodbye)."""
    for _ in range(100):
        if backends(database) == expected:
            return True
        time.sleep(0.01)
    return False


# ---------------------------------------------------------------- units of work


def test_a_unit_of_work_on_the_event_loop_reads_nothing_through_its_session(
    pg_database: Database,
) -> None:
    async def read_through_the_session() -> None:
        async with pg_database.last_writes() as session:
            session.execute(text("SELECT 1"))

    with pytest.raises(UnboundExecutionError):
        run(read_through_the_session())


def test_an_order_refused_on_the_event_loop_is_explained_as_under_locks(
    pg_database: Database,
) -> None:
    # Given a customer and a product withdrawn from sale
    ada = factories.customer(pg_database)
    gone = factories.product(pg_database, active=False)

    # When an order for it is placed from the event loop
    async def place() -> order_service.PendingOrder:
        async with pg_database.last_writes() as session:
            return order_service.place_order_last_writes(
                session, customer_id=ada, items=[ItemRequest(gone, 1)], currency="USD"
            )

    pending = run(place())

    # Then nothing was written, and the reason is the one placing under locks gives
    assert pending.refused
    with pg_database.read() as session:
        assert order_service.count_orders(session) == 0
        with pytest.raises(OrdermillError) as refused:
            pending.explain(session)
    with pytest.raises(OrdermillError) as under_locks, pg_database.write() as session:
        order_service.place_order(
            session, customer_id=ada, items=[ItemRequest(gone, 1)], currency="USD"
        )
    assert (refused.value.code, str(refused.value)) == (
        under_locks.value.code,
        str(under_locks.value),
    )


# ---------------------------------------------------------------- outages


def test_a_server_that_cant_be_reached_is_an_outage_to_connect(pg_database: Database) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connecting is refused
    url = make_url(pg_database.url).set(port=port).render_as_string(False)
    database = Database(url, Settings(database_url=url))

    async def read() -> None:
        await database.lookup_async(text("SELECT 1 AS one"), {})

    try:
        with pytest.raises(DBAPIError) as failed:
            run(read())
    finally:
        database.dispose()
    assert failure_of(failed.value) is Failure.CANT_CONNECT
    explained = explain(failed.value, url)
    assert explained is not None
    assert explained.code is Code.DATABASE_UNAVAILABLE


def test_a_connection_lost_mid_statement_is_an_outage_and_is_not_kept(
    pg_database: Database, own: Database
) -> None:
    async def lost_then_again() -> tuple[BaseException | None, int, int]:
        slow = asyncio.create_task(own.lookup_async(text("SELECT pg_sleep(5)"), {}))
        while not backends(own):
            await asyncio.sleep(0.01)
        (pid,) = backends(own)
        await asyncio.to_thread(terminate, pg_database, pid)
        failure = None
        try:
            await slow
        except DBAPIError as exc:
            failure = exc
        rows = await own.lookup_async(text("SELECT pg_backend_pid() AS pid"), {})
        return failure, pid, int(rows[0].pid)

    failure, lost_pid, next_pid = run(asyncio.wait_for(lost_then_again(), 4))

    assert isinstance(failure, DBAPIError)
    assert failure_of(failure) is Failure.CONNECTION_LOST
    assert next_pid != lost_pid
