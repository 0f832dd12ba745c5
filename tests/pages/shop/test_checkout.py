"""Checkout: the cart becomes one order, once, with a thank-you page; or nothing happens
and the page says why in words."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import carts, catalog, order_views
from ordermill.services.order_views import OrderView
from ordermill.web.app import create_app
from tests import factories
from tests.pages.forms import csrf_of, follow, shop_log_in, text_of
from tests.pages.shop.conftest import Shopper
from tests.pages.test_page_access import snapshot

_KEY = re.compile(r'name="form_key" value="([^"]+)"')


def fill_cart(database: Database, customer_id: int, *items: tuple[int, int]) -> None:
    """Put (product_id, quantity) items in the customer's cart, as the cart page does."""
    with database.write() as session:
        for product_id, quantity in items:
            carts.set_cart_item(session, customer_id, product_id, quantity)


def cart_of(database: Database, customer_id: int) -> list[tuple[int, int]]:
    with database.read() as session:
        cart = carts.get_cart(session, customer_id)
    return [(item.product_id, item.quantity) for item in cart.items]


def orders_of(database: Database, customer_id: int) -> list[OrderView]:
    with database.read() as session:
        filters = order_views.OrderFilters(customer_id=customer_id)
        return order_views.list_orders(session, filters, limit=100).items


def checkout_form(browser: TestClient) -> dict[str, str]:
    """The checkout page's form as the browser got it: its CSRF token and its key."""
    page = browser.get("/checkout")
    assert page.status_code == 200, page.text[:400]
    key = _KEY.search(page.text)
    assert key, "the checkout page has no Purchase Now form"
    return {"csrf_token": csrf_of(page.text), "form_key": key.group(1)}


def purchase(
    browser: TestClient, form: dict[str, str] | None = None, **fields: str
) -> httpx.Response:
    """Press Purchase Now on the checkout page (or on ``form``, a page opened before)."""
    sent = {"shipping_address": "1 Main Street\nSpringfield", "note": "", **fields}
    return browser.post("/checkout", data={**(form or checkout_form(browser)), **sent})


def new_customer(database: Database) -> tuple[int, str]:
    """A customer with a login and a 500.00 balance: (customer id, email)."""
    customer_id, _ = factories.customer_login(database, balance=500_00)
    with database.read() as session:
        return customer_id, catalog.get_customer(session, customer_id).email


@contextmanager
def signed_in(database: Database, email: str, **settings: Any) -> Iterator[TestClient]:
    """Another browser of the customer ``email``, on a store with ``settings``."""
    app = create_app(Settings(database_url=database.url, **settings), database)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as browser:
        assert shop_log_in(browser, email).status_code == 303
        yield browser


@pytest.fixture
def cake(database: Database) -> int:
    return factories.product(database, name="Lemon cake", sku="CAKE-1", price=12_50, stock=5)


@pytest.fixture
def tea(database: Database) -> int:
    return factories.product(database, name="Earl Grey", sku="TEA-1", price=4_20, stock=100)


# ---------------------------------------------------------------- the page


def test_the_checkout_page_sums_up_the_cart_at_todays_prices_with_the_balance(
    database: Database, customer: Shopper, cake: int, tea: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 2), (tea, 1))
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, cake), catalog.ProductChanges(price=13_00)
        )

    text = text_of(customer.browser.get("/checkout").text)

    assert "Lemon cake CAKE-1 $13.00 2 $26.00" in text
    assert "Earl Grey TEA-1 $4.20 1 $4.20" in text
    assert "Total $30.20" in text
    assert "Your store balance $500.00" in text
    assert "Purchase Now" in text


def test_the_shipping_address_of_the_last_order_is_filled_in(
    database: Database, customer: Shopper, cake: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 1))
    assert purchase(customer.browser, shipping_address="7 Elm Row\nLeith").status_code == 303
    fill_cart(database, customer.customer_id, (cake, 1))

    page = customer.browser.get("/checkout").text

    assert 'name="shipping_address"' in page
    assert ">7 Elm Row\nLeith</textarea>" in page


def test_an_empty_cart_says_so_and_offers_no_purchase(customer: Shopper) -> None:
    page = customer.browser.get("/checkout")

    assert page.status_code == 200
    assert "Your cart is empty." in text_of(page.text)
    assert "Purchase Now" not in page.text


# ---------------------------------------------------------------- purchase


def test_purchase_now_places_one_order_empties_the_cart_and_thanks_the_customer(
    database: Database, customer: Shopper, cake: int, tea: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 2), (tea, 1))

    answer = purchase(customer.browser, note="Ring twice")

    [order] = orders_of(database, customer.customer_id)
    assert answer.headers["location"] == f"/orders/{order.number}/thank-you"
    assert (order.status, order.total) == ("pending", 29_20)
    assert (order.shipping_address, order.note) == ("1 Main Street\nSpringfield", "Ring twice")
    assert [(line.sku, line.quantity_ordered) for line in order.lines] == [
        ("CAKE-1", 2),
        ("TEA-1", 1),
    ]
    assert cart_of(database, customer.customer_id) == []
    assert factories.stock_of(database, cake) == 5  # taken when the store processes it
    page = follow(customer.browser, answer)
    text = text_of(page.text)
    assert page.status_code == 200
    assert "Thank you for your order" in text
    assert f"Order number {order.number}" in text
    assert "Lemon cake CAKE-1 $12.50 2 $25.00" in text
    assert "Total $29.20" in text
    assert "Status Received" in text
    assert "the total of $29.20 is then paid from your store balance" in text
    assert f'href="/account/orders/{order.number}"' in page.text
    assert 'href="/account/orders"' in page.text


def test_the_thank_you_page_of_a_store_paid_in_advance_says_so(
    database: Database, customer: Shopper, cake: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 1))

    with signed_in(database, customer.email, payment_flow="advance") as browser:
        page = follow(browser, purchase(browser))

    assert "it waits for your payment of $12.50" in text_of(page.text)


def test_a_short_line_is_explained_by_name_and_nothing_is_ordered(
    database: Database, customer: Shopper, tea: int
) -> None:
    cake = factories.product(database, name="Lemon cake", stock=1)
    scone = factories.product(database, name="Scone", stock=0)
    fill_cart(database, customer.customer_id, (cake, 3), (tea, 1), (scone, 2))
    before = snapshot(database)

    answer = purchase(customer.browser)

    assert answer.status_code == 409
    assert (
        "Not enough stock: Only 1 of Lemon cake is left (your cart has 3); "
        "Scone is sold out (your cart has 2). Nothing was ordered"
    ) in text_of(answer.text)
    assert snapshot(database) == before  # no order, the cart and the stock as they were
    assert cart_of(database, customer.customer_id) == [(cake, 3), (tea, 1), (scone, 2)]
    assert factories.stock_of(database, cake) == 1


def test_the_checkout_page_warns_of_short_lines_before_the_purchase(
    database: Database, customer: Shopper
) -> None:
    cake = factories.product(database, name="Lemon cake", stock=2)
    fill_cart(database, customer.customer_id, (cake, 3))

    assert "Lemon cake Only 2 left." in text_of(customer.browser.get("/checkout").text)


def test_a_product_no_longer_sold_is_named_and_nothing_is_ordered(
    database: Database, customer: Shopper, cake: int, tea: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 1), (tea, 1))
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, tea), catalog.ProductChanges(active=False)
        )
    before = snapshot(database)

    answer = purchase(customer.browser)

    assert answer.status_code == 409
    assert "No longer sold: Earl Grey. Nothing was ordered" in text_of(answer.text)
    assert snapshot(database) == before


def test_purchasing_an_empty_cart_says_the_cart_is_empty(
    database: Database, customer: Shopper, cake: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 1))
    form = checkout_form(customer.browser)
    fill_cart(database, customer.customer_id, (cake, 0))

    answer = purchase(customer.browser, form)

    assert answer.status_code == 409
    assert "Your cart is empty" in text_of(answer.text)
    assert orders_of(database, customer.customer_id) == []


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("shipping_address", "x" * 2001, "Use at most 2000 characters."),
        ("note", "y" * 2001, "Use at most 2000 characters."),
        ("note", "bell\x07", "Must not contain control characters."),
    ],
)
def test_a_wrong_address_or_note_is_refused_next_to_it_and_nothing_changes(
    database: Database, customer: Shopper, cake: int, field: str, value: str, said: str
) -> None:
    fill_cart(database, customer.customer_id, (cake, 1))
    before = snapshot(database)

    answer = purchase(customer.browser, **{field: value})

    assert answer.status_code == 400
    assert f'<p class="field-error" id="{field}-error">{said}</p>' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert snapshot(database) == before


# ---------------------------------------------------------------- once


def test_a_form_with_a_damaged_key_is_refused_in_words_and_orders_nothing(
    database: Database, customer: Shopper, cake: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 1))
    form = {**checkout_form(customer.browser), "form_key": "k" * 300}
    before = snapshot(database)

    answer = purchase(customer.browser, form)

    assert answer.status_code == 400
    assert "This form was damaged on its way, so nothing was done." in text_of(answer.text)
    assert _KEY.search(answer.text).group(1) != form["form_key"]  # type: ignore[union-attr]
    assert snapshot(database) == before


def test_the_same_form_sent_twice_places_one_order_and_both_answers_lead_to_its_page(
    database: Database, customer: Shopper, cake: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 2))
    form = checkout_form(customer.browser)

    first = purchase(customer.browser, form)
    second = purchase(customer.browser, form)

    [order] = orders_of(database, customer.customer_id)
    thanks = f"/orders/{order.number}/thank-you"
    assert (first.status_code, second.status_code) == (303, 303)
    assert first.headers["location"] == second.headers["location"] == thanks
    assert "Thank you for your order" in follow(customer.browser, second).text


def test_two_checkouts_of_one_cart_place_one_order_and_the_second_finds_it_empty(
    database: Database, customer: Shopper, cake: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 2))
    one_tab, other_tab = checkout_form(customer.browser), checkout_form(customer.browser)

    first = purchase(customer.browser, one_tab)
    second = purchase(customer.browser, other_tab)

    assert first.status_code == 303
    assert second.status_code == 409
    assert "Your cart is empty" in text_of(second.text)
    assert len(orders_of(database, customer.customer_id)) == 1


def test_a_sent_form_sent_again_with_other_details_places_nothing_more(
    database: Database, customer: Shopper, cake: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 2))
    form = checkout_form(customer.browser)
    assert purchase(customer.browser, form).status_code == 303
    fill_cart(database, customer.customer_id, (cake, 1))

    again = purchase(customer.browser, form, shipping_address="Somewhere else")

    assert again.status_code == 422
    assert "This checkout form was sent before with other details" in text_of(again.text)
    assert _KEY.search(again.text).group(1) != form["form_key"]  # type: ignore[union-attr]
    assert len(orders_of(database, customer.customer_id)) == 1
    assert cart_of(database, customer.customer_id) == [(cake, 1)]


# ---------------------------------------------------------------- whose and what


def test_another_customers_thank_you_page_is_the_404_of_a_number_no_order_has(
    database: Database, customer: Shopper, other_customer: Shopper, cake: int
) -> None:
    fill_cart(database, customer.customer_id, (cake, 1))
    number = orders_of_after_purchase(database, customer)
    unknown = "2001-00042"

    theirs = other_customer.browser.get(f"/orders/{number}/thank-you")
    nobodys = other_customer.browser.get(f"/orders/{unknown}/thank-you")

    assert theirs.status_code == nobodys.status_code == 404
    assert text_of(theirs.text) == text_of(nobodys.text).replace(unknown, number)
    assert f"Order {number} does not exist." in text_of(theirs.text)


def orders_of_after_purchase(database: Database, buyer: Shopper) -> str:
    """The number of the order the customer's Purchase Now placed."""
    assert purchase(buyer.browser).status_code == 303
    return orders_of(database, buyer.customer_id)[0].number


def test_what_customers_and_products_say_is_shown_as_text(
    database: Database, customer: Shopper
) -> None:
    trap = factories.product(database, name="<script>alert(1)</script>", sku="TRAP-1")
    fill_cart(database, customer.customer_id, (trap, 1))
    form_page = customer.browser.get("/checkout").text

    answer = purchase(customer.browser, shipping_address="<b>bold</b> & co", note="<i>x</i>")
    thanks = follow(customer.browser, answer).text

    for page in (form_page, thanks):
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in thanks
    assert "&lt;i&gt;x&lt;/i&gt;" in thanks
    assert "<b>bold</b>" not in thanks


# ---------------------------------------------------------------- at the same moment


def _at_once(browser_forms: list[tuple[TestClient, dict[str, str]]]) -> list[Any]:
    start = threading.Barrier(len(browser_forms))
    answers: list[Any] = [None] * len(browser_forms)

    def press(i: int) -> None:
        browser, form = browser_forms[i]
        start.wait()
        answers[i] = purchase(browser, form)

    threads = [threading.Thread(target=press, args=(i,)) for i in range(len(browser_forms))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


@pytest.mark.postgres_only
def test_two_checkouts_of_one_cart_at_the_same_instant_place_one_order(
    pg_database: Database,
) -> None:
    cake = factories.product(pg_database, stock=10)
    customer_id, email = new_customer(pg_database)
    fill_cart(pg_database, customer_id, (cake, 2))
    with signed_in(pg_database, email) as one, signed_in(pg_database, email) as two:
        forms = [checkout_form(one), checkout_form(two)]

        answers = _at_once([(one, forms[0]), (two, forms[1])])

    assert sorted(answer.status_code for answer in answers) == [303, 409]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert "Your cart is empty" in text_of(refused.text)
    assert len(orders_of(pg_database, customer_id)) == 1
    assert cart_of(pg_database, customer_id) == []


@pytest.mark.postgres_only
def test_one_form_sent_twice_at_the_same_instant_places_one_order_and_both_see_it(
    pg_database: Database,
) -> None:
    cake = factories.product(pg_database, stock=10)
    customer_id, email = new_customer(pg_database)
    fill_cart(pg_database, customer_id, (cake, 2))
    with signed_in(pg_database, email) as one, signed_in(pg_database, email) as two:
        form = checkout_form(one)
        two.cookies.update(one.cookies)  # the same browser's session: the form is bound to it

        answers = _at_once([(one, form), (two, form)])

    [order] = orders_of(pg_database, customer_id)
    thanks = f"/orders/{order.number}/thank-you"
    assert [answer.status_code for answer in answers] == [303, 303]
    assert [answer.headers["location"] for answer in answers] == [thanks, thanks]
