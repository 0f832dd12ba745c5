"""What every channel (email, text message, webhook) is to the dispatcher and the worker.

A channel does two things, neither of them with the database:

- ``drafts(event)``: who hears of an event on this channel, and the message each one
  gets, rendered once when the event is dispatched (a retry sends the same message);
- ``send(message)``: deliver one message and say how it went: ``Sent``, ``Retry``
  (a timeout, a 4xx from a mail server, a 5xx or 429 from a webhook) or ``Failed``
  (permanent: a 5xx from a mail server, a 4xx from a webhook).

The dispatcher (``ordermill.notify.dispatch``) writes the drafts as deliveries in the
transaction that marks the event dispatched; the worker (``ordermill.notify.worker``)
claims deliveries, sends them and records the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from ordermill.services.order_views import OrderView


class ChannelName(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class Audience(StrEnum):
    CUSTOMER = "customer"  # the order's customer (or the account a reset link is for)
    STAFF = "staff"  # ORDERMILL_STAFF_EMAILS
    ENDPOINT = "endpoint"  # a registered webhook


@dataclass(frozen=True, slots=True)
class Person:
    """Whom an event is about: the order's customer, or an account's owner."""

    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class ProductFacts:
    id: int
    name: str
    sku: str
    stock: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A registered webhook as the dispatcher and the sender see it."""

    id: int
    url: str
    events: tuple[str, ...]  # empty: every event it may subscribe to
    secrets: tuple[str, ...] = ()  # the current secret, then a rotated one still honoured


@dataclass(frozen=True, slots=True)
class EventContext:
    """An outbox event with everything its messages are rendered from."""

    id: int
    type: str  # an ``EventType`` value
    created: datetime
    data: dict[str, Any]
    order: OrderView | None = None  # order events (None if the order was deleted since)
    person: Person | None = None  # the order's customer, or the account (password reset)
    product: ProductFacts | None = None  # product.low_stock
    endpoints: Sequence[Endpoint] = field(default_factory=tuple)  # enabled webhooks


@dataclass(frozen=True, slots=True)
class Draft:
    """A message decided and rendered at dispatch, before it is a delivery."""

    channel: ChannelName
    audience: Audience
    recipient: str  # email address, E.164 number, or URL
    content: dict[str, Any]  # whatever ``send`` needs, JSON: subject and bodies, text, body
    webhook_id: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A claimed delivery, ready to send."""

    id: int  # the delivery's id
    event_id: int
    event_type: str
    channel: ChannelName
    recipient: str
    content: dict[str, Any]
    attempts: int  # before this one
    created: datetime  # when the event was written
    endpoint: Endpoint | None = None  # webhooks: with the secrets to sign with


@dataclass(frozen=True, slots=True)
class Sent:
    response_code: int | None = None
    detail: str | None = None  # where a message written to a file went, for the log


@dataclass(frozen=True, slots=True)
class Retry:
    """A failure that may pass: try again later (``after``: seconds the receiver asked for)."""

    error: str
    response_code: int | None = None
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """A failure that will not pass by trying again."""

    error: str
    response_code: int | None = None


Outcome = Sent | Retry | Failed


class Channel(Protocol):
    name: ChannelName

    def drafts(self, event: EventContext) -> list[Draft]:
        """The messages this event gets on this channel (none is fine)."""
        ...

    def send(self, message: Message) -> Outcome:
        """Deliver one message; never raises for a failure of the other side."""
        ...
