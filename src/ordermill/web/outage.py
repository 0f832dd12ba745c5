"""The database can't be reached: tell that apart from other database errors.

While the database is down every request fails the same way, so the API answers
503 ``database_unavailable`` with ``Retry-After`` and logs one line per failure,
not a traceback. Other database errors stay what they are (a bug: 500 with its
traceback). The pool recovers on its own: a connection found dead is
invalidated, and the next request connects afresh.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

from ordermill.errors import Code, Unavailable
from ordermill.outages import Failure, failure_of

log = logging.getLogger("ordermill.web")

RETRY_AFTER_SECONDS = 1

_MESSAGES = {
    Failure.CANT_CONNECT: "The database can't be reached; retry in a moment.",
    Failure.CONNECTION_LOST: "The connection to the database was lost; retry in a moment.",
    Failure.BUSY: "The database is busy; retry in a moment.",
}


def unavailable(failure: Failure) -> Unavailable:
    """The 503 a client gets for ``failure``."""
    return Unavailable(
        _MESSAGES[failure], code=Code.DATABASE_UNAVAILABLE, retry_after=RETRY_AFTER_SECONDS
    )


def log_failure(failure: Failure, exc: DBAPIError, method: str, path: str) -> None:
    """One line for the log: what failed, on which request, and the driver's words."""
    cause = " ".join(str(exc.orig if exc.orig is not None else exc).split())
    log.error("database unavailable (%s) on %s %s: %s", failure, method, path, cause)


__all__ = ["Failure", "failure_of", "log_failure", "unavailable"]
