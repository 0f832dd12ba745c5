"""Carts: what a customer is about to order, and checkout that turns it into an order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, delete, select
from sqlalchemy.orm import Session

from ordermill import plugins
from ordermill.domain.orders import Strategy, find_shortages, insufficient_stock
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import Code, Conflict, InvalidInput, order_not_found, product_not_found
from ordermill.models import utcnow
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.order_items import MAX_QUANTITY, check_catalog, read_catalog
from ordermill.services.order_views import OrderView
from ordermill.services.orders import (
    assign_number,
    ensure_customer_exists,
    insert_order,
    insert_order_to_process,
)
from ordermill.services.processing import process_placed
from ordermill.services.tables import cart_items, carts, order_lines, orders, products, upsert


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
        raise Conflict(f"Product {product_id} is no longer sold.", code=Code.PRODUCT_INACTIVE)
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


@dataclass(frozen=True, slots=True)
class CartLine:
    """One product's line after a change: what the cart holds, what was asked, the stock."""

    product_id: int
    name: str
    quantity: int  # in the cart now (0: not in it)
    before: int  # in the cart before the change
    wanted: int  # what the customer asked the cart to hold
    stock: int

    @property
    def added(self) -> int:
        return self.quantity - self.before

    @property
    def capped(self) -> bool:
        """The stock held the cart to less than was asked."""
        return self.quantity < self.wanted


def add_to_cart(session: Session, customer_id: int, product_id: int, quantity: int) -> CartLine:
    """Add ``quantity`` of a product to what the cart holds, as far as the stock goes.

    One upsert adds to the quantity stored (``quantity = quantity + n``, capped at
    the stock), so two additions at once both count and neither passes the stock.
    A product out of stock or no longer sold is refused (409) and the cart unchanged.
    """
    return _put_within_stock(session, customer_id, product_id, quantity, add=True)


def set_cart_item_within_stock(
    session: Session, customer_id: int, product_id: int, quantity: int
) -> CartLine:
    """Make the cart hold ``quantity`` of a product, or all of the stock if it is less
    (0 takes it out). Refused like ``add_to_cart``."""
    return _put_within_stock(session, customer_id, product_id, quantity, add=False)


def _put_within_stock(
    session: Session, customer_id: int, product_id: int, quantity: int, *, add: bool
) -> CartLine:
    least = 1 if add else 0
    if quantity < least or quantity > MAX_QUANTITY:
        raise InvalidInput(f"quantity must be between {least} and {MAX_QUANTITY}", field="quantity")
    ensure_customer_exists(session, customer_id)
    product = session.execute(
        select(products.c.name, products.c.active, products.c.stock).where(
            products.c.id == product_id
        )
    ).one_or_none()
    if product is None:
        raise product_not_found(product_id)
    mine = cart_items.c.cart_id.in_(select(carts.c.id).where(carts.c.customer_id == customer_id))
    held = and_(mine, cart_items.c.product_id == product_id)
    before = session.execute(select(cart_items.c.quantity).where(held)).scalar_one_or_none() or 0
    wanted = min(before + quantity, MAX_QUANTITY) if add else quantity
    if wanted == 0:
        session.execute(delete(cart_items).where(held))
        return CartLine(product_id, product.name, 0, before, 0, product.stock)
    if not product.active:
        raise Conflict(
            f"{product.name} is no longer sold.", code=Code.PRODUCT_INACTIVE, product_id=product_id
        )
    if product.stock <= 0:
        raise Conflict(
            f"{product.name} is out of stock.",
            code=Code.INSUFFICIENT_STOCK,
            product_id=product_id,
            available=0,
        )
    cap = min(product.stock, MAX_QUANTITY)
    summed = cart_items.c.quantity + quantity
    new_quantity = case((summed > cap, cap), else_=summed) if add else min(quantity, cap)
    stored = session.execute(
        upsert(session, cart_items)
        .values(
            cart_id=_cart_id(session, customer_id),
            product_id=product_id,
            quantity=min(quantity, cap),
            extra={},
            added=utcnow(),
        )
        .on_conflict_do_update(
            index_elements=[cart_items.c.cart_id, cart_items.c.product_id],
            set_={"quantity": new_quantity},
        )
        .returning(cart_items.c.quantity)
    ).scalar_one()
    return CartLine(product_id, product.name, stored, before, wanted, product.stock)


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
    flow: PaymentFlow = PaymentFlow.BALANCE,
    actor: Actor = SYSTEM,
) -> OrderView:
    """Turn the cart into an order and empty it, in the caller's transaction.

    The cart's items are claimed by deleting them (``DELETE … RETURNING``), so
    two checkouts of one cart at the same moment make one order, not two. The
    cart's and its items' ``extra`` data are copied to the order and its lines,
    through the plugins' ``populate_order_from_cart`` and
    ``populate_line_from_cart_item`` hooks.
    """
    claimed = session.execute(
        delete(cart_items)
        .where(
            cart_items.c.cart_id.in_(select(carts.c.id).where(carts.c.customer_id == customer_id))
        )
        .returning(cart_items.c.product_id, cart_items.c.quantity, cart_items.c.extra)
    ).all()
    if not claimed:
        ensure_customer_exists(session, customer_id)
        raise Conflict("The cart is empty; add items before checking out.", code=Code.CART_EMPTY)
    wanted: dict[int, int] = {}
    item_extra: dict[int, dict[str, Any]] = {}
    for product_id, quantity, extra in sorted(claimed, key=lambda row: row[0]):
        wanted[product_id] = wanted.get(product_id, 0) + quantity
        item_extra[product_id] = dict(extra or {})
    catalog = read_catalog(session, customer_id, list(wanted))
    check_catalog(wanted, catalog)
    shortages = find_shortages(wanted, {pid: row.stock for pid, row in catalog.items()})
    if shortages:
        raise insufficient_stock(shortages)
    cart_extra = session.execute(
        select(carts.c.extra).where(carts.c.customer_id == customer_id)
    ).scalar_one_or_none()
    order_extra = dict(cart_extra or {})
    plugins.call(
        "populate_order_from_cart",
        cart={
            "customer_id": customer_id,
            "extra": dict(cart_extra or {}),
            "items": [
                {"product_id": pid, "quantity": qty, "extra": dict(item_extra[pid])}
                for pid, qty in wanted.items()
            ],
        },
        extra=order_extra,
    )
    line_extra: dict[int, dict[str, Any]] = {}
    for pid, qty in wanted.items():
        extra = dict(item_extra[pid])
        plugins.call(
            "populate_line_from_cart_item",
            item={
                "product_id": pid,
                "quantity": qty,
                "sku": catalog[pid].sku,
                "extra": dict(item_extra[pid]),
            },
            extra=extra,
        )
        if extra:
            line_extra[pid] = extra
    now = utcnow()
    if process:
        placed = insert_order_to_process(
            session, customer_id=customer_id, wanted=wanted, catalog=catalog,
            currency=currency, shipping_address=shipping_address, note=note,
            extra=order_extra or None, now=now, actor=actor, line_extra=line_extra,
        )  # fmt: skip
        order = process_placed(session, placed, strategy, flow=flow, actor=actor)
    else:
        order = insert_order(
            session, customer_id=customer_id, wanted=wanted, catalog=catalog,
            currency=currency, shipping_address=shipping_address, note=note,
            extra=order_extra or None, now=now, actor=actor, line_extra=line_extra,
        )  # fmt: skip
    return assign_number(session, order)


@dataclass(frozen=True, slots=True)
class Reordered:
    """The cart after a reorder, what was added, and what can no longer be bought."""

    cart: CartView
    added: list[dict[str, Any]]
    unavailable: list[dict[str, Any]]


def reorder(session: Session, order_id: int, *, customer_id: int | None = None) -> Reordered:
    """Add an order's lines (as ordered) to its customer's cart, at today's prices.

    Lines whose product left the catalog or is no longer sold are reported, not
    added. ``customer_id`` restricts it to that customer's own orders.
    """
    rows = session.execute(
        select(
            orders.c.customer_id,
            order_lines.c.id,
            order_lines.c.product_id,
            order_lines.c.product_name,
            order_lines.c.sku,
            order_lines.c.unit_price,
            order_lines.c.quantity_ordered,
            products.c.id.label("current_id"),
            products.c.price,
            products.c.active,
            products.c.stock,
        )
        .select_from(
            orders.join(order_lines, order_lines.c.order_id == orders.c.id).outerjoin(
                products, products.c.id == order_lines.c.product_id
            )
        )
        .where(orders.c.id == order_id)
        .order_by(order_lines.c.id)
    ).all()
    if not rows or (customer_id is not None and rows[0].customer_id != customer_id):
        raise order_not_found(order_id)
    owner = rows[0].customer_id
    added: list[dict[str, Any]] = []
    unavailable: list[dict[str, Any]] = []
    cart_id = _cart_id(session, owner)
    for row in rows:
        if row.current_id is None or not row.active:
            unavailable.append(
                {
                    "line_id": row.id,
                    "product_id": row.product_id,
                    "name": row.product_name,
                    "sku": row.sku,
                    "reason": "product_removed" if row.current_id is None else "product_inactive",
                }
            )
            continue
        quantity = min(row.quantity_ordered, MAX_QUANTITY)
        session.execute(
            upsert(session, cart_items)
            .values(
                cart_id=cart_id,
                product_id=row.product_id,
                quantity=quantity,
                extra={},
                added=utcnow(),
            )
            .on_conflict_do_update(
                index_elements=[cart_items.c.cart_id, cart_items.c.product_id],
                set_={
                    "quantity": case(
                        (cart_items.c.quantity + quantity > MAX_QUANTITY, MAX_QUANTITY),
                        else_=cart_items.c.quantity + quantity,
                    )
                },
            )
        )
        added.append(
            {
                "product_id": row.product_id,
                "sku": row.sku,
                "quantity": quantity,
                "unit_price": row.price,
                "price_then": row.unit_price,
                "available": row.stock,
            }
        )
    return Reordered(get_cart(session, owner), added, unavailable)
