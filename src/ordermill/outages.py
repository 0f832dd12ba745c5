"""Which database errors mean the database can't answer, whoever asks (API or CLI).

A connection SQLAlchemy found dead, a server that refuses or ends the connection,
a SQLite file that can't be opened or stays locked: these are outages, and
retrying later may work. Anything else a database answers (a constraint, a lock
timeout, a serialization failure) is not.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# SQLSTATEs of a connection refused or ended by the server: connection exceptions
# (class 08), too many connections, and a server shutting down, crashed or starting.
_CONNECTION_STATES = ("08", "53300", "57P01", "57P02", "57P03")
# SQLSTATEs a server sends when it refuses to open a session (wrong password or role,
# no such database): nothing can be served until the URL or the server is fixed.
_REFUSED_SESSION_STATES = ("28", "3D000")
# SQLite: the file can't be opened, or another process holds the lock longer
# than the busy timeout.
_SQLITE_CANT_OPEN = ("SQLITE_CANTOPEN",)
_SQLITE_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")


class Failure(StrEnum):
    """Why the database could not answer."""

    CANT_CONNECT = "can't connect"
    CONNECTION_LOST = "connection lost"
    BUSY = "busy"


def failure_of(exc: BaseException) -> Failure | None:
    """The connection-level failure ``exc`` stands for; None for any other error.

    A connection SQLAlchemy found dead (it invalidates it, and the pool with it) is
    lost; an error while opening one (no statement yet) is a failure to connect.
    An error a live server answers to a statement (a constraint, a lock timeout, a
    serialization failure) is not an outage.
    """
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    assert isinstance(exc, DBAPIError)
    orig: Any = exc.orig
    sqlite_error = getattr(orig, "sqlite_errorname", None)
    if sqlite_error is not None:
        if sqlite_error.startswith(_SQLITE_BUSY):
            return Failure.BUSY
        if sqlite_error.startswith(_SQLITE_CANT_OPEN):
            return Failure.CANT_CONNECT
        return None
    if exc.connection_invalidated:
        return Failure.CONNECTION_LOST
    state: str | None = getattr(orig, "sqlstate", None)
    connecting = exc.statement is None
    if state is not None and state.startswith(_CONNECTION_STATES):
        return Failure.CANT_CONNECT if connecting else Failure.CONNECTION_LOST
    if connecting and (state is None or state.startswith(_REFUSED_SESSION_STATES)):
        return Failure.CANT_CONNECT
    return None
