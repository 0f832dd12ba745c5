"""Carts on a real database: filling them, and checkout that turns one into an order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ordermill.db import Database
from ordermill.domain.orders import ProcessingFailed, Strategy
from ordermill.errors import Conflict, InvalidInput, NotFound
from ordermill.services import carts, catalog
from ordermill.services.carts import CartItemView, CartView
from ordermill.services.order_items import MAX_QUANTITY
from ordermill.services.order_views import OrderView, get_order
from ordermill.services.orders import count_orders
from ordermill.services.tables import order_counters
from tests.factories import balance_of, customer, product, stock_of


def put(database: Database, customer_id: int, product_id: int, quantity: int) -> CartView:
    with database.write() as session:
        return carts.set_cart_item(session, customer_id, product_id, quantity)


def cart_of(database: Database, customer_id: int) -> CartView:
    with database.read() as session:
        return carts.get_cart(session, customer_id)


def contents(database: Database, customer_id: int) -> dict[int, int]:
    """product_id -> quantity in the customer's cart."""
    return {item.product_id: item.quantity for item in cart_of(database, customer_id).items}


def check_out(
    database: Database,
    customer_id: int,
    *,
    process: bool = False,
    strategy: Strategy = Strategy.ADJUST,
    shipping_address: str | None = None,
    note: str | None = None,
) -> OrderView:
    with database.write() as session:
        return carts.checkout(
            session,
            customer_id,
            currency="EUR",
            shipping_address=shipping_address,
            note=note,
            process=process,
            strategy=strategy,
        )


def fetch(database: Database, order_id: int) -> OrderView:
    with database.read() as session:
        return get_order(session, order_id)


def all_orders(database: Database) -> int:
    with database.read() as session:
        return count_orders(session)


def numbers_handed_out(database: Database) -> int:
    with database.read() as session:
        total = session.execute(select(func.coalesce(func.sum(order_counters.c.last_value), 0)))
        return int(total.scalar_one())


# ================================================================ filling the cart


def test_a_customer_who_never_shopped_has_an_empty_cart(database: Database) -> None:
    buyer = customer(database)

    cart = cart_of(database, buyer)

    assert cart == CartView(customer_id=buyer, items=[])
    assert cart.total == 0


def test_putting_a_product_in_the_cart_shows_it_at_todays_price(database: Database) -> None:
    # Given a customer and a pen at 2.50 with 7 in stock
    buyer = customer(database)
    pen = product(database, name="Blue Pen", sku="PEN-1", price=2_50, stock=7)

    # When they put 3 pens in the cart
    returned = put(database, buyer, pen, 3)

    # Then the cart holds 3 pens, totalling 7.50
    expected = CartItemView(
        product_id=pen,
        name="Blue Pen",
        sku="PEN-1",
        unit_price=2_50,
        quantity=3,
        available=7,
        active=True,
    )
    assert returned == CartView(customer_id=buyer, items=[expected])
    assert cart_of(database, buyer) == returned
    assert returned.total == 7_50
    assert returned.items[0].line_total == 7_50


def test_the_cart_follows_the_catalog_price(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, price=2_50)
    put(database, buyer, pen, 2)

    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, pen), catalog.ProductChanges(price=3_00)
        )

    assert cart_of(database, buyer).total == 6_00


def test_items_are_listed_in_the_order_they_were_added(database: Database) -> None:
    buyer = customer(database)
    ink = product(database)
    pen = product(database)
    pad = product(database)

    put(database, buyer, pad, 1)
    put(database, buyer, ink, 1)
    put(database, buyer, pen, 1)

    assert [item.product_id for item in cart_of(database, buyer).items] == [pad, ink, pen]


def test_putting_a_product_again_replaces_its_quantity(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, price=1_00)
    put(database, buyer, pen, 3)

    cart = put(database, buyer, pen, 5)

    assert contents(database, buyer) == {pen: 5}
    assert cart.total == 5_00


def test_a_cart_may_hold_more_than_the_stock(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, stock=2)

    put(database, buyer, pen, 9)

    (item,) = cart_of(database, buyer).items
    assert (item.quantity, item.available) == (9, 2)


def test_a_quantity_of_zero_takes_the_product_out(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    put(database, buyer, pen, 3)
    put(database, buyer, ink, 1)

    cart = put(database, buyer, pen, 0)

    assert [item.product_id for item in cart.items] == [ink]
    assert contents(database, buyer) == {ink: 1}


def test_removing_a_product_takes_it_out(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    put(database, buyer, pen, 3)
    put(database, buyer, ink, 1)

    with database.write() as session:
        cart = carts.remove_cart_item(session, buyer, pen)

    assert [item.product_id for item in cart.items] == [ink]
    assert contents(database, buyer) == {ink: 1}


def test_removing_a_product_that_is_not_in_the_cart_changes_nothing(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    put(database, buyer, pen, 3)

    with database.write() as session:
        carts.remove_cart_item(session, buyer, ink)

    assert contents(database, buyer) == {pen: 3}


def test_clearing_the_cart_empties_it(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    put(database, buyer, pen, 3)
    put(database, buyer, ink, 1)

    with database.write() as session:
        carts.clear_cart(session, buyer)

    assert cart_of(database, buyer).items == []


def test_carts_belong_to_one_customer_each(database: Database) -> None:
    ann = customer(database)
    bob = customer(database)
    pen = product(database)
    put(database, ann, pen, 2)
    put(database, bob, pen, 5)

    with database.write() as session:
        carts.clear_cart(session, ann)

    assert contents(database, ann) == {}
    assert contents(database, bob) == {pen: 5}


@pytest.mark.parametrize("quantity", [-1, MAX_QUANTITY + 1])
def test_a_quantity_out_of_range_is_invalid(database: Database, quantity: int) -> None:
    buyer = customer(database)
    pen = product(database)

    with pytest.raises(InvalidInput) as exc:
        put(database, buyer, pen, quantity)

    assert exc.value.detail == {"field": "quantity"}
    assert contents(database, buyer) == {}


def test_a_product_not_in_the_catalog_cannot_be_put_in_the_cart(database: Database) -> None:
    buyer = customer(database)

    with pytest.raises(NotFound) as exc:
        put(database, buyer, 9999, 1)

    assert exc.value.code == "product_not_found"


def test_an_archived_product_cannot_be_put_in_the_cart(database: Database) -> None:
    buyer = customer(database)
    old = product(database, active=False)

    with pytest.raises(Conflict) as exc:
        put(database, buyer, old, 1)

    assert exc.value.code == "product_inactive"
    assert contents(database, buyer) == {}


def test_a_product_deleted_from_the_catalog_leaves_every_cart(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    put(database, buyer, pen, 1)
    put(database, buyer, ink, 2)

    with database.write() as session:
        catalog.delete_product(session, pen)

    assert contents(database, buyer) == {ink: 2}


def test_an_archived_product_stays_in_the_cart_marked_inactive(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    put(database, buyer, pen, 1)

    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, pen), catalog.ProductChanges(active=False)
        )

    (item,) = cart_of(database, buyer).items
    assert item.active is False


CART_ACTIONS: dict[str, Callable[[Session, int, int], object]] = {
    "get": lambda session, who, pid: carts.get_cart(session, who),
    "set": lambda session, who, pid: carts.set_cart_item(session, who, pid, 1),
    "set-zero": lambda session, who, pid: carts.set_cart_item(session, who, pid, 0),
    "remove": lambda session, who, pid: carts.remove_cart_item(session, who, pid),
    "clear": lambda session, who, pid: carts.clear_cart(session, who),
    "checkout": lambda session, who, pid: carts.checkout(session, who, currency="USD"),
}


@pytest.mark.parametrize("action", list(CART_ACTIONS))
def test_an_unknown_customer_has_no_cart(database: Database, action: str) -> None:
    pen = product(database)

    with pytest.raises(NotFound) as exc, database.write() as session:
        CART_ACTIONS[action](session, 4040, pen)

    assert exc.value.code == "customer_not_found"


# ================================================================ checkout


def test_checkout_turns_the_cart_into_a_pending_order_and_empties_it(database: Database) -> None:
    # Given a cart with 3 pens at 2.50 and 1 ink at 7.25
    buyer = customer(database, balance=50_00)
    pen = product(database, name="Blue Pen", sku="PEN-1", price=2_50, stock=10)
    ink = product(database, name="Black Ink", sku="INK-1", price=7_25, stock=1)
    put(database, buyer, pen, 3)
    put(database, buyer, ink, 1)

    # When the customer checks out
    placed = check_out(database, buyer, shipping_address="1 Main St", note="ring twice")

    # Then a pending order holds the cart's items, and the cart is empty
    stored = fetch(database, placed.id)
    assert stored == placed
    assert stored.status == "pending"
    assert stored.customer_id == buyer
    assert stored.currency == "EUR"
    assert (stored.shipping_address, stored.note) == ("1 Main St", "ring twice")
    assert [
        (ln.product_id, ln.name, ln.sku, ln.unit_price, ln.quantity_ordered, ln.line_total)
        for ln in stored.lines
    ] == [
        (pen, "Blue Pen", "PEN-1", 2_50, 3, 7_50),
        (ink, "Black Ink", "INK-1", 7_25, 1, 7_25),
    ]
    assert stored.total == 14_75
    assert cart_of(database, buyer).items == []
    # Not processed: no stock taken, nothing charged
    assert stock_of(database, pen) == 10
    assert balance_of(database, buyer) == 50_00


def test_checkout_gives_the_order_the_next_number(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    put(database, buyer, pen, 1)
    first = check_out(database, buyer)
    put(database, buyer, pen, 1)

    second = check_out(database, buyer)

    year, sequence = first.number.split("-")
    assert second.number == f"{year}-{int(sequence) + 1:05d}"


def test_checking_out_an_empty_cart_is_refused(database: Database) -> None:
    buyer = customer(database)

    with pytest.raises(Conflict) as exc:
        check_out(database, buyer)

    assert exc.value.code == "cart_empty"
    assert all_orders(database) == 0


def test_checking_out_a_cleared_cart_is_refused(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    put(database, buyer, pen, 1)
    with database.write() as session:
        carts.clear_cart(session, buyer)

    with pytest.raises(Conflict) as exc:
        check_out(database, buyer)

    assert exc.value.code == "cart_empty"


def test_a_cart_can_be_checked_out_only_once(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    put(database, buyer, pen, 1)
    check_out(database, buyer)

    with pytest.raises(Conflict) as exc:
        check_out(database, buyer)

    assert exc.value.code == "cart_empty"
    assert all_orders(database) == 1


def test_checkout_with_too_little_stock_creates_nothing_and_keeps_the_cart(
    database: Database,
) -> None:
    # Given a cart with 3 pens (2 in stock) and 1 ink (5 in stock)
    buyer = customer(database, balance=50_00)
    pen = product(database, stock=2)
    ink = product(database, stock=5)
    put(database, buyer, pen, 3)
    put(database, buyer, ink, 1)
    before = cart_of(database, buyer)

    # When the customer checks out
    with pytest.raises(ProcessingFailed) as exc:
        check_out(database, buyer)

    # Then the short product is named, no order exists and the cart is as it was
    assert exc.value.code == "insufficient_stock"
    assert exc.value.detail == {
        "short_lines": [{"line_id": 0, "product_id": pen, "ordered": 3, "available": 2}]
    }
    assert all_orders(database) == 0
    assert numbers_handed_out(database) == 0
    assert cart_of(database, buyer) == before
    assert stock_of(database, pen) == 2
    assert balance_of(database, buyer) == 50_00


def test_checkout_with_an_archived_product_creates_nothing_and_keeps_the_cart(
    database: Database,
) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    put(database, buyer, pen, 1)
    put(database, buyer, ink, 1)
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, ink), catalog.ProductChanges(active=False)
        )

    with pytest.raises(Conflict) as exc:
        check_out(database, buyer)

    assert exc.value.code == "product_inactive"
    assert exc.value.detail == {"product_ids": [ink]}
    assert all_orders(database) == 0
    assert contents(database, buyer) == {pen: 1, ink: 1}


def test_checkout_with_processing_processes_the_new_order(database: Database) -> None:
    # Given a cart with 3 pens at 2.50
    buyer = customer(database, balance=50_00)
    pen = product(database, sku="PEN-1", price=2_50, stock=10)
    put(database, buyer, pen, 3)

    # When the customer checks out asking for processing
    placed = check_out(database, buyer, process=True, strategy=Strategy.REJECT)

    # Then the order is processed: stock taken, balance charged, cart empty
    stored = fetch(database, placed.id)
    assert stored == placed
    assert stored.status == "processed"
    assert stored.processed is not None
    assert stored.strategy == "reject"
    assert stored.total == 7_50
    assert [(ln.quantity_ordered, ln.quantity) for ln in stored.lines] == [(3, 3)]
    assert stock_of(database, pen) == 7
    assert balance_of(database, buyer) == 42_50
    assert cart_of(database, buyer).items == []


def test_checkout_with_processing_refused_creates_nothing_and_keeps_the_cart(
    database: Database,
) -> None:
    # Given a customer with no balance and a cart with a pen
    buyer = customer(database, balance=0)
    pen = product(database, stock=10)
    put(database, buyer, pen, 3)

    # When they check out asking for processing
    with pytest.raises(Conflict) as exc:
        check_out(database, buyer, process=True)

    # Then processing fails and the whole checkout is undone
    assert exc.value.code == "insufficient_balance"
    assert all_orders(database) == 0
    assert numbers_handed_out(database) == 0
    assert contents(database, buyer) == {pen: 3}
    assert stock_of(database, pen) == 10
