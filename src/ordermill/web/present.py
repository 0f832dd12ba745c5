"""Service results turned into response bodies."""

from __future__ import annotations

from ordermill.services.carts import CartView
from ordermill.services.orders import OrderView
from ordermill.web.schemas import (
    Adjustment,
    CartItemPublic,
    CartPublic,
    OrderLinePublic,
    OrderPublic,
)


def order_public(view: OrderView) -> OrderPublic:
    lines = [OrderLinePublic.model_validate(line) for line in view.lines]
    adjustments = (
        [
            Adjustment(
                line_id=line.id,
                product_id=line.product_id,
                sku=line.sku,
                ordered=line.quantity_ordered,
                processed=line.quantity,
            )
            for line in view.lines
            if line.quantity != line.quantity_ordered
        ]
        if view.processed is not None
        else []
    )
    return OrderPublic(
        id=view.id,
        number=view.number,
        customer_id=view.customer_id,
        status=view.status,
        strategy=view.strategy,
        created=view.created,
        processed=view.processed,
        currency=view.currency,
        shipping_address=view.shipping_address,
        note=view.note,
        extra=view.extra,
        total=view.total,
        lines=lines,
        adjustments=adjustments,
    )


def cart_public(view: CartView) -> CartPublic:
    return CartPublic(
        customer_id=view.customer_id,
        items=[CartItemPublic.model_validate(item) for item in view.items],
        total=view.total,
    )
