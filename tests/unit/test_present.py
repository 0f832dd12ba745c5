"""The API's order body is built as plain values, without the models; it must read
byte for byte as the validated model would."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from pydantic_core import to_json

from ordermill.services.order_views import LineView, OrderView
from ordermill.web.http import json_bytes
from ordermill.web.present import order_document
from ordermill.web.schemas import OrderPublic

PLACED = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)
PROCESSED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def line(line_id: int, **changes: object) -> LineView:
    fields: dict[str, object] = {
        "id": line_id,
        "product_id": line_id + 100,
        "name": 'Lemon "cake" <b>',
        "sku": f"SKU-{line_id}",
        "unit_price": 4_50,
        "quantity_ordered": 3,
        "quantity": 3,
        "line_total": 13_50,
        "extra": {"gift": True, "note": "ünïcode"},
    }
    fields.update(changes)
    return LineView(**fields)  # type: ignore[arg-type]


def order(**changes: object) -> OrderView:
    fields: dict[str, object] = {
        "id": 7,
        "number": "2026-00007",
        "customer_id": 3,
        "status": "pending",
        "strategy": None,
        "created": PLACED,
        "processed": None,
        "currency": "USD",
        "shipping_address": "1 Main St\nSpringfield",
        "note": None,
        "extra": {},
        "total": 13_50,
        "lines": [line(1)],
    }
    fields.update(changes)
    return OrderView(**fields)  # type: ignore[arg-type]


def validated(view: OrderView) -> OrderPublic:
    """The order as the model reads it, from the view's own values (amounts in minor units)."""
    fields = {name: getattr(view, name) for name in OrderPublic.model_fields if hasattr(view, name)}
    fields["lines"] = [{**asdict(line), "extra": line.extra or {}} for line in view.lines]
    fields["adjustments"] = [
        {"line_id": line.id, "product_id": line.product_id, "sku": line.sku,
         "ordered": line.quantity_ordered, "processed": line.quantity}
        for line in view.lines
        if view.processed is not None and line.quantity != line.quantity_ordered
    ]  # fmt: skip
    return OrderPublic.model_validate(fields)


@pytest.mark.parametrize(
    "view",
    [
        order(),
        order(
            status="processed",
            strategy="adjust",
            processed=PROCESSED,
            payment_flow="balance",
            paid=11_00,
            refunded=2_05,
            total=9_00,
            lines=[line(1, quantity=2, line_total=9_00), line(2, product_id=None)],
        ),
        order(
            status="delivered",
            processed=PROCESSED,
            fulfilled=PROCESSED,
            delivered=PROCESSED,
            carrier="Post",
            tracking_number="TR-1",
            total=0,
            lines=[],
            extra={"channel": "market", "ids": [1, 2]},
        ),
        order(status="cancelled", cancelled=PROCESSED, cancel_reason="Customer asked"),
    ],
    ids=["pending", "processed with an adjustment and a deleted product", "delivered", "cancelled"],
)
def test_the_order_body_reads_as_the_validated_model_would(view: OrderView) -> None:
    built = to_json(order_document(view))

    assert built == validated(view).model_dump_json().encode()


def test_a_page_of_orders_reads_as_the_validated_models_would() -> None:
    views = [order(), order(id=8, number="2026-00008", lines=[line(3), line(4)])]

    built = json_bytes([order_document(view) for view in views])

    assert built == b"[" + b",".join(validated(v).model_dump_json().encode() for v in views) + b"]"
