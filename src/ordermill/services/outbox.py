"""Writing events to the outbox, in the transaction of the change they report.

Every writer puts a change's ``OutboxRow`` s in with the change (transitions through
``transitions.journal``, placing through its plan, stock changes through
``low_stock``): a change that rolls back leaves no event, and a committed one is
delivered by the worker (``ordermill.notify.worker``) however long that takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ordermill.config import get_settings
from ordermill.domain.events import EventType, falls_low
from ordermill.services.plans import OutboxRow
from ordermill.services.tables import outbox_events


def record(session: Session, rows: Iterable[OutboxRow], now: datetime) -> None:
    """Add events to the outbox, in one statement."""
    values = [
        {
            "type": row.type,
            "order_id": row.order_id,
            "product_id": row.product_id,
            "data": row.data,
            "created": now,
        }
        for row in rows
    ]
    if values:
        session.execute(insert(outbox_events), values)


def low_stock(
    before: Mapping[int, int],
    after: Mapping[int, int],
    thresholds: Mapping[int, int | None],
    default: int,
) -> list[OutboxRow]:
    """``product.low_stock`` for each product whose stock change crosses its threshold
    (its own, or the store's ``default``), in product id order."""
    rows = []
    for product_id in sorted(after):
        own = thresholds.get(product_id)
        threshold = default if own is None else own
        if falls_low(before[product_id], after[product_id], threshold):
            rows.append(
                OutboxRow(
                    EventType.PRODUCT_LOW_STOCK.value,
                    None,
                    {"stock": after[product_id], "threshold": threshold},
                    product_id=product_id,
                )
            )
    return rows


def store_low_stock_default() -> int:
    """The threshold of products without their own (``ORDERMILL_LOW_STOCK_DEFAULT``)."""
    return get_settings().low_stock_default
