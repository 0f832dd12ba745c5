"""/cart: a customer's cart, filled from the catalogue, changed line by line, never past the
stock, with what can't be ordered as it is marked."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordermill.db import Database
from ordermill.services import carts, catalog
from tests import factories
from tests.pages.forms import csrf_of, flashes, follow, statements_for, submit, text_of
from tests.pages.shop.conftest import Shopper
from tests.pages.test_page_access import snapshot

XSS = "<script>alert(1)</script>"
TIMES = "\N{MULTIPLICATION SIGN}"


def cart_of(database: Database, customer_id: int) -> dict[int, int]:
    with database.read() as session:
        return {i.product_id: i.quantity for i in carts.get_cart(session, customer_id).items}


def put(database: Database, customer_id: int, product_id: int, quantity: int) -> None:
    """What the API lets a cart hold (more than the stock, too)."""
    with database.write() as session:
        carts.set_cart_item(session, customer_id, product_id, quantity)


def change_product(database: Database, product_id: int, **changes: Any) -> None:
    with database.write() as session:
        found = catalog.get_product(session, product_id, for_update=True)
        catalog.update_product(session, found, catalog.ProductChanges(**changes))


def rows(page: str) -> list[str]:
    """The text of each line of the cart's table."""
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return [text_of(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def add(shopper: Shopper, product_id: int, quantity: str, page: str = "/") -> Any:
    return submit(
        shopper.browser,
        page,
        "/cart/items",
        {"product_id": str(product_id), "quantity": quantity, "next": page},
    )


def set_quantity(shopper: Shopper, product_id: int, quantity: str) -> Any:
    return submit(shopper.browser, "/cart", f"/cart/items/{product_id}", {"quantity": quantity})


# ---------------------------------------------------------------- the cart page


def test_an_empty_cart_says_so_and_leads_to_the_catalogue(customer: Shopper) -> None:
    page = customer.browser.get("/cart")

    assert page.status_code == 200
    assert "Your cart is empty." in text_of(page.text)
    assert '<a href="/">Browse the catalogue</a>' in page.text
    assert "/checkout" not in page.text.split("<main")[1]


def test_the_cart_shows_each_line_its_total_and_the_way_to_check_out(
    customer: Shopper, database: Database
) -> None:
    tea = factories.product(database, name="Green tea", sku="TEA-G", price=4_50, stock=20)
    mug = factories.product(database, name="Mug", sku="MUG-1", price=12_00, stock=20)
    put(database, customer.customer_id, tea, 3)
    put(database, customer.customer_id, mug, 1)

    page = customer.browser.get("/cart").text

    assert rows(page) == [
        "Green tea TEA-G $4.50 Quantity of Green tea Update the quantity of Green tea $13.50 "
        "Remove Green tea",
        "Mug MUG-1 $12.00 Quantity of Mug Update the quantity of Mug $12.00 Remove Mug",
    ]
    assert "Total $25.50" in text_of(page)
    assert f'<a href="/products/{tea}">Green tea</a>' in page
    assert '<a class="button primary" href="/checkout">Check out</a>' in page
    assert re.search(
        rf'<input id="quantity-{tea}" name="quantity" type="number"[^>]* value="3"', page
    )
    assert (
        f'<label for="quantity-{tea}" class="visually-hidden">Quantity of Green tea</label>' in page
    )


def test_a_cart_is_its_customers_own(
    customer: Shopper, other_customer: Shopper, database: Database
) -> None:
    tea = factories.product(database, name="Green tea", stock=20)
    add(customer, tea, "2")

    theirs = other_customer.browser.get("/cart").text

    assert "Green tea" not in theirs
    assert "Your cart is empty." in text_of(theirs)


def test_lines_that_cant_be_ordered_as_they_are_any_more_are_marked(
    customer: Shopper, database: Database
) -> None:
    archived = factories.product(database, name="Old mug", stock=5)
    short = factories.product(database, name="Honey", stock=5)
    gone = factories.product(database, name="Candle", stock=5)
    fine = factories.product(database, name="Tea", stock=5)
    for product_id in (archived, short, gone, fine):
        put(database, customer.customer_id, product_id, 4)
    change_product(database, archived, active=False)
    change_product(database, short, stock=2)
    change_product(database, gone, stock=0)

    page = customer.browser.get("/cart").text

    lines = rows(page)
    assert "No longer sold: remove it to check out." in lines[0]
    assert "Only 2 left: lower the quantity to check out." in lines[1]
    assert "Out of stock now: remove it to check out." in lines[2]
    assert "check out" not in lines[3]
    assert "3 lines can't be ordered as they are" in text_of(page)
    assert f'href="/products/{archived}"' not in page  # its page is a 404 now
    assert page.count('class="cart-problem"') == 3


def test_the_cart_page_takes_the_same_number_of_queries_for_2_or_20_lines(
    customer: Shopper, database: Database
) -> None:
    def queries_for_the_cart() -> int:
        return len(statements_for(database, customer.browser, "/cart"))

    for _ in range(2):
        put(database, customer.customer_id, factories.product(database), 1)
    few = queries_for_the_cart()
    for _ in range(18):
        put(database, customer.customer_id, factories.product(database), 1)
    many = queries_for_the_cart()

    assert few == many


# ---------------------------------------------------------------- adding


def test_adding_again_adds_to_what_the_cart_holds(customer: Shopper, database: Database) -> None:
    tea = factories.product(database, name="Tea", stock=20)

    add(customer, tea, "2")
    again = add(customer, tea, "3")

    assert flashes(follow(customer.browser, again).text) == [
        ("ok", f"Added 3 {TIMES} Tea to your cart.")
    ]
    assert cart_of(database, customer.customer_id) == {tea: 5}


def test_adding_more_than_the_stock_fills_the_cart_with_the_stock_and_says_so(
    customer: Shopper, database: Database
) -> None:
    honey = factories.product(database, name="Honey", stock=3)
    add(customer, honey, "2")

    more = flashes(follow(customer.browser, add(customer, honey, "5")).text)
    none_left = flashes(follow(customer.browser, add(customer, honey, "1")).text)

    assert more == [
        ("ok", f"Added 1 {TIMES} Honey to your cart."),
        ("error", "Only 3 left of Honey: your cart holds 3."),
    ]
    assert none_left == [("error", "Only 3 left of Honey: your cart holds 3.")]
    assert cart_of(database, customer.customer_id) == {honey: 3}


@pytest.mark.parametrize(
    ("stock", "active", "message"),
    [(0, True, "Candle is out of stock."), (5, False, "Candle is no longer sold.")],
)
def test_a_product_out_of_stock_or_no_longer_sold_is_refused_by_name(
    customer: Shopper, database: Database, stock: int, active: bool, message: str
) -> None:
    candle = factories.product(database, name="Candle", stock=5)
    tea = factories.product(database, name="Tea", stock=5)
    add(customer, tea, "1")
    change_product(database, candle, stock=stock, active=active)

    refused = add(customer, candle, "1")

    assert refused.headers["location"] == "/"
    assert flashes(follow(customer.browser, refused).text) == [("error", message)]
    assert cart_of(database, customer.customer_id) == {tea: 1}


@pytest.mark.parametrize("quantity", ["0", "-1", "two", "", "1.5", "1000001"])
def test_a_wrong_quantity_to_add_is_refused_in_words_and_adds_nothing(
    customer: Shopper, database: Database, quantity: str
) -> None:
    tea = factories.product(database, name="Tea", stock=20)
    before = snapshot(database)

    refused = add(customer, tea, quantity, page=f"/products/{tea}")

    assert refused.headers["location"] == f"/products/{tea}"
    assert flashes(follow(customer.browser, refused).text) == [
        ("error", "Choose a quantity from 1 to 1,000,000.")
    ]
    assert snapshot(database) == before


@pytest.mark.parametrize("product_id", ["999999", "abc", ""])
def test_adding_a_product_not_in_the_catalogue_is_refused_in_words(
    customer: Shopper, database: Database, product_id: str
) -> None:
    before = snapshot(database)

    refused = submit(
        customer.browser, "/", "/cart/items", {"product_id": product_id, "quantity": "1"}
    )

    assert refused.status_code == 303
    assert flashes(follow(customer.browser, refused).text) == [
        ("error", "That product is not in the catalogue.")
    ]
    assert snapshot(database) == before


# ---------------------------------------------------------------- changing a line


def test_a_new_quantity_replaces_the_lines_and_comes_back_to_the_cart(
    customer: Shopper, database: Database
) -> None:
    tea = factories.product(database, name="Tea", price=2_00, stock=20)
    put(database, customer.customer_id, tea, 2)

    response = set_quantity(customer, tea, "5")
    twice = set_quantity(customer, tea, "5")  # a second press changes nothing more

    assert response.headers["location"] == "/cart"
    page = follow(customer.browser, response).text
    assert flashes(page) == [("ok", f"Your cart holds 5 {TIMES} Tea.")]
    assert "Total $10.00" in text_of(page)
    assert twice.status_code == 303
    assert cart_of(database, customer.customer_id) == {tea: 5}


def test_a_quantity_above_the_stock_is_held_to_the_stock_and_says_so(
    customer: Shopper, database: Database
) -> None:
    honey = factories.product(database, name="Honey", stock=3)
    put(database, customer.customer_id, honey, 1)

    response = set_quantity(customer, honey, "8")

    assert flashes(follow(customer.browser, response).text) == [
        ("error", "Only 3 left of Honey: your cart holds 3.")
    ]
    assert cart_of(database, customer.customer_id) == {honey: 3}


def test_a_quantity_of_0_or_the_remove_button_takes_the_product_out(
    customer: Shopper, database: Database
) -> None:
    tea = factories.product(database, name="Tea", stock=20)
    mug = factories.product(database, name="Mug", stock=20)
    put(database, customer.customer_id, tea, 2)
    put(database, customer.customer_id, mug, 1)

    zero = flashes(follow(customer.browser, set_quantity(customer, tea, "0")).text)
    removed = submit(customer.browser, "/cart", f"/cart/items/{mug}/remove")

    assert zero == [("ok", "Removed Tea from your cart.")]
    page = follow(customer.browser, removed).text
    assert flashes(page) == [("ok", "Removed Mug from your cart.")]
    assert "Your cart is empty." in text_of(page)
    assert cart_of(database, customer.customer_id) == {}


def test_a_product_no_longer_sold_can_still_be_removed(
    customer: Shopper, database: Database
) -> None:
    mug = factories.product(database, name="Old mug", stock=5)
    put(database, customer.customer_id, mug, 2)
    change_product(database, mug, active=False)

    removed = submit(customer.browser, "/cart", f"/cart/items/{mug}/remove")
    first = flashes(follow(customer.browser, removed).text)
    again = submit(customer.browser, "/cart", f"/cart/items/{mug}/remove")  # a second press
    second = flashes(follow(customer.browser, again).text)

    assert first == [("ok", "Removed Old mug from your cart.")]
    assert second == [("ok", "Old mug was not in your cart.")]
    assert cart_of(database, customer.customer_id) == {}


def test_a_new_quantity_for_a_product_no_longer_sold_is_refused_in_words(
    customer: Shopper, database: Database
) -> None:
    mug = factories.product(database, name="Old mug", stock=5)
    put(database, customer.customer_id, mug, 2)
    change_product(database, mug, active=False)

    refused = set_quantity(customer, mug, "3")

    assert flashes(follow(customer.browser, refused).text) == [
        ("error", "Old mug is no longer sold.")
    ]
    assert cart_of(database, customer.customer_id) == {mug: 2}


@pytest.mark.parametrize("quantity", ["-1", "lots", "", "1000001"])
def test_a_wrong_new_quantity_is_refused_in_words_and_changes_nothing(
    customer: Shopper, database: Database, quantity: str
) -> None:
    tea = factories.product(database, name="Tea", stock=20)
    put(database, customer.customer_id, tea, 2)

    refused = set_quantity(customer, tea, quantity)

    assert flashes(follow(customer.browser, refused).text) == [
        ("error", "Choose a quantity from 0 to 1,000,000 (0 removes the product).")
    ]
    assert cart_of(database, customer.customer_id) == {tea: 2}


def test_names_with_markup_are_shown_as_text_in_the_cart_and_its_messages(
    customer: Shopper, database: Database
) -> None:
    bad = factories.product(database, name=XSS, stock=20)

    added = add(customer, bad, "1", page="/cart")
    page = follow(customer.browser, added).text

    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert flashes(page) == [("ok", f"Added 1 {TIMES} {XSS} to your cart.")]


# ---------------------------------------------------------------- signed out


@pytest.mark.parametrize("action", ["/cart/items/{id}", "/cart/items/{id}/remove"])
def test_someone_signed_out_changing_a_line_logs_in_and_comes_back_to_the_cart(
    visitor: TestClient, database: Database, action: str
) -> None:
    tea = factories.product(database, stock=5)
    token = csrf_of(visitor.get("/").text)

    response = visitor.post(action.format(id=tea), data={"quantity": "2", "csrf_token": token})

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/cart"
