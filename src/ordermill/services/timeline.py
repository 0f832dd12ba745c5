"""An order's timeline: created, processed, paid, shipped, delivered, cancelled, returned, notes.

Events are written by the service that makes the change, in its transaction.
Each is visible to the customer or to staff only (staff notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ordermill.errors import order_not_found
from ordermill.models import utcnow
from ordermill.services import delivery_log
from ordermill.services.audit import Actor
from ordermill.services.tables import order_events, orders


class Visibility(StrEnum):
    CUSTOMER = "customer"  # the customer sees it on their order
    STAFF = "staff"  # staff only


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    order_id: int
    at: datetime
    kind: str
    actor: str
    visibility: str
    detail: dict[str, Any]


MAX_EVENTS = 1000


def record(
    session: Session,
    order_id: int,
    kind: str,
    actor: Actor,
    detail: dict[str, Any] | None = None,
    *,
    visibility: Visibility = Visibility.CUSTOMER,
    now: datetime | None = None,
) -> None:
    session.execute(
        insert(order_events).values(
            order_id=order_id,
            at=now or utcnow(),
            kind=kind,
            actor=actor.label,
            visibility=visibility.value,
            detail=detail or {},
        )
    )


def record_many(
    session: Session,
    events: list[tuple[int, str, dict[str, Any]]],
    actor: Actor,
    *,
    now: datetime | None = None,
) -> None:
    """Customer-visible events ``(order id, kind, detail)`` in one statement."""
    at = now or utcnow()
    session.execute(
        insert(order_events),
        [
            {
                "order_id": order_id,
                "at": at,
                "kind": kind,
                "actor": actor.label,
                "visibility": Visibility.CUSTOMER.value,
                "detail": detail,
            }
            for order_id, kind, detail in events
        ],
    )


def add_note(
    session: Session,
    order_id: int,
    text: str,
    *,
    visibility: Visibility,
    actor: Actor,
    customer_id: int | None = None,
) -> Event:
    """A note on the order's timeline (``customer_id`` limits it to that customer's order)."""
    _ensure_order(session, order_id, customer_id)
    now = utcnow()
    event_id = session.execute(
        insert(order_events)
        .values(
            order_id=order_id,
            at=now,
            kind="note",
            actor=actor.label,
            visibility=visibility.value,
            detail={"text": text},
        )
        .returning(order_events.c.id)
    ).scalar_one()
    return Event(event_id, order_id, now, "note", actor.label, visibility.value, {"text": text})


def _ensure_order(session: Session, order_id: int, customer_id: int | None) -> None:
    """404 unless the order exists (and, with ``customer_id``, is that customer's)."""
    owner = session.execute(
        select(orders.c.customer_id).where(orders.c.id == order_id)
    ).scalar_one_or_none()
    if owner is None or (customer_id is not None and owner != customer_id):
        raise order_not_found(order_id)


def list_events(session: Session, order_id: int, *, customer_id: int | None = None) -> list[Event]:
    """The timeline, oldest first; for a customer (``customer_id``) only what they may see.

    Staff also see every message about the order (``notification`` entries, whose id is
    the delivery's): queued, retrying, sent, failed with the error, or cancelled.
    """
    _ensure_order(session, order_id, customer_id)
    stmt = select(order_events).where(order_events.c.order_id == order_id)
    if customer_id is not None:
        stmt = stmt.where(order_events.c.visibility == Visibility.CUSTOMER.value)
    rows = session.execute(stmt.order_by(order_events.c.id).limit(MAX_EVENTS)).all()
    events = [
        Event(r.id, r.order_id, r.at, r.kind, r.actor, r.visibility, r.detail or {}) for r in rows
    ]
    if customer_id is not None:
        return events
    messages = sorted(
        (_notification_event(order_id, n) for n in delivery_log.for_order(session, order_id)),
        key=lambda message: message.at,
    )
    # Events keep their own order; each message goes before the first event after it.
    merged: list[Event] = []
    for event in events:
        while messages and messages[0].at < event.at:
            merged.append(messages.pop(0))
        merged.append(event)
    return merged + messages


NOTIFICATION = "notification"  # the kind of a message's entry


def _notification_event(order_id: int, message: delivery_log.Notification) -> Event:
    detail: dict[str, Any] = {
        "event": message.event_type,
        "channel": message.channel,
        "audience": message.audience,
        "recipient": message.recipient,
        "status": message.state,
        "attempts": message.attempts,
    }
    if message.last_error:
        detail["error"] = message.last_error
    if message.next_attempt is not None:
        detail["next_attempt"] = message.next_attempt.isoformat()
    return Event(
        message.id,
        order_id,
        message.sent or message.created,
        NOTIFICATION,
        "ordermill",
        Visibility.STAFF.value,
        detail,
    )
