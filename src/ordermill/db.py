"""Engine, sessions and units of work for SQLite and PostgreSQL.

Entry points (API routes, CLI commands) own the transaction: they open
``database.write()`` or ``database.read()``, call services, and the context
manager commits once or rolls back everything.

SQLite ignores ``FOR UPDATE``, so a write transaction there starts with
``BEGIN IMMEDIATE`` (it holds the database's write lock from the first
statement) and, inside one process, writers queue on a lock of our own, first come
first served, rather than polling SQLite's busy handler, which keeps tail latency low.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, TextClause, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ordermill import final_writes, pg_pipeline
from ordermill.config import Settings, get_settings
from ordermill.errors import Code, OrdermillError, error
from ordermill.fifo_lock import FifoLock
from ordermill.outages import Failure, failure_of
from ordermill.pg_async import LoopPool, engine_connector

_WRITE_OPTION = "ordermill_write"
# The threads a server runs its blocking work in (AnyIO's default thread limiter), each of
# which may hold a connection at once.
SERVER_THREADS = 40
POOL_TIMEOUT_SECONDS = 30.0  # the longest a unit of work waits for a connection, as in SQLAlchemy


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_db_engine(url: str, settings: Settings | None = None) -> Engine:
    """An engine tuned for the URL's database."""
    settings = settings or get_settings()
    if url.startswith("sqlite"):
        # One pooled connection per server thread: a smaller pool closes the connections
        # it can't keep and opens them again (with their PRAGMAs) on the next request.
        pool = {"pool_size": SERVER_THREADS} if sqlite_path(url) is not None else {}
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=settings.db_pre_ping,
    )
    pg_pipeline.watch(engine)
    return engine


class Database:
    """One database: its engine and the units of work opened on it."""

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        self.url = url
        self.engine = create_db_engine(url, settings)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._read = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{_WRITE_OPTION: True}),
            expire_on_commit=False,
            autoflush=False,
        )
        # One-statement reads on PostgreSQL skip BEGIN and ROLLBACK: two round trips.
        self._lookup = sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            autoflush=False,
        )
        # The event loop's own connections (``last_writes``), as many as the engine keeps.
        self._loop_pool = (
            None
            if self.is_sqlite
            else LoopPool(
                engine_connector(self.engine),
                (settings or get_settings()).db_pool_size,
                POOL_TIMEOUT_SECONDS,
            )
        )
        self._sqlite_writer = FifoLock()
        self._writing = threading.local()
        self._after_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every write unit of work commits (cheap: a wake-up)."""
        self._after_commit.append(callback)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (rolled back at the end)."""
        with self._read() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A unit of work for reads without a transaction on PostgreSQL (``BEGIN`` and
        ``ROLLBACK`` are two round trips): each statement sees the database as of its
        start, as in a ``READ COMMITTED`` transaction. Not for statements that must see
        one snapshot (a report adding up several). On SQLite, a read transaction.
        """
        if self.is_sqlite:
            with self.read() as session:
                yield session
            return
        with self._lookup() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work that commits once if the block succeeds, else rolls back."""
        lock = self._sqlite_writer if self.is_sqlite else None
        if lock is not None:
            if getattr(self._writing, "active", False):
                # The inner one would wait forever for the outer one's lock.
                raise RuntimeError(
                    "write units of work don't nest on SQLite: pass the session down instead"
                )
            lock.acquire()
            self._writing.active = True
        try:
            with self._write() as session:
                try:
                    yield session
                    final_writes.commit(session)
                except BaseException:
                    session.rollback()
                    raise
            for callback in self._after_commit:
                callback()
        finally:
            if lock is not None:
                self._writing.active = False
                lock.release()

    @asynccontextmanager
    async def last_writes(self) -> AsyncIterator[Session]:
        """A write unit of work that is nothing but its last writes
        (``final_writes.at_commit``), committed from the event loop on PostgreSQL: one
        round trip and no thread. Its session reads nothing (it is bound to no database:
        a read raises), and it is what the last writes' ``use`` callbacks get.
        """
        if self._loop_pool is None:
            raise RuntimeError("last_writes is for PostgreSQL: on SQLite, use write()")
        session = Session(autoflush=False, expire_on_commit=False)
        try:
            yield session
            committed = await final_writes.commit_async(session, self._loop_pool)
        finally:
            session.close()
        if committed:
            for callback in self._after_commit:
                callback()

    async def lookup_async(self, statement: TextClause, params: dict[str, Any]) -> list[Any]:
        """``lookup`` for one statement from the event loop on PostgreSQL: its rows (named
        tuples), read without a transaction on one of ``last_writes``' connections."""
        if self._loop_pool is None:
            raise RuntimeError("lookup_async is for PostgreSQL: on SQLite, use lookup()")
        statements = [(pg_pipeline.compiled(statement), params)]
        async with self._loop_pool.connection() as conn:
            try:
                (rows,) = await pg_pipeline.run_async(conn, statements)
            except psycopg.Error as exc:
                raise pg_pipeline.as_dbapi_error(statements, exc, conn) from exc
        return rows

    def dispose(self) -> None:
        if self._loop_pool is not None:
            self._loop_pool.close()
        self.engine.dispose()


# ---------------------------------------------------------------- the database's own failures

_UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE for a missing table


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database or ""
    if name in ("", ":memory:") or name.startswith("file:"):
        return None
    return Path(name)


def describe(url: str) -> str:
    """Where the database is, for a person (never its password)."""
    path = sqlite_path(url)
    if path is not None:
        return str(path.resolve())
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return "sqlite (in memory)"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _unopenable(path: Path) -> str:
    """Why SQLite can't open ``path``."""
    if not path.parent.is_dir():
        return f"its directory {path.parent} does not exist"
    if path.is_dir():
        return "it is a directory"
    if not os.access(path if path.exists() else path.parent, os.R_OK | os.W_OK):
        return "permission denied"
    return "unable to open the database file"


def explain(exc: DBAPIError, url: str) -> OrdermillError | None:
    """The expected failure ``exc`` stands for, with no SQL in it; None for anything else.

    Expected: no ordermill schema, a SQLite file that can't be opened or isn't a
    database, a locked SQLite file, and a PostgreSQL server that can't be reached.
    """
    where = describe(url)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
    if (
        reason.startswith("no such table")
        or getattr(exc.orig, "sqlstate", None) == _UNDEFINED_TABLE
    ):
        return error(Code.DATABASE_NOT_MIGRATED, f"the database at {where} has no ordermill schema")
    path = sqlite_path(url)
    if path is not None:
        if reason.startswith("unable to open database file"):
            return error(
                Code.DATABASE_UNREADABLE, f"can't open the database at {where}: {_unopenable(path)}"
            )
        if reason.startswith("file is not a database"):
            return error(
                Code.DATABASE_UNREADABLE,
                f"the file at {where} is not a SQLite database: {reason}",
            )
        if failure_of(exc) is Failure.BUSY:
            return error(
                Code.DATABASE_UNAVAILABLE, f"the database at {where} is locked by another process"
            )
        return None
    if failure_of(exc) is not None:
        return error(Code.DATABASE_UNAVAILABLE, f"can't reach the database at {where}: {reason}")
    return None
