"""Carts: what a customer is about to order, and checkout that turns it into an order."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ordermill.domain.orders import Strategy, find_shortages, insufficient_stock
from ordermill.errors import Conflict, InvalidInput, product_not_found
from ordermill.models import utcnow
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.orders import (
    MAX_QUANTITY,
    OrderView,
    _catalog_rows,
    _check_catalog,
    _insert_order,
    ensure_customer_exists,
    process_order,
)
from ordermill.services.tables import cart_items, carts, products, upsert


@dataclass(slots=True)
class CartItemView:
    product_id: int
    name: str
    sku: str
    unit_price: int
    quantity: int
    available: int
    active: bool

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


@dataclass(slots=True)
class CartView:
    customer_id: int
    items: list[CartItemView] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(item.line_total for item in self.items)


def get_cart(session: Session, customer_id: int) -> CartView:
    """The customer's cart at today's prices (an empty cart if they never had one)."""
    ensure_customer_exists(session, customer_id)
    rows = session.execute(
        select(
            cart_items.c.product_id,
            cart_items.c.quantity,
            products.c.name,
            products.c.sku,
            products.c.price,
            products.c.stock,
            products.c.active,
        )
        .select_from(
            carts.join(cart_items, cart_items.c.cart_id == carts.c.id).join(
                products, products.c.id == cart_items.c.product_id
            )
        )
        .where(carts.c.customer_id == customer_id)
        .order_by(cart_items.c.id)
    )
    return CartView(
        customer_id,
        [
            CartItemView(r.product_id, r.name, r.sku, r.price, r.quantity, r.stock, r.active)
            for r in rows
        ],
    )


def _cart_id(session: Session, customer_id: int) -> int:
    """The customer's cart id, creating the cart on first use (race-free)."""
    session.execute(
        upsert(session, carts)
        .values(customer_id=customer_id, extra={}, updated=utcnow())
        .on_conflict_do_nothing(index_elements=[carts.c.customer_id])
    )
    return int(
        session.execute(select(carts.c.id).where(carts.c.customer_id == customer_id)).scalar_one()
    )


def set_cart_item(session: Session, customer_id: int, product_id: int, quantity: int) -> CartView:
    """Put ``quantity`` of a product in the cart (0 takes it out)."""
    if quantity < 0 or quantity > MAX_QUANTITY:
        raise InvalidInput(f"quantity must be between 0 and {MAX_QUANTITY}", field="quantity")
    ensure_customer_exists(session, customer_id)
    if quantity == 0:
        return remove_cart_item(session, customer_id, product_id)
    product = session.execute(
        select(products.c.active).where(products.c.id == product_id)
    ).one_or_none()
    if product is None:
        raise product_not_found(product_id)
    if not product.active:
        raise Conflict(f"Product {product_id} is no longer sold.", code="product_inactive")
    cart_id = _cart_id(session, customer_id)
    session.execute(
        upsert(session, cart_items)
        .values(cart_id=cart_id, product_id=product_id, quantity=quantity, extra={}, added=utcnow())
        .on_conflict_do_update(
            index_elements=[cart_items.c.cart_id, cart_items.c.product_id],
            set_={"quantity": quantity},
        )
    )
    return get_cart(session, customer_id)


def remove_cart_item(session: Session, customer_id: int, product_id: int) -> CartView:
    """Take a product out of the cart (nothing happens if it was not in it)."""
    ensure_customer_exists(session, customer_id)
    if session.execute(select(products.c.id).where(products.c.id == product_id)).first() is None:
        raise product_not_found(product_id)
    session.execute(
        delete(cart_items).where(
            cart_items.c.product_id == product_id,
            cart_items.c.cart_id.in_(select(carts.c.id).where(carts.c.customer_id == customer_id)),
        )
    )
    return get_cart(session, customer_id)


def clear_cart(session: Session, customer_id: int) -> None:
    """Empty the cart."""
    ensure_customer_exists(session, customer_id)
    session.execute(
        delete(cart_items).where(
            cart_items.c.cart_id.in_(select(carts.c.id).where(carts.c.customer_id == customer_id))
        )
    )


def checkout(
    session: Session,
    customer_id: int,
    *,
    currency: str,
    shipping_address: str | None = None,
    note: str | None = None,
    process: bool = False,
    strategy: Strategy = Strategy.ADJUST,
    actor: Actor = SYSTEM,
) -> OrderView:
    """Turn the cart into an order and empty it, in the caller's transaction.

    The cart's items are claimed by deleting them (``DELETE … RETURNING``), so
    two checkouts of one cart at the same moment make one order, not two.
    """
    claimed = session.execute(
        delete(cart_items)
        .where(
            cart_items.c.cart_id.in_(select(carts.c.id).where(carts.c.customer_id == customer_id))
        )
        .returning(cart_items.c.product_id, cart_items.c.quantity)
    ).all()
    if not claimed:
        ensure_customer_exists(session, customer_id)
        raise Conflict("The cart is empty; add items before checking out.", code="cart_empty")
    wanted: dict[int, int] = {}
    for product_id, quantity in sorted(claimed):
        wanted[product_id] = wanted.get(product_id, 0) + quantity
    catalog = _catalog_rows(session, customer_id, list(wanted))
    _check_catalog(wanted, catalog)
    shortages = find_shortages(wanted, {pid: row.stock for pid, row in catalog.items()})
    if shortages:
        raise insufficient_stock(shortages)
    order = _insert_order(
        session,
        customer_id=customer_id,
        wanted=wanted,
        catalog=catalog,
        currency=currency,
        shipping_address=shipping_address,
        note=note,
        extra=None,
        now=utcnow(),
        actor=actor,
    )
    if process:
        order = process_order(session, order.id, strategy, actor=actor)
    return order
