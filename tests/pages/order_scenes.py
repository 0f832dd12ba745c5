"""Orders in a known state for the order pages' tests, and what became of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from ordermill.db import Database
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.services import order_views, processing
from ordermill.services import workflow as flow_service
from ordermill.services.tables import orders
from tests import factories


@dataclass(frozen=True)
class Placed:
    id: int
    number: str
    customer: int
    product: int

    @property
    def page(self) -> str:
        return f"/admin/orders/{self.number}"


def place(
    database: Database,
    *,
    quantity: int = 2,
    price: int = 10_00,
    stock: int = 10,
    balance: int = 100_00,
    customer: int | None = None,
    product: int | None = None,
    **customer_fields: Any,
) -> Placed:
    """A pending order of ``quantity`` units of one product."""
    buyer = customer or factories.customer(database, balance=balance, **customer_fields)
    item = product or factories.product(database, price=price, stock=stock)
    order_id = factories.order(database, buyer, (item, quantity))
    return Placed(order_id, number_of(database, order_id), buyer, item)


def processed(database: Database, **kw: Any) -> Placed:
    """An order processed and paid from the customer's balance."""
    placed = place(database, **kw)
    with database.write() as session:
        processing.process_order(session, placed.id)
    return placed


def awaiting_payment(database: Database, **kw: Any) -> Placed:
    """An order processed in the advance flow: its stock is held until it is paid."""
    placed = place(database, **kw)
    with database.write() as session:
        processing.process_order(session, placed.id, Strategy.ADJUST, flow=PaymentFlow.ADVANCE)
    return placed


def fulfilled(database: Database, **kw: Any) -> Placed:
    placed = processed(database, **kw)
    with database.write() as session:
        flow_service.fulfill(session, placed.id, carrier="DHL", tracking_number="T-1")
    return placed


def number_of(database: Database, order_id: int) -> str:
    with database.read() as session:
        return order_views.get_order(session, order_id).number


def order(database: Database, order_id: int) -> order_views.OrderView | None:
    """The order as it is now (None once deleted)."""
    with database.read() as session:
        found = session.execute(select(orders.c.id).where(orders.c.id == order_id)).first()
        return order_views.get_order(session, order_id) if found else None


def status_of(database: Database, order_id: int) -> str | None:
    view = order(database, order_id)
    return view.status if view else None


def set_order(database: Database, order_id: int, **values: Any) -> None:
    with database.write() as session:
        session.execute(update(orders).where(orders.c.id == order_id).values(**values))
