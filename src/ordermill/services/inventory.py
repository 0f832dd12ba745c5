"""Stock reconciliation: every unit received is on the shelf or held by a live order.

``products.stock_received`` counts the units ever put on the shelf (a new
product's stock, and every change staff make to it). Orders that took stock
and were not cancelled hold ``quantity - quantity_restocked`` of each line.
For every product: received = stock + held. Anything else is drift: stock
changed outside ordermill, or a bug.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ordermill.domain.orders import HOLDS_STOCK
from ordermill.services.tables import order_lines, orders, products


@dataclass(frozen=True, slots=True)
class StockDrift:
    product_id: int
    sku: str
    stock: int
    held: int  # by live orders
    received: int

    @property
    def drift(self) -> int:
        """Units unaccounted for (negative: more on the shelf than was ever received)."""
        return self.received - self.stock - self.held


@dataclass(frozen=True, slots=True)
class StockReport:
    products_checked: int
    drifting: list[StockDrift]

    @property
    def ok(self) -> bool:
        return not self.drifting


def check_stock(session: Session) -> StockReport:
    """Reconcile every product in two aggregate statements."""
    held = (
        select(
            order_lines.c.product_id,
            func.sum(order_lines.c.quantity - order_lines.c.quantity_restocked).label("held"),
        )
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(
            orders.c.status.in_(sorted(status.value for status in HOLDS_STOCK)),
            order_lines.c.product_id.is_not(None),
        )
        .group_by(order_lines.c.product_id)
        .subquery()
    )
    held_units = func.coalesce(held.c.held, 0)
    rows = session.execute(
        select(
            products.c.id, products.c.sku, products.c.stock, held_units, products.c.stock_received
        )
        .select_from(products.outerjoin(held, held.c.product_id == products.c.id))
        .where(
            (products.c.stock_received != products.c.stock + held_units) | (products.c.stock < 0)
        )
        .order_by(products.c.id)
    ).all()
    checked = session.execute(select(func.count()).select_from(products)).scalar_one()
    return StockReport(
        int(checked),
        [StockDrift(int(r[0]), r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows],
    )
