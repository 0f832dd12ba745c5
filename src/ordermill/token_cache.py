"""Resolved bearer tokens kept in memory, and how a change to one reaches every process.

Checking a token is a database round trip; every authenticated request makes one. A
server process keeps what a token resolved to (its principal) for a few seconds
(``ORDERMILL_TOKEN_CACHE_SECONDS``), keyed by the token's SHA-256 digest, never the
token, and never past the token's own expiry.

A change that can make a token stop working (revoked, user disabled, role changed,
password set or reset, the customer's email changed or the customer deleted) calls
``changed`` in its transaction. Once the transaction commits:

- the process that made it evicts the entries at once (a session hook, after commit);
- on PostgreSQL it also sent ``NOTIFY ordermill_tokens`` in the transaction, delivered
  on commit (and never if it rolls back), and every server process LISTENs and evicts.
  While a process is not listening (not yet connected, or the connection dropped) its
  cache serves nothing: every request goes to the database until it listens again.

The entry's lifetime bounds what is left: a notification lost without the connection
failing, or on SQLite a change made by another process (``ordermill tokens revoke``
beside a running server), is seen within ``ORDERMILL_TOKEN_CACHE_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from ordermill.pg_listen import first_line, listen

log = logging.getLogger("ordermill.web")

CHANNEL = "ordermill_tokens"
MAX_ENTRIES = 10_000
RETRY_SECONDS = 1.0  # between attempts to listen again
_CHANGES = "ordermill.token_changes"  # in Session.info: the keys changed in the transaction

V = TypeVar("V")


def user_key(user_id: int) -> str:
    """What ``changed`` is told when one user's tokens may no longer resolve as they did."""
    return f"user:{user_id}"


def customer_key(customer_id: int) -> str:
    """The same for the login of a customer (their email changed, or they were deleted)."""
    return f"customer:{customer_id}"


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    keys: frozenset[str]
    fresh_until: float  # monotonic clock
    expires: float | None  # the token's own expiry, as a Unix time


class TokenCache(Generic[V]):
    """A bounded map from token digests to what they resolved to, each for ``ttl`` seconds.

    ``serving`` False: every ``get`` misses and nothing is stored (a PostgreSQL process
    until it listens for changes). Safe to use from any thread.
    """

    def __init__(
        self,
        ttl: float,
        *,
        serving: bool = True,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: dict[str, _Entry[V]] = {}
        self._lock = threading.Lock()
        self._serving = serving and ttl > 0
        self._generation = 0
        with _REGISTRY_LOCK:
            _CACHES.add(self)

    @property
    def serving(self) -> bool:
        return self._serving

    @property
    def generation(self) -> int:
        """Read before looking a token up; ``put`` drops the answer if anything was evicted
        meanwhile (the lookup may have read the row before the change committed)."""
        return self._generation

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str) -> V | None:
        """What ``digest`` resolved to, if it was stored less than ``ttl`` seconds ago and
        the token has not expired since."""
        entry = self._entries.get(digest)
        if entry is None or not self._serving:
            return None
        if self._clock() >= entry.fresh_until or (
            entry.expires is not None and self._wall_clock() >= entry.expires
        ):
            with self._lock:
                if self._entries.get(digest) is entry:
                    del self._entries[digest]
            return None
        return entry.value

    def put(
        self,
        digest: str,
        value: V,
        *,
        keys: Collection[str],
        expires: datetime | None,
        generation: int,
    ) -> None:
        """Store a lookup's answer, unless something was evicted since ``generation``."""
        entry = _Entry(
            value,
            frozenset(keys),
            self._clock() + self.ttl,
            expires.timestamp() if expires is not None else None,
        )
        with self._lock:
            if not self._serving or generation != self._generation:
                return
            self._entries.pop(digest, None)
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest
            self._entries[digest] = entry

    def evict(self, keys: Collection[str]) -> None:
        """Forget every entry carrying one of ``keys``."""
        wanted = frozenset(keys)
        with self._lock:
            self._generation += 1
            stale = [digest for digest, e in self._entries.items() if not e.keys.isdisjoint(wanted)]
            for digest in stale:
                del self._entries[digest]

    def suspend(self) -> None:
        """Serve nothing (and forget everything) until ``resume``."""
        with self._lock:
            self._generation += 1
            self._serving = False
            self._entries.clear()

    def resume(self) -> None:
        """Serve again, starting empty (changes may have been missed meanwhile)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._serving = self.ttl > 0


# Every cache of this process, whichever app holds it: a commit evicts in all of them.
_CACHES: weakref.WeakSet[TokenCache[Any]] = weakref.WeakSet()
_REGISTRY_LOCK = threading.Lock()


def changed(session: Session, *keys: str) -> None:
    """Tokens resolving to a principal with one of ``keys`` must be checked again once
    this transaction commits, in every process (nothing happens if it rolls back)."""
    session.info.setdefault(_CHANGES, set()).update(keys)
    if session.get_bind().dialect.name == "postgresql":
        for key in keys:  # delivered on commit
            session.execute(select(func.pg_notify(CHANNEL, key)))


@event.listens_for(Session, "after_commit")
def _evict_after_commit(session: Session) -> None:
    keys: set[str] | None = session.info.pop(_CHANGES, None)
    if keys:
        with _REGISTRY_LOCK:
            caches = list(_CACHES)
        for cache in caches:
            cache.evict(keys)


def follow_changes(cache: TokenCache[Any], url: str, stopping: threading.Event) -> threading.Thread:
    """Keep ``cache`` in step with every process's changes on PostgreSQL: evict on each
    notification, serve only while listening."""

    def lost(exc: BaseException) -> None:
        if cache.serving:
            log.warning(
                "not listening for token changes (%s): checking every token", first_line(exc)
            )
        cache.suspend()

    return listen(
        url,
        CHANNEL,
        stopping=stopping,
        on_notify=lambda key: cache.evict((key,)),
        on_listening=cache.resume,
        on_lost=lost,
        retry_seconds=RETRY_SECONDS,
        name="ordermill-token-listen",
    )
