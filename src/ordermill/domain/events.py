"""The events ordermill tells people and other systems about, and when they happen.

An event is written to the outbox in the transaction of the change it reports
(``ordermill.services.outbox``); the worker turns it into messages. This module is
pure: which event a transition raises, and when a product's stock counts as low.
"""

from __future__ import annotations

from enum import StrEnum

from ordermill.domain.orders import OrderStatus
from ordermill.domain.workflow import Action


class EventType(StrEnum):
    ORDER_CREATED = "order.created"
    ORDER_PROCESSED = "order.processed"
    ORDER_AWAITING_PAYMENT = "order.awaiting_payment"
    ORDER_PAID = "order.paid"
    ORDER_FULFILLED = "order.fulfilled"
    ORDER_DELIVERED = "order.delivered"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_RETURNED = "order.returned"
    PRODUCT_LOW_STOCK = "product.low_stock"
    PASSWORD_RESET = "account.password_reset"
    WEBHOOK_PING = "webhook.ping"


# Events about an order (they carry its id and are shown on its timeline).
ORDER_EVENTS = frozenset(t for t in EventType if t.value.startswith("order."))

# What webhooks may subscribe to: the order and product events (a password reset
# link is for its owner's inbox only; a ping goes to the endpoint pinged).
SUBSCRIBABLE = frozenset(ORDER_EVENTS | {EventType.PRODUCT_LOW_STOCK})

_BY_ACTION = {
    Action.PAY: EventType.ORDER_PAID,
    Action.FULFILL: EventType.ORDER_FULFILLED,
    Action.DELIVER: EventType.ORDER_DELIVERED,
    Action.CANCEL: EventType.ORDER_CANCELLED,
    Action.RETURN: EventType.ORDER_RETURNED,
}


def for_transition(action: Action, status: OrderStatus) -> EventType:
    """The event a transition raises: processing says whether the order awaits its payment."""
    if action is Action.PROCESS:
        if status is OrderStatus.AWAITING_PAYMENT:
            return EventType.ORDER_AWAITING_PAYMENT
        return EventType.ORDER_PROCESSED
    return _BY_ACTION[action]


def falls_low(before: int, after: int, threshold: int) -> bool:
    """Whether a stock change takes the product to its threshold or below: only the
    change that crosses it raises the event, not every sale after it."""
    return after <= threshold < before
