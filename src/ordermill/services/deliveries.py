"""The delivery queue: outbox events fanned out into deliveries, claimed under a lease,
sent, and marked with how it went.

Any number of workers share it. A worker takes events to dispatch and deliveries to
send with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has one writer at a time),
and holds a claimed delivery for ``lease`` seconds: a worker that dies lets its lease
run out and another sends the delivery again, the one window in which a message can go
out twice (with the same delivery and event ids, so receivers recognise it).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import bindparam, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from ordermill.models import UTCDateTime
from ordermill.services.tables import (
    deliveries,
    outbox_events,
    webhooks,
)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first attempt or its next one
    SENT = "sent"
    FAILED = "failed"  # for good: a permanent refusal, or out of attempts
    CANCELLED = "cancelled"  # its webhook was disabled or deleted


@dataclass(frozen=True, slots=True)
class WaitingEvent:
    id: int
    type: str
    order_id: int | None
    product_id: int | None
    user_id: int | None
    data: dict[str, Any]
    created: datetime


@dataclass(frozen=True, slots=True)
class NewDelivery:
    event_id: int
    order_id: int | None
    channel: str
    audience: str
    recipient: str
    content: dict[str, Any]
    webhook_id: int | None = None
    failed: str | None = None  # could not even be rendered: written as failed, saying why


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for sending, with its event and (webhooks) its endpoint."""

    id: int
    event_id: int
    event_type: str
    event_created: datetime
    channel: str
    recipient: str
    content: dict[str, Any]
    attempts: int
    webhook_id: int | None
    webhook_url: str | None
    secret: str | None
    previous_secret: str | None
    previous_secret_until: datetime | None


# ---------------------------------------------------------------- dispatching


def _skip_locked(session: Session, stmt: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def claim_events(session: Session, limit: int) -> list[WaitingEvent]:
    """Events not dispatched yet, oldest first, locked against other dispatchers."""
    rows = session.execute(
        _skip_locked(
            session,
            select(
                outbox_events.c.id,
                outbox_events.c.type,
                outbox_events.c.order_id,
                outbox_events.c.product_id,
                outbox_events.c.user_id,
                outbox_events.c.data,
                outbox_events.c.created,
            )
            .where(outbox_events.c.dispatched.is_(None))
            .order_by(outbox_events.c.id)
            .limit(limit),
        )
    ).all()
    return [WaitingEvent(*row) for row in rows]


def add_deliveries(
    session: Session, event_ids: Sequence[int], new: Sequence[NewDelivery], now: datetime
) -> None:
    """Write the deliveries of these events and mark them dispatched, in two statements."""
    if new:
        session.execute(
            insert(deliveries),
            [
                {
                    "event_id": d.event_id,
                    "order_id": d.order_id,
                    "channel": d.channel,
                    "audience": d.audience,
                    "recipient": d.recipient,
                    "webhook_id": d.webhook_id,
                    "message": d.content,
                    "status": (DeliveryStatus.FAILED if d.failed else DeliveryStatus.PENDING).value,
                    "last_error": d.failed,
                    "attempts": 0,
                    "next_attempt": now,
                    "created": now,
                }
                for d in new
            ],
        )
    if event_ids:
        session.execute(
            update(outbox_events)
            .where(outbox_events.c.id.in_(list(event_ids)))
            .values(dispatched=now)
        )


# ---------------------------------------------------------------- sending


def claim_deliveries(
    session: Session, worker: str, limit: int, now: datetime, lease: float
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for ``worker`` until ``now + lease``."""
    until = now + timedelta(seconds=lease)
    if session.get_bind().dialect.name == "postgresql":
        # One statement: lock the due rows (skipping those another worker holds), lease
        # them, and read them with their events and endpoints.
        values = {"now": now, "until": until, "worker": worker, "limit": limit}
        return _claimed(session.execute(_CLAIM_PG, values))
    ids = list(
        session.execute(
            select(deliveries.c.id)
            .where(
                deliveries.c.status == DeliveryStatus.PENDING.value,
                deliveries.c.next_attempt <= now,
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            )
            .order_by(deliveries.c.next_attempt, deliveries.c.id)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return []
    session.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(ids))
        .values(lease_until=until, leased_by=worker)
    )
    rows = session.execute(
        select(
            deliveries.c.id,
            deliveries.c.event_id,
            outbox_events.c.type.label("event_type"),
            outbox_events.c.created.label("event_created"),
            deliveries.c.channel,
            deliveries.c.recipient,
            deliveries.c.message.label("content"),
            deliveries.c.attempts,
            deliveries.c.webhook_id,
            webhooks.c.url.label("webhook_url"),
            webhooks.c.secret,
            webhooks.c.previous_secret,
            webhooks.c.previous_secret_until,
        )
        .join(outbox_events, outbox_events.c.id == deliveries.c.event_id)
        .outerjoin(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.next_attempt, deliveries.c.id)
    )
    return _claimed(rows)


def _claimed(rows: Iterable[Any]) -> list[Claimed]:
    return [Claimed(*cast(tuple[Any, ...], row)) for row in rows]


_CLAIM_PG = (
    text(
        """
WITH due AS (
    SELECT id FROM deliveries
    WHERE status = 'pending' AND next_attempt <= :now
      AND (lease_until IS NULL OR lease_until < :now)
    ORDER BY next_attempt, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE deliveries AS d SET lease_until = :until, leased_by = :worker
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.event_id, d.channel, d.recipient, d.message, d.attempts,
              d.webhook_id, d.next_attempt
)
SELECT c.id, c.event_id, e.type, e.created, c.channel, c.recipient, c.message,
       c.attempts, c.webhook_id, w.url, w.secret, w.previous_secret,
       w.previous_secret_until
FROM claimed AS c
JOIN outbox_events AS e ON e.id = c.event_id
LEFT JOIN webhooks AS w ON w.id = c.webhook_id
ORDER BY c.next_attempt, c.id
"""
    )
    .bindparams(bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))
    .columns(created=UTCDateTime(), previous_secret_until=UTCDateTime())
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a failed delivery is tried again: the gaps after each failed attempt
    (the last repeats), with jitter, until ``max_attempts``."""

    gaps: tuple[float, ...]
    max_attempts: int
    jitter: float = 0.2  # each gap is stretched or shrunk by up to this fraction

    def next_gap(self, attempts: int, asked: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (``asked``: what the
        receiver asked for with ``Retry-After``, honoured up to a day)."""
        gap = self.gaps[min(attempts, len(self.gaps)) - 1]
        gap *= 1 + random.uniform(-self.jitter, self.jitter)
        if asked is not None:
            gap = max(gap, min(asked, 86_400.0))
        return gap


@dataclass(frozen=True, slots=True)
class Result:
    """How one attempt went, as the worker records it."""

    delivery_id: int
    ok: bool
    permanent: bool = False
    error: str | None = None
    response_code: int | None = None
    retry_after: float | None = None


def record(
    session: Session,
    worker: str,
    results: Sequence[tuple[Result, Claimed]],
    now: datetime,
    schedule: Schedule,
    disable_after: timedelta | None = None,
) -> dict[int, str]:
    """Record a batch of attempts (each with the delivery as claimed); returns each
    delivery's status after it.

    Only the worker holding the lease records, so a worker that lost its lease (it
    ran past it, and another took the delivery) does not overwrite the other's outcome:
    its deliveries come back ``lost``. While the lease is held nobody else changes the
    delivery, so its attempts are the claimed ones plus this one.
    """
    rows: list[tuple[int, str, int, int | None, str | None, datetime | None, datetime | None]]
    rows = []
    for result, claimed in results:
        attempts = claimed.attempts + 1
        next_attempt = None
        if result.ok:
            status = DeliveryStatus.SENT
        elif result.permanent or attempts >= schedule.max_attempts:
            status = DeliveryStatus.FAILED
        else:
            status = DeliveryStatus.PENDING
            gap = schedule.next_gap(attempts, result.retry_after)
            next_attempt = now + timedelta(seconds=gap)
        sent = now if result.ok else None
        rows.append(
            (
                claimed.id,
                status.value,
                attempts,
                result.response_code,
                result.error,
                sent,
                next_attempt,
            )
        )
    recorded = _write_outcomes(session, worker, rows) if rows else set()
    statuses = {row[0]: row[1] if row[0] in recorded else "lost" for row in rows}
    for webhook_id, outcomes in _by_webhook(results, statuses).items():
        _endpoint_health(session, webhook_id, outcomes, now, disable_after)
    return statuses


def _write_outcomes(session: Session, worker: str, rows: list[tuple[Any, ...]]) -> set[int]:
    """Write the outcomes of the deliveries ``worker`` still holds; their ids."""
    if session.get_bind().dialect.name == "postgresql":
        columns = list(zip(*rows, strict=True))
        names = ("ids", "statuses", "attempts", "codes", "errors", "sent", "next_at")
        values = dict(zip(names, map(list, columns), strict=True))
        return set(session.execute(_RECORD_PG, {**values, "worker": worker}).scalars())
    held = set(
        session.execute(
            select(deliveries.c.id).where(
                deliveries.c.id.in_([row[0] for row in rows]),
                deliveries.c.leased_by == worker,
                deliveries.c.status == DeliveryStatus.PENDING.value,
            )
        ).scalars()
    )
    names = ("b_id", "b_status", "b_attempts", "b_code", "b_error", "b_sent", "b_next")
    mine = [dict(zip(names, row, strict=True)) for row in rows if row[0] in held]
    if mine:
        session.execute(_RECORD, mine)
    return held


_RECORD = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        response_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        sent=func.coalesce(bindparam("b_sent", type_=deliveries.c.sent.type), deliveries.c.sent),
        next_attempt=func.coalesce(
            bindparam("b_next", type_=deliveries.c.next_attempt.type), deliveries.c.next_attempt
        ),
        lease_until=None,
        leased_by=None,
    )
)

_RECORD_PG = text(
    """
UPDATE deliveries AS d
SET status = v.status, attempts = v.attempts, response_code = v.code,
    last_error = v.error, sent = coalesce(v.sent, d.sent),
    next_attempt = coalesce(v.next_at, d.next_attempt), lease_until = NULL, leased_by = NULL
FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS text[]), CAST(:attempts AS integer[]),
            CAST(:codes AS integer[]), CAST(:errors AS text[]),
            CAST(:sent AS timestamptz[]), CAST(:next_at AS timestamptz[]))
     AS v(id, status, attempts, code, error, sent, next_at)
WHERE d.id = v.id AND d.leased_by = :worker AND d.status = 'pending'
RETURNING d.id
"""
)


def _by_webhook(
    results: Sequence[tuple[Result, Claimed]], statuses: Mapping[int, str]
) -> dict[int, list[Result]]:
    """The recorded attempts of each webhook in the batch."""
    found: dict[int, list[Result]] = {}
    for result, claimed in results:
        webhook_id = claimed.webhook_id
        if webhook_id is not None and statuses[result.delivery_id] != "lost":
            found.setdefault(webhook_id, []).append(result)
    return found


def _endpoint_health(
    session: Session,
    webhook_id: int,
    outcomes: Sequence[Result],
    now: datetime,
    disable_after: timedelta | None,
) -> None:
    """A webhook that answered clears its failing mark; one failing for longer than
    ``disable_after`` is disabled, its pending deliveries cancelled, and says why."""
    if any(result.ok for result in outcomes):
        session.execute(
            update(webhooks)
            .where(webhooks.c.id == webhook_id, webhooks.c.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return
    since = session.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id)
        .values(failing_since=func.coalesce(webhooks.c.failing_since, now))
        .returning(webhooks.c.failing_since)
    ).scalar_one_or_none()
    if since is None or disable_after is None or now - _aware(since, now) < disable_after:
        return
    reason = (
        f"disabled at {now.isoformat(timespec='seconds')}: failing since"
        f" {_aware(since, now).isoformat(timespec='seconds')}; last error: {outcomes[-1].error}"
    )
    session.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id, webhooks.c.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason)
    )
    cancel_pending(session, webhook_id, "its webhook was disabled")


def _aware(value: datetime, like: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=like.tzinfo)


def cancel_pending(session: Session, webhook_id: int, why: str) -> None:
    session.execute(
        update(deliveries)
        .where(
            deliveries.c.webhook_id == webhook_id,
            deliveries.c.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.CANCELLED.value, last_error=why, lease_until=None)
    )
