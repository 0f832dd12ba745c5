"""What an order's page shows besides the order itself: its payments, the stock of its
products now, and whether a payment reference was recorded already."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ordermill.services.tables import payments, products


@dataclass(frozen=True, slots=True)
class PaymentView:
    id: int
    at: datetime
    amount: int
    credited: int  # the part over the total, credited to the customer's balance
    method: str
    reference: str | None
    actor: str


def payments_of(session: Session, order_id: int) -> list[PaymentView]:
    """The order's payments, oldest first (a charge to the balance is one of them)."""
    rows = session.execute(
        select(
            payments.c.id,
            payments.c.at,
            payments.c.amount,
            payments.c.credited,
            payments.c.method,
            payments.c.reference,
            payments.c.actor,
        )
        .where(payments.c.order_id == order_id)
        .order_by(payments.c.id)
    )
    return [PaymentView(*row) for row in rows]


def has_payment_reference(session: Session, order_id: int, reference: str) -> bool:
    """Whether a payment with this reference is recorded on the order (it counts once)."""
    found = session.execute(
        select(payments.c.id).where(
            payments.c.order_id == order_id, payments.c.reference == reference.strip()
        )
    ).first()
    return found is not None


def stock_now(session: Session, product_ids: Iterable[int | None]) -> dict[int, int]:
    """The units on the shelves now, by product id (a deleted product is left out)."""
    ids = sorted({pid for pid in product_ids if pid is not None})
    if not ids:
        return {}
    rows = session.execute(select(products.c.id, products.c.stock).where(products.c.id.in_(ids)))
    return {int(row.id): int(row.stock) for row in rows}
