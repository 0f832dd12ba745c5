"""What the delivery queue holds, as people read it, and what staff do with it: counts
per channel, an order's messages, sending failed ones again, forgetting old ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ordermill.errors import Code, Conflict, NotFound
from ordermill.services.deliveries import DeliveryStatus
from ordermill.services.tables import (
    deliveries,
    idempotency_keys,
    outbox_events,
    password_resets,
)


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
    """Send failed deliveries again from their first attempt: one by id (which must
    exist and have failed), or every failed one. Returns how many were queued again."""
    stmt = update(deliveries).where(deliveries.c.status == DeliveryStatus.FAILED.value)
    if delivery_id is not None:
        status = delivery_status(session, delivery_id)
        if status is None:
            raise NotFound(f"no delivery has id {delivery_id}", code=Code.DELIVERY_NOT_FOUND)
        if status != DeliveryStatus.FAILED:
            raise Conflict(
                f"delivery {delivery_id} is {status}; only a failed one is retried",
                code=Code.DELIVERY_NOT_FAILED,
            )
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
