"""The API's order body is built without validation; it must read exactly as the
validated model would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ordermill.services.order_views import LineView, OrderView
from ordermill.web.present import order_public
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
    built = order_public(view)

    validated = OrderPublic.model_validate(built.model_dump())

    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")
