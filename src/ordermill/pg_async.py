"""PostgreSQL connections for the work a server does on its event loop.

A request handled in a thread costs two hand-offs between the event loop and the
thread, and the thread waits for the GIL after each wait on the database: measured on
placing an order, about 0.2 ms of the server's 1.1 ms of CPU (docs/PERFORMANCE.md,
"Placing on the event loop"). The hot paths whose
whole unit of work is their last writes (``final_writes``: one round trip, nothing
read before) run on the event loop instead, on connections of their own, kept here.

``LoopPool`` hands out psycopg connections (the engine's dialect opens them, with its
adapters and settings, as for the engine's own pool) to coroutines of any event loop;
at most ``size`` are open, a coroutine waits up to ``timeout`` seconds for one. A
connection that comes back closed, broken or inside a transaction (its conversation
cut off) is closed and forgotten; one the server ended while it was idle is noticed
before it is handed out (its socket is readable), without a round trip.
"""

from __future__ import annotations

import asyncio
import select
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ordermill.errors import Code, error

_IDLE = pq.TransactionStatus.IDLE


def engine_connector(engine: Engine) -> Callable[[], psycopg.Connection[Any]]:
    """Opens a connection as the engine's pool would: the dialect's arguments, adapters
    and on-connect settings."""
    dialect = engine.dialect
    cargs, cparams = dialect.create_connect_args(engine.url)
    on_connect = dialect.on_connect()

    def connect() -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = dialect.connect(*cargs, **cparams)  # type: ignore[assignment]
        if on_connect is not None:
            on_connect(conn)
        return conn

    return connect


class LoopPool:
    """At most ``size`` connections, handed to coroutines; safe across event loops."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection[Any]], size: int, timeout: float
    ) -> None:
        self._connect = connect
        self._size = size
        self._timeout = timeout
        self._lock = threading.Lock()
        self._idle: list[psycopg.Connection[Any]] = []
        self._open = 0  # idle, lent, or being opened
        self._waiting: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = deque()
        self._retired: set[int] = set()  # ids of the connections lent before ``close``
        self._lent: set[int] = set()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.Connection[Any]]:
        """A connection with no transaction open, returned to the pool after the block."""
        conn = await self._take()
        try:
            yield conn
        finally:
            self._give(conn)

    async def _take(self) -> psycopg.Connection[Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while True:
            with self._lock:
                conn = self._idle_alive()
                if conn is not None:
                    self._lent.add(id(conn))
                    return conn
                opening = self._open < self._size
                if opening:
                    self._open += 1
                else:
                    waiter: asyncio.Future[Any] = loop.create_future()
                    self._waiting.append((loop, waiter))
            if opening:
                conn = await self._open_one()
                with self._lock:
                    self._lent.add(id(conn))
                return conn
            try:
                handed = await asyncio.wait_for(waiter, max(deadline - loop.time(), 0))
            except TimeoutError:
                raise error(
                    Code.DATABASE_UNAVAILABLE,
                    f"no database connection came free within {self._timeout:g} s",
                ) from None
            if handed is not None:
                return handed  # type: ignore[no-any-return]  # lent by _give
            # None: a connection was closed, so one may be opened: try again.

    def _idle_alive(self) -> psycopg.Connection[Any] | None:
        while self._idle:
            conn = self._idle.pop()
            if _alive(conn):
                return conn
            conn.close()
            self._open -= 1
        return None

    async def _open_one(self) -> psycopg.Connection[Any]:
        opened = asyncio.get_running_loop().run_in_executor(None, self._connect)
        try:
            return await asyncio.shield(opened)
        except BaseException as exc:
            self._forget()
            if isinstance(exc, asyncio.CancelledError):
                opened.add_done_callback(_close_opened)  # it opens all the same: close it
            elif isinstance(exc, psycopg.Error):
                # As the engine's pool raises it, so it is explained the same way.
                raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc
            raise

    def _give(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            self._lent.discard(id(conn))
            retired = id(conn) in self._retired
            self._retired.discard(id(conn))
        usable = (
            not (retired or conn.closed or conn.broken) and conn.pgconn.transaction_status == _IDLE
        )
        if not usable:
            conn.close()
            self._forget()
            return
        with self._lock:
            while self._waiting:
                loop, waiter = self._waiting.popleft()
                if not waiter.done():
                    self._lent.add(id(conn))
                    loop.call_soon_threadsafe(self._hand, waiter, conn)
                    return
            self._idle.append(conn)

    def _hand(self, waiter: asyncio.Future[Any], conn: psycopg.Connection[Any]) -> None:
        """On the waiter's loop: the connection, unless it stopped waiting meanwhile."""
        if waiter.done():
            self._give(conn)
        else:
            waiter.set_result(conn)

    def _forget(self) -> None:
        """One connection fewer: a waiter may open one."""
        with self._lock:
            self._open -= 1
            while self._waiting:
                loop, waiter = self._waiting.popleft()
                if not waiter.done():
                    loop.call_soon_threadsafe(_wake, waiter)
                    return

    def close(self) -> None:
        """Close the idle connections now and the lent ones when they come back (as
        ``Engine.dispose``: the pool opens new ones if asked again)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._retired |= self._lent
        for conn in idle:
            conn.close()


def _close_opened(opened: asyncio.Future[psycopg.Connection[Any]]) -> None:
    if not opened.cancelled() and opened.exception() is None:
        opened.result().close()


def _wake(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _alive(conn: psycopg.Connection[Any]) -> bool:
    """False if the connection is closed, or the server said something while it was idle:
    nothing listens on these connections, so that can only be a goodbye (an
    administrator's or a shutdown's ``FATAL``, then the end of the connection)."""
    if conn.closed or conn.broken:
        return False
    poller = select.poll()  # not select(): a busy server's descriptors pass 1024
    poller.register(conn.pgconn.socket, select.POLLIN)
    return not poller.poll(0)
