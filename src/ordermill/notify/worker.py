"""The worker: dispatches outbox events and delivers their messages, with retries.

Each round dispatches every waiting event (``dispatch``), then sends every due
delivery, ``concurrency`` at a time: claimed in one transaction, sent outside any,
the outcome recorded in a transaction of its own. Between rounds the worker sleeps
until PostgreSQL notifies it of a new event (``LISTEN ordermill_outbox``, fed by a
trigger on the outbox) or until the poll interval passes, which also brings retries
that have come due. Once an hour it prunes what the retention period lets go.

Any number of workers, on any number of machines, share one PostgreSQL database:
they skip what another has locked, and a delivery claimed by a worker that died is
taken again when its lease runs out. That is the one case in which a message is sent
twice: the worker died after sending and before recording it. The message then
carries the same ids (``Message-ID``, ``webhook-id``) both times.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.notify.channels import (
    Channel,
    ChannelName,
    Endpoint,
    Failed,
    Message,
    Outcome,
    Retry,
    Sent,
)
from ordermill.notify.dispatch import dispatch
from ordermill.outages import failure_of
from ordermill.pg_listen import first_line, listen
from ordermill.services import deliveries, delivery_log
from ordermill.services.deliveries import Claimed, Result, Schedule

log = logging.getLogger("ordermill.worker")

CHANNEL = "ordermill_outbox"  # what the outbox trigger notifies
DISPATCH_BATCH = 500  # events per dispatch transaction
# Deliveries claimed at once: this many per sending thread. The messages of a claim
# are recorded together, so a worker killed mid-claim may send these again (with
# their ids); the lease must outlast a claim's sending (timeouts of 10 s each).
CLAIM_ROUNDS = 4
PRUNE_EVERY = 3600.0  # seconds


def utcnow() -> datetime:
    return datetime.now(UTC)


class Worker:
    """One worker process's delivery loop (``run``), or one pass of it (``run_once``)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        channels: Sequence[Channel],
        *,
        concurrency: int | None = None,
        name: str | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.channels = list(channels)
        self.by_name = {channel.name: channel for channel in self.channels}
        self.concurrency = concurrency or settings.worker_concurrency
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.schedule = Schedule(
            tuple(settings.delivery_retry_schedule), settings.delivery_max_attempts
        )
        self.disable_after = timedelta(hours=settings.webhook_disable_after_hours)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="ordermill-send")
        self._pruned_at = 0.0
        self._own = threading.local()  # set in the worker's own threads

    # ------------------------------------------------------------ one pass

    def run_once(self) -> Counter[str]:
        """Dispatch every waiting event, then send every due delivery; the counts."""
        counts: Counter[str] = Counter()
        try:
            while not self.stopping.is_set():
                with self.database.write() as session:
                    dispatched = dispatch(session, self.channels, utcnow(), DISPATCH_BATCH)
                counts["dispatched"] += dispatched
                if dispatched < DISPATCH_BATCH:
                    break
            while not self.stopping.is_set():
                with self.database.write() as session:
                    claimed = deliveries.claim_deliveries(
                        session,
                        self.name,
                        self.concurrency * CLAIM_ROUNDS,
                        utcnow(),
                        self.settings.worker_lease_seconds,
                    )
                if not claimed:
                    break
                # The batch is finished even when asked to stop: the messages in hand go out.
                counts.update(self.deliver_all(claimed).values())
        finally:
            for channel in self.channels:
                close = getattr(channel, "close", None)
                if close is not None:
                    close()  # connections kept for the pass (SMTP, HTTP keep-alive)
        return counts

    def deliver_all(self, claimed: Sequence[Claimed]) -> dict[int, str]:
        """Send claimed deliveries, ``concurrency`` at a time, then record every outcome
        in one transaction; each delivery's status after it."""
        self._own.active = True
        results = list(self._pool.map(self._send, claimed))
        with self.database.write() as session:
            statuses = deliveries.record(
                session,
                self.name,
                list(zip(results, claimed, strict=True)),
                utcnow(),
                self.schedule,
                self.disable_after,
            )
        for result, c in zip(results, claimed, strict=True):
            status = statuses[c.id]
            log.log(
                logging.INFO if result.ok else logging.WARNING,
                "delivery %s (%s %s to %s): %s%s",
                c.id,
                c.event_type,
                c.channel,
                c.recipient,
                status,
                f": {result.error}" if result.error else "",
            )
        return statuses

    def deliver(self, claimed: Claimed) -> str:
        """Send one claimed delivery and record how it went; its status after."""
        return self.deliver_all([claimed])[claimed.id]

    def _send(self, claimed: Claimed) -> Result:
        """One attempt, outside any transaction; never raises."""
        self._own.active = True
        channel = self.by_name.get(ChannelName(claimed.channel))
        outcome: Outcome
        if channel is None:
            outcome = Failed(f"the {claimed.channel} channel is not configured")
        else:
            try:
                outcome = channel.send(_message(claimed))
            except Exception as exc:  # a bug in a channel must not stop the others
                log.exception("delivery %s: %s channel raised", claimed.id, claimed.channel)
                outcome = Retry(f"{type(exc).__name__}: {exc}")
        if isinstance(outcome, Sent) and outcome.detail:
            log.info("delivery %s: %s", claimed.id, outcome.detail)
        return _result(claimed.id, outcome)

    def prune(self) -> delivery_log.Pruned:
        before = utcnow() - timedelta(days=self.settings.retention_days)
        with self.database.write() as session:
            pruned = delivery_log.prune(session, before)
        self._pruned_at = time.monotonic()
        return pruned

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        """Deliver until ``stop``: a round, then sleep until woken or the poll interval."""
        listener = self._listen() if not self.database.is_sqlite else None
        log.info("worker %s delivering (%d at a time)", self.name, self.concurrency)
        self._own.active = True
        try:
            while not self.stopping.is_set():
                self.wake.clear()
                try:
                    if time.monotonic() - self._pruned_at >= PRUNE_EVERY:
                        self.prune()
                    self.run_once()
                except DBAPIError as exc:
                    if failure_of(exc) is None:
                        raise
                    log.warning("worker: database unavailable (%s); retrying", first_line(exc))
                self.wake.wait(self.settings.worker_poll_seconds)
        finally:
            self.stopping.set()
            if listener is not None:
                listener.join(timeout=5)
            self._pool.shutdown(wait=True)
            log.info("worker %s stopped", self.name)

    def nudge(self) -> None:
        """Someone else committed: there may be events to dispatch (the worker's own
        commits don't count, or it would never sleep)."""
        if not getattr(self._own, "active", False):
            self.wake.set()

    def stop(self) -> None:
        """Finish the messages in hand, then leave ``run``."""
        self.stopping.set()
        self.wake.set()

    def start(self) -> threading.Thread:
        """``run`` in a background thread (the server's own worker)."""
        thread = threading.Thread(target=self.run, name="ordermill-worker", daemon=True)
        thread.start()
        return thread

    def _listen(self) -> threading.Thread:
        """Wake the loop whenever PostgreSQL says an event was committed."""

        def lost(exc: BaseException) -> None:
            log.warning("worker: not listening (%s); polling", first_line(exc))

        return listen(
            self.database.url,
            CHANNEL,
            stopping=self.stopping,
            on_notify=lambda _payload: self.wake.set(),
            on_listening=self.wake.set,  # whatever came while not listening
            on_lost=lost,
            retry_seconds=self.settings.worker_poll_seconds,
            name="ordermill-listen",
        )


def _message(claimed: Claimed) -> Message:
    endpoint = None
    if claimed.webhook_id is not None and claimed.webhook_url is not None:
        secrets = [claimed.secret] if claimed.secret else []
        until = claimed.previous_secret_until
        if claimed.previous_secret and until is not None and until > utcnow():
            secrets.append(claimed.previous_secret)
        endpoint = Endpoint(claimed.webhook_id, claimed.webhook_url, (), tuple(secrets))
    return Message(
        id=claimed.id,
        event_id=claimed.event_id,
        event_type=claimed.event_type,
        channel=ChannelName(claimed.channel),
        recipient=claimed.recipient,
        content=claimed.content,
        attempts=claimed.attempts,
        created=claimed.event_created,
        endpoint=endpoint,
    )


def _result(delivery_id: int, outcome: Outcome) -> Result:
    if isinstance(outcome, Sent):
        return Result(delivery_id, ok=True, response_code=outcome.response_code)
    if isinstance(outcome, Retry):
        return Result(
            delivery_id,
            ok=False,
            error=outcome.error,
            response_code=outcome.response_code,
            retry_after=outcome.after,
        )
    return Result(
        delivery_id,
        ok=False,
        permanent=True,
        error=outcome.error,
        response_code=outcome.response_code,
    )
