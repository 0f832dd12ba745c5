"""A transaction's last statements and its ``COMMIT``, sent to PostgreSQL in one write.

psycopg's pipeline mode sends each queued command with a flush of its own and polls
the socket before each: about seven ``send`` and a dozen ``poll`` system calls for
``BEGIN``, two statements and ``COMMIT``, which cost more CPU than the round trips the
pipeline saves (measured: 0.5-1.1 ms against 0.1-0.15 ms for the same four commands
written at once). ``run_with_commit`` queues every command in libpq and flushes once,
then reads the results as they come, through psycopg's own libpq wrapper and type
adaptation, so the values bound and the rows read are those a cursor would bind and
read. Each statement is prepared on the connection the first time it runs there with
those parameter types (planning the writers' statements costs PostgreSQL more than
running them), and again after a rollback there, when psycopg may have deallocated it.

``run_with_commit_async`` holds the same conversation from an event loop, waiting on
the socket there instead of in a thread (the server's connections for it: ``pg_async``).
"""

from __future__ import annotations

import asyncio
import itertools
import select
import weakref
from collections import namedtuple
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import abc, errors, pq
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import Connection, Engine, TextClause, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

_IDLE = pq.TransactionStatus.IDLE
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FAILED = pq.ExecStatus.FATAL_ERROR  # the first failure; the commands after it are aborted
_UNDEFINED_STATEMENT = "26000"  # the server no longer knows a prepared statement's name
_ROWS = "rows"


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL with ``$1``-style placeholders, and the parameter each stands for."""

    sql: bytes
    names: tuple[str, ...]


_Key = tuple[bytes, tuple[int, ...]]  # a statement's SQL and its parameters' types


@dataclass(slots=True)
class _Prepared:
    """The statements prepared on one connection: their names, and which of them are
    known to exist still (psycopg deallocates every prepared statement of a connection
    when it rolls back a transaction there, if it has prepared any of its own)."""

    names: dict[_Key, bytes] = field(default_factory=dict)
    certain: set[_Key] = field(default_factory=set)


_prepared: weakref.WeakKeyDictionary[psycopg.Connection[Any], _Prepared]
_prepared = weakref.WeakKeyDictionary()
_names = itertools.count(1)


def watch(engine: Engine) -> None:
    """Follow the rollbacks of the engine's connections: after one, the statements
    prepared there are prepared again (closed first, in case they were kept)."""

    @event.listens_for(engine, "rollback")
    def rolling_back(connection: Connection) -> None:
        if not (connection.invalidated or connection.closed):  # else it is thrown away
            _rolling_back(connection.connection.driver_connection)

    @event.listens_for(engine.pool, "reset")
    def resetting(dbapi_connection: Any, _record: Any, _state: Any) -> None:
        _rolling_back(dbapi_connection)


def _rolling_back(conn: Any) -> None:
    state = _prepared.get(conn)
    if state is not None and conn.pgconn.transaction_status != _IDLE:
        state.certain.clear()  # psycopg is about to ROLLBACK, then maybe DEALLOCATE ALL


def run_with_commit(
    conn: psycopg.Connection[Any], statements: Sequence[tuple[Statement, dict[str, Any]]]
) -> list[list[Any]]:
    """Run the statements in the connection's transaction (begun here if none is open),
    then ``COMMIT``, in one write; the rows of each statement, as named tuples.

    A statement that fails fails the rest and the commit, and raises psycopg's error for
    it (the transaction is then to be rolled back, as after any failed statement).
    """
    exchange = _Exchange(conn, statements)
    try:
        results = _drive(conn.pgconn, exchange.run())
    except BaseException:
        # Cut off mid-conversation (a broken connection, an interrupt): nothing more can
        # be said on it. Closed, it is refused by the pool instead of reused.
        conn.close()
        raise
    return exchange.rows(results)


async def run_with_commit_async(
    conn: psycopg.Connection[Any], statements: Sequence[tuple[Statement, dict[str, Any]]]
) -> list[list[Any]]:
    """``run_with_commit`` from an event loop: it waits on the socket without a thread
    (the connection's socket is non-blocking, as psycopg leaves it)."""
    return await _run_async(_Exchange(conn, statements))


async def run_async(
    conn: psycopg.Connection[Any], statements: Sequence[tuple[Statement, dict[str, Any]]]
) -> list[list[Any]]:
    """The statements without ``BEGIN`` or ``COMMIT``, from an event loop: one implicit
    transaction up to the pipeline's sync, for reads that need none (``Database.lookup``);
    the connection must have no transaction open."""
    return await _run_async(_Exchange(conn, statements, transaction=False))


async def _run_async(exchange: _Exchange) -> list[list[Any]]:
    try:
        results = await _drive_async(exchange.conn.pgconn, exchange.run())
    except BaseException:  # cancelled too: the conversation can't be picked up again
        exchange.conn.close()
        raise
    return exchange.rows(results)


# A conversation with the server, written once as a generator of the socket events it
# waits for, and driven by ``poll`` in a thread or by the event loop.
_Waits = Generator[int, None, list[pq.abc.PGresult]]


class _Exchange:
    """The commands of one ``run_with_commit``: queued in libpq, flushed once, their
    results read up to the pipeline's sync."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        statements: Sequence[tuple[Statement, dict[str, Any]]],
        *,
        transaction: bool = True,
    ) -> None:
        self.conn = conn
        self.statements = statements
        self.transaction = transaction
        known = _prepared.get(conn)
        if known is None:
            known = _prepared[conn] = _Prepared()
        self.known = known
        self.transformer: abc.Transformer = Transformer(conn)
        # What each command's result is: None, the key of a statement prepared here, or
        # "rows" for a statement whose rows are wanted.
        self.sent: list[_Key | str | None] = []

    def run(self) -> _Waits:
        pgconn = self.conn.pgconn
        pgconn.enter_pipeline_mode()
        self._queue(pgconn)
        pgconn.pipeline_sync()
        results = yield from _flush(pgconn)
        pgconn.exit_pipeline_mode()
        return results

    def _queue(self, pgconn: pq.abc.PGconn) -> None:
        known, transformer, sent = self.known, self.transformer, self.sent
        if self.transaction and pgconn.transaction_status == _IDLE:
            pgconn.send_query_params(_begin(self.conn), None)
            sent.append(None)
        for statement, params in self.statements:
            values = [params[name] for name in statement.names]
            dumped = transformer.dump_sequence(values, [PyFormat.AUTO] * len(values))
            types = tuple(transformer.types or ())
            key = (statement.sql, types)
            name = known.names.get(key)
            if name is None:
                name = known.names[key] = f"ordermill_{next(_names)}".encode()
            if key not in known.certain:
                pgconn.send_close_prepared(name)  # no error if there is none by that name
                sent.append(None)
                pgconn.send_prepare(name, statement.sql, param_types=types)
                sent.append(key)
            pgconn.send_query_prepared(name, dumped, param_formats=transformer.formats)
            sent.append(_ROWS)
        if self.transaction:
            pgconn.send_query_params(b"COMMIT", None)
            sent.append(None)

    def rows(self, results: list[pq.abc.PGresult]) -> list[list[Any]]:
        """The rows of each statement; psycopg's error for the first that failed."""
        if len(results) != len(self.sent):
            raise psycopg.InternalError(
                f"expected {len(self.sent)} results in the pipeline, got {len(results)}"
            )
        for result, what in zip(results, self.sent, strict=True):
            if isinstance(what, tuple):
                if result.status == pq.ExecStatus.COMMAND_OK:
                    self.known.certain.add(what)
                else:
                    self.known.certain.discard(what)
        failure = next((r for r in results if r.status == _FAILED), None)
        if failure is not None:
            error = errors.error_from_result(failure, encoding=self.conn.info.encoding)
            if error.sqlstate == _UNDEFINED_STATEMENT:
                self.known.certain.clear()  # deallocated behind our back: prepare them again
            raise error
        return [
            _rows(self.transformer, result)
            for result, what in zip(results, self.sent, strict=True)
            if what == _ROWS
        ]


def _begin(conn: psycopg.Connection[Any]) -> bytes:
    """The ``BEGIN`` psycopg would send for the connection's settings."""
    command = b"BEGIN"
    if conn.isolation_level is not None:
        command += b" ISOLATION LEVEL " + conn.isolation_level.name.replace("_", " ").encode()
    if conn.read_only:
        command += b" READ ONLY"
    return command


_READ = select.POLLIN
_READ_WRITE = select.POLLIN | select.POLLOUT


def _flush(pgconn: pq.abc.PGconn) -> _Waits:
    """Send everything libpq holds, reading meanwhile if the server answers first; then
    one result per command sent, up to the pipeline's sync."""
    while pgconn.flush() != 0:
        yield _READ_WRITE
        pgconn.consume_input()
    results: list[pq.abc.PGresult] = []
    current: pq.abc.PGresult | None = None
    while True:
        while pgconn.is_busy():
            yield _READ
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one command's results
            if current is not None:
                results.append(current)
                current = None
            continue
        if result.status == _SYNC:
            return results
        current = result


def _drive(pgconn: pq.abc.PGconn, waits: _Waits) -> list[pq.abc.PGresult]:
    """Run a conversation in this thread, waiting in ``poll``."""
    try:
        events = next(waits)
        while True:
            poller = select.poll()
            poller.register(pgconn.socket, events)
            poller.poll()
            events = waits.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def _drive_async(pgconn: pq.abc.PGconn, waits: _Waits) -> list[pq.abc.PGresult]:
    """Run a conversation on the running event loop, waiting for the socket there."""
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    try:
        events = next(waits)
        while True:
            ready = loop.create_future()

            def wake(ready: asyncio.Future[None] = ready) -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(fd, wake)
            if events & select.POLLOUT:
                loop.add_writer(fd, wake)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
                if events & select.POLLOUT:
                    loop.remove_writer(fd)
            events = waits.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


_row_makers: dict[tuple[str, ...], Callable[[Sequence[Any]], Any]] = {}


def _rows(transformer: abc.Transformer, result: pq.abc.PGresult) -> list[Any]:
    transformer.set_pgresult(result)
    names = tuple(
        (result.fname(i) or b"?column?").decode() for i in range(result.nfields)
    )  # fmt: skip
    make_row = _row_makers.get(names)
    if make_row is None:
        make_row = _row_makers[names] = namedtuple("Row", names, rename=True)._make  # type: ignore[attr-defined]
    return transformer.load_rows(0, result.ntuples, make_row)


_DOLLAR = postgresql.psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
_COMPILED: dict[str, Statement] = {}


def compiled(statement: TextClause) -> Statement:
    """A SQLAlchemy ``text()`` statement with ``$1``-style placeholders (compiled once per
    text: keyed by the text, not the object, whose id a later statement could reuse)."""
    found = _COMPILED.get(statement.text)
    if found is None:
        done = statement.compile(dialect=_DOLLAR)
        found = _COMPILED[statement.text] = Statement(
            done.string.encode(), tuple(done.positiontup or ())
        )
    return found


def as_dbapi_error(
    statements: Sequence[tuple[Statement, dict[str, Any]]],
    exc: psycopg.Error,
    conn: psycopg.Connection[Any],
) -> DBAPIError:
    """``exc`` as SQLAlchemy would have raised it, so callers explain it the same way (a
    connection lost on the way is an outage, not an error in the statements)."""
    wrapped = DBAPIError.instance(
        statements[0][0].sql.decode(),
        None,
        exc,
        psycopg.Error,
        connection_invalidated=conn.closed or conn.broken,
    )
    assert isinstance(wrapped, DBAPIError)  # a driver's error is always wrapped as one
    return wrapped
