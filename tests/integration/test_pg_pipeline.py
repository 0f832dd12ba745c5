"""A transaction's last statements and its COMMIT reach PostgreSQL in one write, bound and
read as psycopg's cursors bind and read them; a failure there fails all of them."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ordermill import final_writes, pg_pipeline
from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import order_views
from ordermill.services import orders as order_service
from ordermill.services.order_items import ItemRequest
from tests import factories

pytestmark = pytest.mark.postgres_only


def statement(sql: str) -> pg_pipeline.Statement:
    """``:name`` placeholders, as the writers' statements have them."""
    return pg_pipeline.compiled(text(sql))


def libpq_url(database: Database) -> str:
    return make_url(database.url).set(drivername="postgresql").render_as_string(False)


@pytest.fixture
def conn(pg_database: Database) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(libpq_url(pg_database)) as connection:
        yield connection


def count(conn: psycopg.Connection[Any], sql: str) -> int:
    with psycopg.connect(conn.info.dsn) as other:
        row = other.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def test_the_rows_come_back_as_a_cursor_reads_them(conn: psycopg.Connection[Any]) -> None:
    sql = (
        "SELECT CAST(:n AS bigint) AS n, CAST(:price AS numeric) AS price, :name AS name,"
        " CAST(:at AS timestamptz) AS at, CAST(:tags AS text[]) AS tags,"
        " CAST(:detail AS jsonb) AS detail, CAST(:missing AS integer) AS missing"
    )
    params: dict[str, Any] = {
        "n": 2**40, "price": Decimal("12.34"), "name": "Zoë's <tea>",
        "at": datetime(2026, 12, 3, 10, 30, tzinfo=UTC), "tags": ["a", "b"],
        "detail": '{"k": [1, 2]}', "missing": None,
    }  # fmt: skip
    with psycopg.connect(conn.info.dsn) as other:
        as_psycopg = str(text(sql).compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[no-untyped-call]
        expected = other.execute(as_psycopg, params).fetchall()

    (rows,) = pg_pipeline.run_with_commit(conn, [(statement(sql), params)])

    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert rows[0].name == "Zoë's <tea>"
    assert rows[0].detail == {"k": [1, 2]}


def test_statements_run_in_order_in_one_transaction_then_commit(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS t (v integer)")
    conn.commit()
    insert = statement("INSERT INTO t (v) VALUES (:v) RETURNING v")
    total = statement("SELECT sum(v) AS s FROM t")

    rows = pg_pipeline.run_with_commit(conn, [(insert, {"v": 1}), (insert, {"v": 2}), (total, {})])

    assert [[r.v] for r in rows[0]] + [[r.v] for r in rows[1]] == [[1], [2]]
    assert rows[2][0].s == 3
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_transaction_already_open_is_continued_and_committed_with_them(
    pg_database: Database,
) -> None:
    ada = factories.customer(pg_database)
    with pg_database.write() as session:
        session.execute(text("UPDATE customers SET name = 'Ada L.' WHERE id = :id"), {"id": ada})
        final_writes.at_commit(
            session,
            text("UPDATE customers SET phone = '+15550100' WHERE id = :id RETURNING name"),
            {"id": ada},
            lambda _s, rows: None,
        )
    with pg_database.read() as session:
        row = session.execute(
            text("SELECT name, phone FROM customers WHERE id = :id"), {"id": ada}
        ).one()
    assert (row.name, row.phone) == ("Ada L.", "+15550100")


def test_a_failing_statement_fails_the_others_and_the_commit(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS pipeline_probe (v integer PRIMARY KEY)")
    conn.commit()
    insert = statement("INSERT INTO pipeline_probe (v) VALUES (:v)")

    with pytest.raises(psycopg.errors.UniqueViolation):
        pg_pipeline.run_with_commit(conn, [(insert, {"v": 1}), (insert, {"v": 1})])

    conn.rollback()
    assert count(conn, "SELECT count(*) FROM pipeline_probe") == 0
    # The connection goes on, with the statement it prepared.
    pg_pipeline.run_with_commit(conn, [(insert, {"v": 2})])
    assert count(conn, "SELECT count(*) FROM pipeline_probe") == 1
    conn.execute("DROP TABLE pipeline_probe")
    conn.commit()


def test_a_statement_is_prepared_once_per_connection(conn: psycopg.Connection[Any]) -> None:
    sql = statement("SELECT CAST(:v AS integer) + 1 AS w")
    prepared = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'ordermill_%'"

    for v in range(3):
        assert pg_pipeline.run_with_commit(conn, [(sql, {"v": v})])[0][0].w == v + 1

    assert conn.execute(prepared).fetchone() == (1,)


def test_statements_deallocated_behind_its_back_are_prepared_again(
    conn: psycopg.Connection[Any],
) -> None:
    sql = statement("SELECT CAST(:v AS integer) AS v")
    pg_pipeline.run_with_commit(conn, [(sql, {"v": 1})])
    conn.execute("DEALLOCATE ALL")
    conn.commit()

    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        pg_pipeline.run_with_commit(conn, [(sql, {"v": 2})])
    conn.rollback()

    assert pg_pipeline.run_with_commit(conn, [(sql, {"v": 3})])[0][0].v == 3


def test_placing_after_psycopg_deallocated_everything_on_a_rollback_prepares_again(
    pg_database: Database,
) -> None:
    """psycopg prepares a statement it runs five times, and on a rollback deallocates
    every statement of the connection: ours too."""
    url = pg_database.url
    database = Database(url, Settings(database_url=url, db_pool_size=1, db_max_overflow=0))
    try:
        ada = factories.customer(database)
        tea = factories.product(database, stock=10)

        def place() -> str | None:
            with database.write() as session:
                pending = order_service.place_order_at_commit(
                    session, customer_id=ada, items=[ItemRequest(tea, 1)], currency="USD"
                )
            return pending.view.number

        place()
        with database.read() as session:  # the same, only connection
            for _ in range(6):
                session.execute(text("SELECT count(*) FROM products WHERE id > :id"), {"id": 0})
            psycopg_prepared = session.execute(
                text("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE '_pg3_%'")
            ).scalar_one()
        assert psycopg_prepared >= 1  # so the rollback deallocated all

        assert place() is not None
        assert place() is not None
    finally:
        database.dispose()


def test_a_connection_lost_on_the_way_is_closed_not_reused(conn: psycopg.Connection[Any]) -> None:
    pid = conn.info.backend_pid
    with psycopg.connect(conn.info.dsn, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])

    with pytest.raises(psycopg.OperationalError):
        pg_pipeline.run_with_commit(conn, [(statement("SELECT 1 AS one"), {})])

    assert conn.closed


def test_a_unit_of_work_on_a_lost_connection_fails_and_the_next_one_works(
    pg_database: Database,
) -> None:
    ada = factories.customer(pg_database)
    tea = factories.product(pg_database, stock=10)

    def place_on_a_lost_connection() -> None:
        with (
            psycopg.connect(libpq_url(pg_database), autocommit=True) as other,
            pg_database.write() as session,
        ):
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
            order_service.place_order_at_commit(
                session, customer_id=ada, items=[ItemRequest(tea, 1)], currency="USD"
            )

    with pytest.raises(OperationalError):
        place_on_a_lost_connection()

    factories.customer(pg_database)  # the pool hands out a working connection
    assert count_orders(pg_database) == 0


def count_orders(database: Database) -> int:
    with database.read() as session:
        return order_service.count_orders(session)


# ---------------------------------------------------------------- one write


class Recorder:
    """A TCP relay to PostgreSQL that notes each chunk it passes on, and from which side."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.chunks: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        pairs: dict[socket.socket, tuple[socket.socket, str]] = {}
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                client = None
            if client is not None:
                server = socket.create_connection(self.target)
                pairs[client] = (server, "client")
                pairs[server] = (client, "server")
            ready, _, _ = select.select(list(pairs), [], [], 0.05)
            for sock in ready:
                other, side = pairs[sock]
                data = sock.recv(1 << 20)
                if not data:
                    other.close()
                    sock.close()
                    pairs.pop(sock, None)
                    pairs.pop(other, None)
                    continue
                with self.lock:
                    self.chunks.append((side, len(data)))
                other.sendall(data)
        for sock in pairs:
            sock.close()

    def take(self) -> list[tuple[str, int]]:
        with self.lock:
            taken, self.chunks = self.chunks, []
        return taken

    def close(self) -> None:
        self.stopped = True
        self.thread.join(5)
        self.listener.close()


def test_placing_sends_the_order_its_number_and_the_commit_in_one_write(
    pg_database: Database,
) -> None:
    url = make_url(pg_database.url)
    recorder = Recorder(url.host or "127.0.0.1", url.port or 5432)
    relayed = url.set(host="127.0.0.1", port=recorder.port).render_as_string(False)
    database = Database(relayed, Settings(database_url=relayed))
    try:
        ada = factories.customer(database)
        tea = factories.product(database, stock=10)
        for quantity in (1, 2):  # the second is timed: statements prepared, pool warm
            recorder.take()
            with database.write() as session:
                pending = order_service.place_order_at_commit(
                    session, customer_id=ada, items=[ItemRequest(tea, quantity)],
                    currency="USD",
                )  # fmt: skip
        chunks = recorder.take()
    finally:
        database.dispose()
        recorder.close()

    assert isinstance(pending.view, order_views.OrderView)
    assert pending.view.number is not None
    assert [side for side, _ in chunks if side == "client"] == ["client"]
