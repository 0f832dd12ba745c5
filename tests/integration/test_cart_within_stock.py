"""Filling a cart from the storefront: adding to what it holds, never past the stock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ordermill.db import Database
from ordermill.errors import Conflict, InvalidInput, NotFound
from ordermill.services import carts, products
from ordermill.services.carts import CartLine
from ordermill.services.order_items import MAX_QUANTITY
from ordermill.services.products import ProductChanges
from tests.concurrency import run_at_once
from tests.factories import customer, product

Put = Callable[[Database, int, int, int], CartLine]


def add(database: Database, customer_id: int, product_id: int, quantity: int) -> CartLine:
    with database.write() as session:
        return carts.add_to_cart(session, customer_id, product_id, quantity)


def set_to(database: Database, customer_id: int, product_id: int, quantity: int) -> CartLine:
    with database.write() as session:
        return carts.set_cart_item_within_stock(session, customer_id, product_id, quantity)


def archive(database: Database, product_id: int) -> None:
    with database.write() as session:
        found = products.get_product(session, product_id, for_update=True)
        products.update_product(session, found, ProductChanges(active=False))


def contents(database: Database, customer_id: int) -> dict[int, int]:
    with database.read() as session:
        return {i.product_id: i.quantity for i in carts.get_cart(session, customer_id).items}


def test_adding_a_product_puts_that_many_in_the_cart(database: Database) -> None:
    buyer = customer(database)
    tea = product(database, name="Tea", stock=10)

    line = add(database, buyer, tea, 2)

    assert line == CartLine(tea, "Tea", quantity=2, before=0, wanted=2, stock=10)
    assert (line.added, line.capped) == (2, False)
    assert contents(database, buyer) == {tea: 2}


def test_adding_again_adds_to_what_the_cart_holds(database: Database) -> None:
    buyer = customer(database)
    tea = product(database, stock=10)
    add(database, buyer, tea, 2)

    line = add(database, buyer, tea, 3)

    assert (line.before, line.quantity, line.added) == (2, 5, 3)
    assert contents(database, buyer) == {tea: 5}


def test_adding_more_than_the_stock_fills_the_cart_with_the_stock_and_says_so(
    database: Database,
) -> None:
    buyer = customer(database)
    tea = product(database, stock=3)
    add(database, buyer, tea, 2)

    line = add(database, buyer, tea, 5)
    again = add(database, buyer, tea, 1)

    assert (line.quantity, line.added, line.wanted, line.capped) == (3, 1, 7, True)
    assert (again.quantity, again.added, again.capped) == (3, 0, True)
    assert contents(database, buyer) == {tea: 3}


def test_adding_to_a_line_the_stock_fell_below_brings_it_down_to_the_stock(
    database: Database,
) -> None:
    buyer = customer(database)
    tea = product(database, stock=2)
    with database.write() as session:
        carts.set_cart_item(session, buyer, tea, 6)  # the API's cart may hold more

    line = add(database, buyer, tea, 1)

    assert (line.before, line.quantity, line.added, line.capped) == (6, 2, -4, True)
    assert contents(database, buyer) == {tea: 2}


def test_setting_a_quantity_within_the_stock_sets_it(database: Database) -> None:
    buyer = customer(database)
    tea = product(database, stock=10)
    add(database, buyer, tea, 6)

    line = set_to(database, buyer, tea, 4)

    assert (line.before, line.quantity, line.capped) == (6, 4, False)
    assert contents(database, buyer) == {tea: 4}


def test_setting_more_than_the_stock_sets_the_stock(database: Database) -> None:
    buyer = customer(database)
    tea = product(database, stock=3)

    line = set_to(database, buyer, tea, 8)

    assert (line.quantity, line.wanted, line.stock, line.capped) == (3, 8, 3, True)
    assert contents(database, buyer) == {tea: 3}


def test_setting_zero_takes_the_product_out_even_when_it_is_no_longer_sold(
    database: Database,
) -> None:
    buyer = customer(database)
    tea = product(database, stock=0)
    old = product(database, stock=5)
    with database.write() as session:
        carts.set_cart_item(session, buyer, tea, 1)
        carts.set_cart_item(session, buyer, old, 1)
    archive(database, old)

    out = set_to(database, buyer, tea, 0)
    gone = set_to(database, buyer, old, 0)

    assert (out.quantity, out.before, gone.quantity, gone.before) == (0, 1, 0, 1)
    assert contents(database, buyer) == {}


@pytest.mark.parametrize("put", [add, set_to], ids=["add", "set"])
def test_a_product_out_of_stock_is_refused_and_the_cart_is_unchanged(
    database: Database, put: Put
) -> None:
    buyer = customer(database)
    tea = product(database, name="Tea", stock=0)
    mug = product(database, stock=5)
    add(database, buyer, mug, 1)

    with pytest.raises(Conflict) as refused:
        put(database, buyer, tea, 1)

    assert refused.value.code == "insufficient_stock"
    assert refused.value.message == "Tea is out of stock."
    assert contents(database, buyer) == {mug: 1}


@pytest.mark.parametrize("put", [add, set_to], ids=["add", "set"])
def test_a_product_no_longer_sold_is_refused_and_the_cart_is_unchanged(
    database: Database, put: Put
) -> None:
    buyer = customer(database)
    tea = product(database, name="Old tea", stock=5, active=False)

    with pytest.raises(Conflict) as refused:
        put(database, buyer, tea, 1)

    assert refused.value.code == "product_inactive"
    assert refused.value.message == "Old tea is no longer sold."
    assert contents(database, buyer) == {}


def test_an_unknown_product_is_not_found(database: Database) -> None:
    buyer = customer(database)

    with pytest.raises(NotFound):
        add(database, buyer, 999_999, 1)


@pytest.mark.parametrize(
    ("put", "quantity"),
    [(add, 0), (add, -1), (add, MAX_QUANTITY + 1), (set_to, -1), (set_to, MAX_QUANTITY + 1)],
)
def test_a_quantity_out_of_range_is_invalid_and_changes_nothing(
    database: Database, put: Put, quantity: int
) -> None:
    buyer = customer(database)
    tea = product(database, stock=10)
    add(database, buyer, tea, 2)

    with pytest.raises(InvalidInput) as refused:
        put(database, buyer, tea, quantity)

    assert refused.value.detail["field"] == "quantity"
    assert contents(database, buyer) == {tea: 2}


@pytest.mark.postgres_only
def test_additions_at_the_same_moment_all_count_and_never_pass_the_stock(
    pg_database: Database,
) -> None:
    buyer = customer(pg_database)
    plenty = product(pg_database, stock=100)
    scarce = product(pg_database, stock=5)

    run_at_once(8, lambda i: add(pg_database, buyer, plenty if i % 2 else scarce, 2))

    assert contents(pg_database, buyer) == {scarce: 5, plenty: 8}
