"""An order's printed documents: the invoice and the delivery note, and when each exists.

An invoice exists once the order is paid in full (``OrderView.is_fully_paid``: processed,
not cancelled, its payments cover the total). A delivery note exists once the order may
ship: its stock was taken and it was paid (``processed`` and every state after it, except
``cancelled``). Asking for a document that doesn't exist yet is a ``Conflict`` whose code
says why, in the workflow's own words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ordermill.domain.orders import OrderStatus
from ordermill.errors import Code, Conflict
from ordermill.services.order_views import OrderView, resolve_order
from ordermill.services.tables import customers, payments

# The states in which an order's goods may ship or have shipped.
SHIPPABLE = frozenset(
    {OrderStatus.PROCESSED, OrderStatus.FULFILLED, OrderStatus.DELIVERED, OrderStatus.RETURNED}
)


@dataclass(frozen=True, slots=True)
class PaymentLine:
    at: datetime
    amount: int
    credited: int  # the part of ``amount`` beyond the total, kept on the customer's balance
    method: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class OrderDocument:
    """What an invoice or delivery note shows: the order, its customer, its payments."""

    order: OrderView
    customer_name: str
    customer_email: str
    payments: list[PaymentLine] = field(default_factory=list)

    @property
    def paid_at(self) -> datetime | None:
        """When the order became paid: the last payment (processing charges the balance
        with a payment of its own); ``None`` while it isn't paid."""
        if not self.order.is_fully_paid:
            return None
        return self.payments[-1].at if self.payments else self.order.processed

    @property
    def has_returns(self) -> bool:
        return any(line.quantity_returned for line in self.order.lines)


def invoice_ready(view: OrderView) -> bool:
    return view.is_fully_paid


def delivery_note_ready(view: OrderView) -> bool:
    return view.status in SHIPPABLE


def check_invoice(view: OrderView) -> None:
    """Refuse (409) an invoice for an order that is not paid in full, saying why."""
    if invoice_ready(view):
        return
    status = OrderStatus(view.status)
    if status is OrderStatus.CANCELLED:
        raise Conflict(
            f"Order {view.ref} was cancelled: it has no invoice.", code=Code.ALREADY_CANCELLED
        )
    if status is OrderStatus.PENDING:
        raise Conflict(
            f"Order {view.ref} has not been processed yet: its invoice is made once it is paid.",
            code=Code.NOT_PROCESSED,
        )
    raise Conflict(
        f"Order {view.ref} is not paid in full yet: its invoice is made once it is paid.",
        code=Code.NOT_PAID,
    )


def check_delivery_note(view: OrderView) -> None:
    """Refuse (409) a delivery note for an order that may not ship, saying why."""
    if delivery_note_ready(view):
        return
    status = OrderStatus(view.status)
    if status is OrderStatus.CANCELLED:
        raise Conflict(
            f"Order {view.ref} was cancelled: nothing ships, so it has no delivery note.",
            code=Code.ALREADY_CANCELLED,
        )
    if status is OrderStatus.AWAITING_PAYMENT:
        raise Conflict(
            f"Order {view.ref} is waiting for payment: it ships, with its delivery note, "
            "once it is paid.",
            code=Code.NOT_PAID,
        )
    raise Conflict(
        f"Order {view.ref} has not been processed yet: its delivery note is made once it is.",
        code=Code.NOT_PROCESSED,
    )


def order_document(session: Session, ref: str) -> OrderDocument:
    """The order ``ref`` names (an id or a number; unknown: 404) with its customer and
    payments, oldest payment first."""
    return document_of(session, resolve_order(session, ref))


def document_of(session: Session, view: OrderView) -> OrderDocument:
    """The documents' facts about an order already read: its customer and its payments,
    oldest payment first."""
    customer = session.execute(
        select(customers.c.name, customers.c.email).where(customers.c.id == view.customer_id)
    ).one()
    rows = session.execute(
        select(
            payments.c.at,
            payments.c.amount,
            payments.c.credited,
            payments.c.method,
            payments.c.reference,
        )
        .where(payments.c.order_id == view.id)
        .order_by(payments.c.id)
    )
    return OrderDocument(
        order=view,
        customer_name=customer.name,
        customer_email=customer.email,
        payments=[PaymentLine(r.at, r.amount, r.credited, r.method, r.reference) for r in rows],
    )
