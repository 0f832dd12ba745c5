"""Service results turned into response bodies."""

from __future__ import annotations

from typing import Any

from ordermill.domain.money import format_amount
from ordermill.domain.workflow import TRANSITIONS, Verdict
from ordermill.services.carts import CartView, Reordered
from ordermill.services.order_views import OrderView
from ordermill.services.timeline import Event
from ordermill.web.schemas import (
    ActionPublic,
    ActionsPublic,
    CartItemPublic,
    CartPublic,
    EventPublic,
    ReorderAdded,
    ReorderPublic,
    ReorderUnavailable,
)


def order_document(view: OrderView) -> dict[str, Any]:
    """The API's order (``OrderPublic``) as JSON-ready values: amounts as decimal
    strings, moments left as datetimes for the serialiser. ``to_json`` of it reads byte
    for byte as the validated model's JSON (``tests/unit/test_present.py`` checks them
    field by field). Built as plain values rather than models: a page of 50 orders took
    about 1 ms to construct and dump as models, 0.4 ms this way."""
    lines = view.lines
    return {
        "id": view.id,
        "number": view.number,
        "customer_id": view.customer_id,
        "status": view.status,
        "strategy": view.strategy,
        "created": view.created,
        "processed": view.processed,
        "currency": view.currency,
        "shipping_address": view.shipping_address,
        "note": view.note,
        "extra": view.extra,
        "total": format_amount(view.total),
        "payment_flow": view.payment_flow,
        "paid": format_amount(view.paid),
        "refunded": format_amount(view.refunded),
        "balance_due": format_amount(view.balance_due),
        "is_fully_paid": view.is_fully_paid,
        "fulfilled": view.fulfilled,
        "carrier": view.carrier,
        "tracking_number": view.tracking_number,
        "delivered": view.delivered,
        "cancelled": view.cancelled,
        "cancel_reason": view.cancel_reason,
        "lines": [
            {
                "id": line.id,
                "product_id": line.product_id,
                "name": line.name,
                "sku": line.sku,
                "unit_price": format_amount(line.unit_price),
                "quantity_ordered": line.quantity_ordered,
                "quantity": line.quantity,
                "line_total": format_amount(line.line_total),
                "quantity_returned": line.quantity_returned,
                "quantity_restocked": line.quantity_restocked,
                "extra": line.extra or {},
            }
            for line in lines
        ],
        "adjustments": [
            {
                "line_id": line.id,
                "product_id": line.product_id,
                "sku": line.sku,
                "ordered": line.quantity_ordered,
                "processed": line.quantity,
            }
            for line in lines
            if line.quantity != line.quantity_ordered
        ]
        if view.processed is not None
        else [],
    }


def cart_public(view: CartView) -> CartPublic:
    return CartPublic(
        customer_id=view.customer_id,
        items=[CartItemPublic.model_validate(item) for item in view.items],
        total=view.total,
    )


def actions_public(view: OrderView, verdicts: list[Verdict]) -> ActionsPublic:
    return ActionsPublic(
        order_id=view.id,
        status=view.status,
        actions=[
            ActionPublic(
                action=v.action,
                label=TRANSITIONS[v.action].label,
                allowed=v.allowed,
                reason=v.reason,
                message=v.message,
            )
            for v in verdicts
        ],
    )


def reorder_public(result: Reordered) -> ReorderPublic:
    return ReorderPublic(
        cart=cart_public(result.cart),
        added=[ReorderAdded(**item) for item in result.added],
        unavailable=[ReorderUnavailable(**item) for item in result.unavailable],
    )


# Money inside event details is stored in minor units, like every amount; the API
# shows it as decimal strings, like every amount.
_EVENT_MONEY = frozenset({"total", "amount", "credited", "refunded"})


def detail_public(detail: dict[str, Any]) -> dict[str, Any]:
    """An event's details as the API shows them: amounts as decimal strings."""
    return {
        key: format_amount(value) if key in _EVENT_MONEY and isinstance(value, int) else value
        for key, value in detail.items()
    }


def event_public(event: Event) -> EventPublic:
    detail = detail_public(event.detail)
    return EventPublic(
        id=event.id,
        at=event.at,
        kind=event.kind,
        actor=event.actor,
        visibility=event.visibility,
        detail=detail,
    )
