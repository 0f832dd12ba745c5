"""Webhook endpoints: registering, changing, rotating secrets, pinging, and their
deliveries (listed, and sent again on request).

A secret (``whsec_`` and base64 of 24 random bytes) is shown once, when made; after a
rotation the previous one keeps signing for ``SECRET_OVERLAP`` so receivers can
switch over. Every URL passes the address guard (``ordermill.notify.addresses``)
when registered or changed, and again before each delivery.
"""

from __future__ import annotations

import base64
import secrets as random_secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, insert, select
from sqlalchemy.orm import Session

from ordermill.domain.events import SUBSCRIBABLE, EventType
from ordermill.errors import Code, InvalidInput, NotFound
from ordermill.models import Webhook
from ordermill.notify import addresses
from ordermill.services import audit, deliveries, outbox
from ordermill.services.audit import Actor
from ordermill.services.deliveries import DeliveryStatus
from ordermill.services.pagination import Page, decode_id_cursor, encode_cursor
from ordermill.services.plans import OutboxRow
from ordermill.services.tables import deliveries as deliveries_table
from ordermill.services.tables import outbox_events

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
SECRET_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(SECRET_BYTES)).decode()


def checked_url(url: str, *, allow_private: bool) -> str:
    """The URL, if a webhook may use it (else ``webhook_url_not_allowed``)."""
    try:
        addresses.check(url, allow_private=allow_private)
    except addresses.RefusedAddress as exc:
        raise InvalidInput(
            f"The webhook URL is not allowed: {exc}.",
            code=Code.WEBHOOK_URL_NOT_ALLOWED,
            field="url",
        ) from None
    return url


def checked_events(events: Sequence[str]) -> list[str]:
    """The subscribed event types, sorted and once each; an empty list means all."""
    known = sorted(t.value for t in SUBSCRIBABLE)
    unknown = sorted({e for e in events if e not in known})
    if unknown:
        raise InvalidInput(
            f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(known)}.",
            field="events",
        )
    return sorted(set(events))


@dataclass(frozen=True, slots=True)
class Issued:
    """A webhook with the secret just made for it (shown this once)."""

    webhook: Webhook
    secret: str


def create_webhook(
    session: Session,
    *,
    url: str,
    events: Sequence[str],
    description: str,
    allow_private: bool,
    actor: Actor,
) -> Issued:
    webhook = Webhook(
        url=checked_url(url, allow_private=allow_private),
        events=checked_events(events),
        description=description,
        secret=new_secret(),
        enabled=True,
    )
    session.add(webhook)
    session.flush()
    audit.record(session, actor, "webhook.created", "webhook", webhook.id, {"url": webhook.url})
    return Issued(webhook, webhook.secret)


def list_webhooks(session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def get_webhook(session: Session, webhook_id: int, *, for_update: bool = False) -> Webhook:
    stmt = select(Webhook).where(Webhook.id == webhook_id)
    if for_update:
        stmt = stmt.with_for_update()
    webhook = session.scalar(stmt)
    if webhook is None:
        raise NotFound(f"Webhook {webhook_id} does not exist.", code=Code.WEBHOOK_NOT_FOUND)
    return webhook


@dataclass(frozen=True, slots=True)
class WebhookChanges:
    """What a change sets (None: left as it is)."""

    url: str | None = None
    events: Sequence[str] | None = None
    description: str | None = None
    enabled: bool | None = None


def update_webhook(
    session: Session,
    webhook_id: int,
    changes: WebhookChanges,
    *,
    allow_private: bool,
    actor: Actor,
) -> Webhook:
    """Change a webhook. Re-enabling forgets why it was disabled and since when it
    failed; disabling cancels its pending deliveries."""
    webhook = get_webhook(session, webhook_id, for_update=True)
    changed: dict[str, object] = {}
    if changes.url is not None and changes.url != webhook.url:
        webhook.url = checked_url(changes.url, allow_private=allow_private)
        changed["url"] = webhook.url
    if changes.events is not None:
        webhook.events = checked_events(changes.events)
        changed["events"] = webhook.events
    if changes.description is not None:
        webhook.description = changes.description
        changed["description"] = webhook.description
    if changes.enabled is True and not webhook.enabled:
        webhook.enabled = True
        webhook.disabled_reason = None
        webhook.failing_since = None
        changed["enabled"] = True
    elif changes.enabled is False and webhook.enabled:
        webhook.enabled = False
        webhook.disabled_reason = "disabled by an admin"
        deliveries.cancel_pending(session, webhook.id, "its webhook was disabled")
        changed["enabled"] = False
    session.flush()
    if changed:
        audit.record(session, actor, "webhook.updated", "webhook", webhook.id, changed)
    return webhook


def delete_webhook(session: Session, webhook_id: int, *, actor: Actor) -> None:
    """Delete a webhook; its pending deliveries are cancelled (and go with it)."""
    webhook = get_webhook(session, webhook_id, for_update=True)
    deliveries.cancel_pending(session, webhook.id, "its webhook was deleted")
    session.delete(webhook)
    session.flush()
    audit.record(session, actor, "webhook.deleted", "webhook", webhook_id)


def rotate_secret(session: Session, webhook_id: int, now: datetime, *, actor: Actor) -> Issued:
    """A new secret; the one it replaces keeps signing for ``SECRET_OVERLAP``."""
    webhook = get_webhook(session, webhook_id, for_update=True)
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_until = now + SECRET_OVERLAP
    webhook.secret = new_secret()
    session.flush()
    audit.record(session, actor, "webhook.secret_rotated", "webhook", webhook.id)
    return Issued(webhook, webhook.secret)


def ping(session: Session, webhook_id: int, now: datetime) -> None:
    """Queue a ``webhook.ping`` event for this endpoint only."""
    get_webhook(session, webhook_id)
    outbox.record(
        session,
        [OutboxRow(EventType.WEBHOOK_PING.value, None, {"webhook_id": webhook_id})],
        now,
    )


# ---------------------------------------------------------------- deliveries


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    event_id: int
    event_type: str
    status: str
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt: datetime | None  # when pending
    created: datetime
    sent: datetime | None


def _delivery_query() -> Select[Any]:
    return select(
        deliveries_table.c.id,
        deliveries_table.c.event_id,
        outbox_events.c.type.label("event_type"),
        deliveries_table.c.status,
        deliveries_table.c.attempts,
        deliveries_table.c.response_code,
        deliveries_table.c.last_error,
        deliveries_table.c.next_attempt,
        deliveries_table.c.created,
        deliveries_table.c.sent,
    ).join(outbox_events, outbox_events.c.id == deliveries_table.c.event_id)


def _view(row: Row[Any]) -> DeliveryView:
    values = dict(row._mapping)
    if values["status"] != DeliveryStatus.PENDING.value:
        values["next_attempt"] = None
    return DeliveryView(**values)


def list_deliveries(
    session: Session, webhook_id: int, *, limit: int, cursor: str | None = None
) -> Page[DeliveryView]:
    """A webhook's deliveries, newest first."""
    get_webhook(session, webhook_id)
    stmt = _delivery_query().where(deliveries_table.c.webhook_id == webhook_id)
    if cursor is not None:
        stmt = stmt.where(deliveries_table.c.id < decode_id_cursor(cursor))
    rows = session.execute(stmt.order_by(deliveries_table.c.id.desc()).limit(limit + 1)).all()
    items = [_view(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(items, encode_cursor(items[-1].id) if more and items else None)


def get_delivery(session: Session, webhook_id: int, delivery_id: int) -> DeliveryView:
    row = session.execute(
        _delivery_query().where(
            deliveries_table.c.id == delivery_id, deliveries_table.c.webhook_id == webhook_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"Webhook {webhook_id} has no delivery {delivery_id}.", code=Code.DELIVERY_NOT_FOUND
        )
    return _view(row)


def redeliver(session: Session, webhook_id: int, delivery_id: int, now: datetime) -> DeliveryView:
    """A new pending delivery of the same event and content (so the same ``webhook-id``)."""
    webhook = get_webhook(session, webhook_id)
    original = session.execute(
        select(
            deliveries_table.c.event_id,
            deliveries_table.c.order_id,
            deliveries_table.c.channel,
            deliveries_table.c.audience,
            deliveries_table.c.message,
        ).where(deliveries_table.c.id == delivery_id, deliveries_table.c.webhook_id == webhook_id)
    ).one_or_none()
    if original is None:
        raise NotFound(
            f"Webhook {webhook_id} has no delivery {delivery_id}.", code=Code.DELIVERY_NOT_FOUND
        )
    new_id = session.execute(
        insert(deliveries_table)
        .values(
            event_id=original.event_id,
            order_id=original.order_id,
            channel=original.channel,
            audience=original.audience,
            recipient=webhook.url,
            webhook_id=webhook_id,
            message=original.message,
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt=now,
            created=now,
        )
        .returning(deliveries_table.c.id)
    ).scalar_one()
    return get_delivery(session, webhook_id, new_id)
