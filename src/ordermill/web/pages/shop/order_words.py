"""An order as its customer reads it: its status, what happens next, its history.

The one place the storefront turns the workflow's states into a customer's words;
every storefront page names a status through ``STATUS``. The back office speaks to
staff in its own terms (``order_page``, ``order_timeline``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from ordermill.display import money
from ordermill.domain.orders import OrderStatus
from ordermill.domain.workflow import REASONS, PaymentFlow
from ordermill.errors import Code
from ordermill.services.order_views import OrderView
from ordermill.services.timeline import Event
from ordermill.web.pages.order_timeline import Entry, describe

# What each state means to the customer, in the words every storefront page uses.
STATUS = {
    OrderStatus.PENDING: "Received",
    OrderStatus.AWAITING_PAYMENT: "Waiting for your payment",
    OrderStatus.PROCESSED: "Paid, being prepared",
    OrderStatus.FULFILLED: "Shipped",
    OrderStatus.DELIVERED: "Delivered",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.RETURNED: "Returned",
}

# How a payment was made, as the customer says it.
PAYMENT_METHODS = {
    "balance": "Store balance",
    "bank_transfer": "Bank transfer",
    "card": "Card",
    "cash": "Cash",
    "cheque": "Cheque",
    "other": "Other",
}

# The facts of a timeline event the customer is shown; the rest (how stock was
# taken, units restocked, who in the store did it) is the store's business.
CUSTOMER_FACTS = frozenset(
    {"total", "amount", "method", "carrier", "tracking_number", "reason", "refunded"}
)

# Why the customer may not cancel their order now, by the workflow's reason.
CANCEL_REFUSALS: dict[str, str] = {
    Code.NOT_CANCELLABLE_BY_CUSTOMER: (
        "Your order is paid and the store is preparing it, so it can no longer be "
        "cancelled here; contact the store if you need to."
    ),
    Code.ALREADY_FULFILLED: "Your order has shipped, so it can no longer be cancelled.",
    Code.ALREADY_DELIVERED: "Your order has been delivered, so it can no longer be cancelled.",
    Code.ALREADY_CANCELLED: "This order is cancelled already.",
    Code.ALREADY_RETURNED: "This order has come back to the store; it can't be cancelled.",
}


def status_words(status: str) -> str:
    """The order's state in the customer's words."""
    try:
        return STATUS[OrderStatus(status)]
    except ValueError:
        return status.replace("_", " ").capitalize()


def cancel_refusal(reason: str | None) -> str:
    """Why the order can't be cancelled by its customer now (``reason``: the workflow's
    code), in their words."""
    if reason is None:
        return ""
    try:
        return CANCEL_REFUSALS.get(Code(reason)) or REASONS[Code(reason)]
    except (ValueError, KeyError):
        return "This order can't be cancelled now."


def next_steps(view: OrderView, flow: PaymentFlow) -> str:
    """What happens to the order from here, in words (``flow``: how a pending order will
    be paid, the store's setting; an order processed already keeps its own)."""
    status = OrderStatus(view.status)
    total = money(view.total, view.currency)
    if status is OrderStatus.PENDING:
        if flow is PaymentFlow.ADVANCE:
            return (
                "The store will check your order and set the goods aside for you; then "
                f"it waits for your payment of {total}. Nothing is charged to your store "
                "balance. You can cancel the order until it is paid."
            )
        return (
            "The store will check your order and take the goods from its stock; "
            f"the total of {total} is then paid from your store balance. "
            "You can cancel the order until then."
        )
    if status is OrderStatus.AWAITING_PAYMENT:
        due = money(view.balance_due, view.currency)
        return (
            f"The goods are set aside for you. Once your payment of {due} has arrived, "
            "the order is prepared and shipped. You can cancel it until it is paid."
        )
    if status is OrderStatus.PROCESSED:
        return (
            "Your order is paid and the store is preparing it for shipping. "
            "You will find the tracking details here once it has shipped."
        )
    if status is OrderStatus.FULFILLED:
        return "Your order is on its way to you."
    if status is OrderStatus.DELIVERED:
        return "Your order has been delivered. If something is wrong with it, contact the store."
    if status is OrderStatus.CANCELLED:
        if view.refunded:
            refunded = money(view.refunded, view.currency)
            return f"This order is cancelled; {refunded} went back to your store balance."
        return "This order is cancelled; nothing was charged for it."
    return (
        "Some or all of this order came back to the store; what was refunded "
        "went back to your store balance."
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Moment:
    """A date in the order's life: what happened, and when."""

    label: str
    at: datetime


def moments(view: OrderView) -> list[Moment]:
    """The order's dates so far, oldest first."""
    pairs = [
        ("Placed", view.created),
        ("Processed", view.processed),
        ("Shipped", view.fulfilled),
        ("Delivered", view.delivered),
        ("Cancelled", view.cancelled),
    ]
    return [Moment(label, at) for label, at in pairs if at is not None]


def history(events: list[Event], view: OrderView) -> list[Entry]:
    """The order's timeline as its customer sees it (``events``: the customer's view of
    ``timeline.list_events``, without the store's internal notes), with only the facts
    that concern them, and no names of the store's people."""
    skus = {line.id: line.sku for line in view.lines}
    entries = []
    for event in events:
        shown = {key: value for key, value in event.detail.items() if key in CUSTOMER_FACTS}
        if event.kind == "note":
            shown["text"] = event.detail.get("text", "")
        if isinstance(shown.get("method"), str):
            shown["method"] = PAYMENT_METHODS.get(shown["method"], shown["method"])
        entry = describe(dataclasses.replace(event, detail=shown), view.currency, skus)
        entries.append(entry)
    return entries
