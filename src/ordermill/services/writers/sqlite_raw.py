"""Statements the SQLite writer runs on the driver's own cursor.

SQLAlchemy's execution of a statement (its cache key, the compiled form, the result
machinery, the events) costs about 0.2 ms of Python, more than SQLite takes to run a
one-row write in-process; processing an order takes nine of them, placing one six. These run through
``sqlite3``'s ``executemany`` inside the session's transaction instead. Each value is
converted by its column type's own bind processor, so what is stored is what
SQLAlchemy would have stored (datetimes in UTC, JSON as text), and a driver error
comes out as SQLAlchemy's ``DBAPIError`` subclass, as from any other statement.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


@dataclass(frozen=True, eq=False)
class Raw:
    """One SQL statement with ``?`` placeholders, and the column whose type converts
    each parameter (``None``: passed as it is)."""

    sql: str
    columns: tuple[Column[Any] | None, ...]

    def run(self, session: Session, rows: Sequence[Sequence[Any]]) -> int:
        """Run once per row of parameters; the rows the statement changed in all."""

        def many(cursor: sqlite3.Cursor, params: list[tuple[Any, ...]]) -> int:
            return cursor.executemany(self.sql, params).rowcount

        return int(self._on_cursor(session, rows, many))

    def insert(self, session: Session, row: Sequence[Any]) -> int:
        """Run once (an ``INSERT``); the id of the row it added."""
        return int(
            self._on_cursor(
                session, [row], lambda cursor, params: cursor.execute(self.sql, params[0]).lastrowid
            )
        )

    def returning(self, session: Session, row: Sequence[Any]) -> Any:
        """Run once; the first value of the row it returns (``RETURNING``)."""
        return self._on_cursor(
            session, [row], lambda cursor, params: cursor.execute(self.sql, params[0]).fetchone()[0]
        )

    def _on_cursor(
        self,
        session: Session,
        rows: Sequence[Sequence[Any]],
        work: Callable[[sqlite3.Cursor, list[tuple[Any, ...]]], Any],
    ) -> Any:
        connection = session.connection()  # begins the transaction if need be
        convert = _processors(self, connection.dialect)
        params = [
            tuple(
                value if to is None else to(value) for to, value in zip(convert, row, strict=True)
            )
            for row in rows
        ]
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        cursor = driver.cursor()
        try:
            return work(cursor, params)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(
                self.sql,
                params,
                exc,
                sqlite3.Error,
                dialect=connection.dialect,
                ismulti=len(params) > 1,
            ) from exc
        finally:
            cursor.close()


def insert_into(table: Table, *names: str) -> Raw:
    """``INSERT INTO table (names…) VALUES (?, …)``, converted as those columns."""
    columns = tuple(table.c[name] for name in names)
    marks = ", ".join("?" for _ in names)
    return Raw(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", columns)


@functools.cache
def _processors(raw: Raw, dialect: Dialect) -> tuple[Callable[[Any], Any] | None, ...]:
    # The dialect's own form of each type (a datetime's storage format is SQLite's
    # DATETIME, not the generic DateTime the column names).
    return tuple(
        None if column is None else column.type.dialect_impl(dialect).bind_processor(dialect)
        for column in raw.columns
    )
