"""A transaction's last writes, sent with its commit.

A statement that takes a lock every transaction of its kind waits for (the year's order
counter, the rows of a hot product) should hold it for as short a time as possible. Sent
on its own, it holds the lock for a round trip to the client, whatever Python runs
before the commit (with the GIL to wait for), and the commit's own round trip.
``at_commit`` queues such a statement to be the transaction's last write: on PostgreSQL
``commit`` sends the queued statements and ``COMMIT`` in one write (``pg_pipeline``: one
round trip, no client time between them); on SQLite, which has no round trips, it runs
them and commits.

The rows each statement returns are handed to its ``use`` callback after the commit,
while the unit of work's session is still open: the callback may read with it (in a new
transaction), and may raise, but only when its statement wrote nothing, since the
transaction has committed by then. Nothing may be written after ``at_commit`` in the
same unit of work: ``Database.write`` commits through ``commit``, and a later
statement would run before the queued ones.

A unit of work that is nothing but its last writes can commit from the event loop
(``commit_async``, through ``Database.last_writes``): there its ``use`` callbacks must
not read, since the session is bound to no database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import TextClause
from sqlalchemy.orm import Session

from ordermill import pg_pipeline
from ordermill.pg_async import LoopPool

Use = Callable[[Session, Sequence[Any]], None]
_QUEUE = "ordermill.final_writes"


@dataclass(frozen=True, slots=True)
class _Final:
    statement: TextClause
    params: Mapping[str, Any]
    use: Use


def at_commit(session: Session, statement: TextClause, params: Mapping[str, Any], use: Use) -> None:
    """Run ``statement`` with the commit of ``session``'s unit of work; ``use(session,
    rows)`` gets its rows once committed."""
    session.info.setdefault(_QUEUE, []).append(_Final(statement, params, use))


def commit(session: Session) -> None:
    """Commit the unit of work, sending its queued last writes with the commit."""
    queued: list[_Final] = session.info.pop(_QUEUE, [])
    if not queued:
        session.commit()
        return
    if session.get_bind().dialect.name == "postgresql":
        results = _pipelined(session, queued)
    else:
        results = [list(session.execute(f.statement, dict(f.params)).all()) for f in queued]
        session.commit()
    for final, rows in zip(queued, results, strict=True):
        final.use(session, rows)
    session.commit()  # what ``use`` read; on PostgreSQL the writes are already committed


async def commit_async(session: Session, pool: LoopPool) -> bool:
    """``commit`` for a unit of work that is nothing but its last writes, on a connection
    of ``pool`` from the event loop (``Database.last_writes``); ``use`` callbacks get
    ``session``, which reads nothing. False if nothing was queued (nothing sent)."""
    queued: list[_Final] = session.info.pop(_QUEUE, [])
    if not queued:
        return False
    statements = _statements(queued)
    async with pool.connection() as conn:
        try:
            results = await pg_pipeline.run_with_commit_async(conn, statements)
        except psycopg.Error as exc:
            raise pg_pipeline.as_dbapi_error(statements, exc, conn) from exc
    for final, rows in zip(queued, results, strict=True):
        final.use(session, rows)
    return True


def _pipelined(session: Session, queued: list[_Final]) -> list[list[Any]]:
    """The statements and COMMIT in one write on the session's psycopg connection."""
    driver: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    statements = _statements(queued)
    try:
        return pg_pipeline.run_with_commit(driver, statements)
    except psycopg.Error as exc:
        raise pg_pipeline.as_dbapi_error(statements, exc, driver) from exc


def _statements(queued: list[_Final]) -> list[tuple[pg_pipeline.Statement, dict[str, Any]]]:
    return [(pg_pipeline.compiled(final.statement), dict(final.params)) for final in queued]
