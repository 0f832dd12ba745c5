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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ordermill.services.tables import (
    deliveries,
    idempotency_keys,
    outbox_events,
    password_resets,
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
    due = session.execute(
        _skip_locked(
            session,
            select(deliveries.c.id)
            .where(
                deliveries.c.status == DeliveryStatus.PENDING.value,
                deliveries.c.next_attempt <= now,
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            )
            .order_by(deliveries.c.next_attempt, deliveries.c.id)
            .limit(limit),
        )
    ).scalars()
    ids = list(due)
    if not ids:
        return []
    session.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(ids))
        .values(lease_until=now + timedelta(seconds=lease), leased_by=worker)
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
    ).all()
    return [Claimed(**row._mapping) for row in rows]


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
    result: Result,
    now: datetime,
    schedule: Schedule,
    webhook_id: int | None = None,
    disable_after: timedelta | None = None,
) -> str:
    """Record an attempt; returns the delivery's status after it.

    Only the worker holding the lease records, so a worker that lost its lease (it
    ran past it, and another took the delivery) does not overwrite the other's outcome.
    """
    mine = and_(
        deliveries.c.id == result.delivery_id,
        deliveries.c.leased_by == worker,
        deliveries.c.status == DeliveryStatus.PENDING.value,
    )
    attempts = session.execute(select(deliveries.c.attempts).where(mine)).scalar_one_or_none()
    if attempts is None:
        return "lost"
    attempts += 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "lease_until": None,
        "leased_by": None,
        "response_code": result.response_code,
        "last_error": result.error,
    }
    if result.ok:
        status = DeliveryStatus.SENT
        values["sent"] = now
    elif result.permanent or attempts >= schedule.max_attempts:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.PENDING
        gap = schedule.next_gap(attempts, result.retry_after)
        values["next_attempt"] = now + timedelta(seconds=gap)
    values["status"] = status.value
    session.execute(update(deliveries).where(mine).values(**values))
    if webhook_id is not None:
        _endpoint_health(session, webhook_id, result, now, disable_after)
    return status.value


def _endpoint_health(
    session: Session,
    webhook_id: int,
    result: Result,
    now: datetime,
    disable_after: timedelta | None,
) -> None:
    """A webhook that answers clears its failing mark; one failing for longer than
    ``disable_after`` is disabled, its pending deliveries cancelled, and says why."""
    if result.ok:
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
        f" {_aware(since, now).isoformat(timespec='seconds')}; last error: {result.error}"
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


# ---------------------------------------------------------------- operations


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    channel: str
    pending: int
    failed: int
    sent: int


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    undispatched: int  # events not yet turned into deliveries
    oldest_waiting: datetime | None  # the oldest event with something still to send
    channels: list[ChannelStatus]

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.channels)

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.channels)


def outbox_status(session: Session) -> OutboxStatus:
    """Counts per channel and status, and how old the oldest waiting event is."""
    undispatched, oldest_event = session.execute(
        select(func.count(), func.min(outbox_events.c.created)).where(
            outbox_events.c.dispatched.is_(None)
        )
    ).one()
    oldest_delivery = session.execute(
        select(func.min(outbox_events.c.created))
        .select_from(deliveries.join(outbox_events, outbox_events.c.id == deliveries.c.event_id))
        .where(deliveries.c.status == DeliveryStatus.PENDING.value)
    ).scalar_one()
    counts: dict[str, dict[str, int]] = {}
    for channel, status, count in session.execute(
        select(deliveries.c.channel, deliveries.c.status, func.count()).group_by(
            deliveries.c.channel, deliveries.c.status
        )
    ):
        counts.setdefault(channel, {})[status] = int(count)
    candidates = [t for t in (oldest_event, oldest_delivery) if t is not None]
    return OutboxStatus(
        undispatched=int(undispatched),
        oldest_waiting=min(candidates) if candidates else None,
        channels=[
            ChannelStatus(
                channel,
                by_status.get(DeliveryStatus.PENDING.value, 0),
                by_status.get(DeliveryStatus.FAILED.value, 0),
                by_status.get(DeliveryStatus.SENT.value, 0),
            )
            for channel, by_status in sorted(counts.items())
        ],
    )


def retry(session: Session, now: datetime, delivery_id: int | None = None) -> int:
    """Send failed deliveries again from their first attempt: one by id, or every
    failed one. Returns how many were put back in the queue."""
    stmt = update(deliveries).where(deliveries.c.status == DeliveryStatus.FAILED.value)
    if delivery_id is not None:
        stmt = stmt.where(deliveries.c.id == delivery_id)
    done = session.execute(
        stmt.values(
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt=now,
            lease_until=None,
            leased_by=None,
        )
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def delivery_status(session: Session, delivery_id: int) -> str | None:
    return session.execute(
        select(deliveries.c.status).where(deliveries.c.id == delivery_id)
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Pruned:
    deliveries: int
    events: int
    idempotency_keys: int
    password_resets: int


def prune(session: Session, before: datetime) -> Pruned:
    """Forget what is done and older than ``before``: sent and cancelled deliveries,
    events with nothing left to send, idempotency keys, used or expired reset links."""
    gone = session.execute(
        delete(deliveries).where(
            deliveries.c.status.in_([DeliveryStatus.SENT.value, DeliveryStatus.CANCELLED.value]),
            deliveries.c.created < before,
        )
    ).rowcount  # type: ignore[attr-defined]
    events = session.execute(
        delete(outbox_events).where(
            outbox_events.c.dispatched.is_not(None),
            outbox_events.c.dispatched < before,
            ~select(deliveries.c.id).where(deliveries.c.event_id == outbox_events.c.id).exists(),
        )
    ).rowcount  # type: ignore[attr-defined]
    keys = session.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created < before)
    ).rowcount  # type: ignore[attr-defined]
    resets = session.execute(
        delete(password_resets).where(password_resets.c.expires < before)
    ).rowcount  # type: ignore[attr-defined]
    return Pruned(int(gone), int(events), int(keys), int(resets))


# ---------------------------------------------------------------- an order's notifications


@dataclass(frozen=True, slots=True)
class Notification:
    """A message about an order, as its timeline shows it."""

    id: int
    event_type: str
    channel: str
    audience: str
    recipient: str
    status: str
    attempts: int
    created: datetime
    sent: datetime | None
    next_attempt: datetime | None
    last_error: str | None

    @property
    def state(self) -> str:
        """As staff read it: queued (not tried yet), retrying, sent, failed or cancelled."""
        if self.status == DeliveryStatus.PENDING:
            return "retrying" if self.attempts else "queued"
        return self.status


def for_order(session: Session, order_id: int) -> list[Notification]:
    """The order's messages (queued, sent, retrying, failed), oldest first."""
    rows = session.execute(
        select(
            deliveries.c.id,
            outbox_events.c.type,
            deliveries.c.channel,
            deliveries.c.audience,
            deliveries.c.recipient,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.created,
            deliveries.c.sent,
            deliveries.c.next_attempt,
            deliveries.c.last_error,
        )
        .join(outbox_events, outbox_events.c.id == deliveries.c.event_id)
        .where(deliveries.c.order_id == order_id)
        .order_by(deliveries.c.id)
    ).all()
    return [
        Notification(
            *row[:9],
            row.next_attempt if row.status == DeliveryStatus.PENDING.value else None,
            row.last_error,
        )
        for row in rows
    ]


def waiting_for_order(session: Session, order_id: int) -> Mapping[str, int]:
    """Events of the order not yet dispatched, by type (shown as queued)."""
    rows = session.execute(
        select(outbox_events.c.type, func.count())
        .where(outbox_events.c.order_id == order_id, outbox_events.c.dispatched.is_(None))
        .group_by(outbox_events.c.type)
    ).all()
    return {row[0]: int(row[1]) for row in rows}
