"""A background thread that LISTENs on a PostgreSQL channel and reports what it hears.

The delivery worker wakes on ``ordermill_outbox``; every server process evicts cached
tokens on ``ordermill_tokens``. Both need the same loop: connect (autocommit, so the
notifications arrive as they are committed), LISTEN, hand each payload over, and when
the connection fails say so and connect again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger("ordermill.listen")


def listen(
    url: str,
    channel: str,
    *,
    stopping: threading.Event,
    on_notify: Callable[[str], None],
    on_listening: Callable[[], None],
    on_lost: Callable[[BaseException], None],
    retry_seconds: float,
    name: str,
) -> threading.Thread:
    """Start a daemon thread that LISTENs on ``channel`` until ``stopping`` is set.

    ``on_listening`` is called each time the LISTEN is in place (so whatever came while
    not listening can be caught up with), ``on_notify`` with each payload, ``on_lost``
    whenever the connection fails or can't be made; then it retries after
    ``retry_seconds``.
    """
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    application_name = f"{name} {os.getpid()}"  # which process listens, in pg_stat_activity

    def run() -> None:
        while not stopping.is_set():
            try:
                with psycopg.connect(
                    dsn, autocommit=True, connect_timeout=5, application_name=application_name
                ) as conn:
                    conn.execute(f"LISTEN {channel}")
                    on_listening()
                    while not stopping.is_set():
                        for notify in conn.notifies(timeout=1.0, stop_after=1):
                            on_notify(notify.payload)
            except psycopg.Error as exc:
                on_lost(exc)
                stopping.wait(retry_seconds)
            except Exception as exc:  # a bug in a callback must not end the listening
                log.exception("listening on %s failed", channel)
                on_lost(exc)
                stopping.wait(retry_seconds)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def first_line(exc: BaseException) -> str:
    """An exception's message, one line (a driver's often has several)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
