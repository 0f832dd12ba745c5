"""Turning outbox events into deliveries: who hears of each, on which channel, with what.

One transaction takes a batch of events (skipping those another worker holds), reads
what their messages are rendered from in a few set-based statements (the orders with
their lines, their customers, the products, the enabled webhooks), asks each channel
for its drafts, writes them as deliveries and marks the events dispatched. A channel
that can't render an event (a broken template of the store's) leaves a failed
delivery saying why, instead of holding the queue up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ordermill.domain.events import SUBSCRIBABLE, EventType
from ordermill.notify.channels import (
    Audience,
    Channel,
    Endpoint,
    EventContext,
    Person,
    ProductFacts,
)
from ordermill.services import deliveries
from ordermill.services.deliveries import NewDelivery, WaitingEvent
from ordermill.services.order_views import load_orders
from ordermill.services.tables import customers, products, webhooks

log = logging.getLogger("ordermill.notify")


def dispatch(session: Session, channels: Sequence[Channel], now: datetime, limit: int = 500) -> int:
    """Dispatch up to ``limit`` waiting events; returns how many."""
    events = deliveries.claim_events(session, limit)
    if not events:
        return 0
    new: list[NewDelivery] = []
    for context in contexts(session, events):
        for channel in channels:
            try:
                drafts = channel.drafts(context)
            except Exception as exc:  # a store's template, say: keep the queue moving
                log.exception("could not render event %s for %s", context.id, channel.name)
                new.append(
                    NewDelivery(
                        context.id,
                        context.order.id if context.order else None,
                        channel.name.value,
                        Audience.CUSTOMER.value,
                        "",
                        {},
                        failed=f"could not render the message: {exc}",
                    )
                )
                continue
            new.extend(
                NewDelivery(
                    context.id,
                    context.order.id if context.order else None,
                    draft.channel.value,
                    draft.audience.value,
                    draft.recipient,
                    draft.content,
                    draft.webhook_id,
                )
                for draft in drafts
            )
    deliveries.add_deliveries(session, [event.id for event in events], new, now)
    return len(events)


def contexts(session: Session, events: Sequence[WaitingEvent]) -> list[EventContext]:
    """Each event with what its messages are rendered from, in a few statements."""
    orders = load_orders(session, sorted({e.order_id for e in events if e.order_id}))
    customer_ids = sorted({view.customer_id for view in orders.values()})
    people = {
        row.id: Person(row.name, row.email, row.phone)
        for row in session.execute(
            select(customers.c.id, customers.c.name, customers.c.email, customers.c.phone).where(
                customers.c.id.in_(customer_ids)
            )
        )
    }
    product_ids = sorted({e.product_id for e in events if e.product_id})
    facts = {
        row.id: ProductFacts(row.id, row.name, row.sku, row.stock)
        for row in session.execute(
            select(products.c.id, products.c.name, products.c.sku, products.c.stock).where(
                products.c.id.in_(product_ids)
            )
        )
    }
    endpoints = [
        Endpoint(row.id, row.url, tuple(row.events or ()))
        for row in session.execute(
            select(webhooks.c.id, webhooks.c.url, webhooks.c.events)
            .where(webhooks.c.enabled.is_(True))
            .order_by(webhooks.c.id)
        )
    ]
    found: list[EventContext] = []
    for event in events:
        order = orders.get(event.order_id) if event.order_id else None
        person = people.get(order.customer_id) if order else None
        if event.type == EventType.PASSWORD_RESET:
            person = Person(str(event.data.get("name", "")), str(event.data["email"]))
        found.append(
            EventContext(
                id=event.id,
                type=event.type,
                created=event.created,
                data=event.data,
                order=order,
                person=person,
                product=facts.get(event.product_id) if event.product_id else None,
                endpoints=_subscribed(event, endpoints),
            )
        )
    return found


def _subscribed(event: WaitingEvent, endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    """The endpoints this event goes to: a ping to the one pinged, other events to those
    subscribed to them (an empty list subscribes to every event it may)."""
    if event.type == EventType.WEBHOOK_PING:
        return tuple(e for e in endpoints if e.id == event.data.get("webhook_id"))
    if event.type not in SUBSCRIBABLE:
        return ()
    return tuple(e for e in endpoints if not e.events or event.type in e.events)
