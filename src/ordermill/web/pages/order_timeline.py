"""An order's timeline as staff read it: what happened, who did it, and the details in words.

Each event of ``services.timeline.list_events`` (staff view: notes for staff and
every message sent about the order) becomes an ``Entry``: a title, and facts as
(label, value) pairs. Amounts are written with the order's currency; anything the
page doesn't know how to say is shown as it is, as a readable table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ordermill.display import money
from ordermill.services.timeline import NOTIFICATION, Event

TITLES = {
    "created": "Order placed",
    "processed": "Processed",
    "payment": "Payment recorded",
    "fulfilled": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
    "returned": "Returned",
    "note": "Note",
    NOTIFICATION: "Message",
}
LABELS = {
    "strategy": "If stock was short",
    "flow": "Payment",
    "total": "Total",
    "amount": "Amount",
    "method": "Method",
    "reference": "Reference",
    "credited": "Credited to the balance",
    "fully_paid": "Fully paid",
    "carrier": "Carrier",
    "tracking_number": "Tracking number",
    "reason": "Reason",
    "restocked": "Units back in stock",
    "refunded": "Refunded to the balance",
    "customer_id": "Customer id",
    "adjustments": "Quantities changed",
    "lines": "Lines",
    "event": "About",
    "channel": "Channel",
    "audience": "To",
    "recipient": "Recipient",
    "status": "Status",
    "attempts": "Attempts",
    "error": "Error",
    "next_attempt": "Next attempt",
}
MONEY = frozenset({"total", "amount", "credited", "refunded"})
# What each state of a message means to staff.
MESSAGE_STATES = {
    "queued": "queued: not sent yet",
    "retrying": "retrying: the last attempt failed",
    "sent": "sent",
    "failed": "failed for good",
    "cancelled": "cancelled",
}


@dataclass(frozen=True, slots=True)
class Entry:
    id: str  # unique on the page (a message and an event may share a number)
    at: datetime
    kind: str
    title: str
    actor: str
    staff_only: bool
    text: str | None = None  # a note's text
    state: str | None = None  # a message's state: queued, retrying, sent, failed, cancelled
    when_facts: list[tuple[str, str]] = field(default_factory=list)  # (label, ISO moment)
    facts: list[tuple[str, Any]] = field(default_factory=list)


def entries(events: list[Event], currency: str, skus: dict[int, str]) -> list[Entry]:
    """The timeline's entries; ``skus`` names the order's lines (by line id)."""
    return [describe(event, currency, skus) for event in events]


def describe(event: Event, currency: str, skus: dict[int, str]) -> Entry:
    detail = dict(event.detail)
    text = None
    state = None
    when_facts: list[tuple[str, str]] = []
    if event.kind == "note":
        text = str(detail.pop("text", ""))
    if event.kind == NOTIFICATION:
        state = str(detail.pop("status", ""))
        if isinstance(detail.get("next_attempt"), str):
            when_facts.append((LABELS["next_attempt"], detail.pop("next_attempt")))
    facts = [
        (LABELS.get(key, key.replace("_", " ")), _value(key, value, currency, skus))
        for key, value in sorted(detail.items(), key=_known_first)
        if value is not None and value != [] and key != "customer_id"
    ]
    return Entry(
        id=f"{'message' if event.kind == NOTIFICATION else 'event'}-{event.id}",
        at=event.at,
        kind=event.kind,
        title=TITLES.get(event.kind, event.kind.replace("_", " ").capitalize()),
        actor=event.actor,
        staff_only=event.visibility == "staff",
        text=text,
        state=state,
        when_facts=when_facts,
        facts=facts,
    )


_ORDER = {key: n for n, key in enumerate(LABELS)}


def _known_first(item: tuple[str, Any]) -> tuple[int, str]:
    """Facts in the order of ``LABELS`` (the database may keep none), the unknown after."""
    return _ORDER.get(item[0], len(_ORDER)), item[0]


def _value(key: str, value: Any, currency: str, skus: dict[int, str]) -> Any:
    if key in MONEY and isinstance(value, int) and not isinstance(value, bool):
        return money(value, currency)
    if key in ("adjustments", "lines") and isinstance(value, list):
        return [_line(item, skus) if isinstance(item, dict) else item for item in value]
    return value


def _line(item: dict[str, Any], skus: dict[int, str]) -> Any:
    """A line of a processing's adjustments or of a return, in words."""
    line_id = item.get("line_id")
    name = skus.get(line_id, f"line {line_id}") if isinstance(line_id, int) else "a line"
    if "ordered" in item:
        return f"{name}: {item.get('processed')} of {item.get('ordered')} ordered"
    if "quantity" in item:
        back = item.get("restocked") or 0
        return f"{name}: {item.get('quantity')} returned, {back} back in stock"
    return item
