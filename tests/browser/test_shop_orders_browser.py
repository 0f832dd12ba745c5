"""The storefront's checkout and order pages in Chromium: accessible, fit a phone, and a
customer who double-clicks Purchase Now gets one order."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from ordermill.db import Database
from ordermill.services import carts, catalog, order_views, processing
from tests import factories
from tests.browser.test_accessibility import DESKTOP, PHONE, serious_violations


@pytest.fixture
def shopper_page(page: Page, database: Database) -> tuple[Page, int]:
    """A tab signed in to the storefront as a customer with a cart and two orders."""
    customer_id, _ = factories.customer_login(database, balance=300_00)
    cake = factories.product(database, name="<b>Lemon</b> cake with a rather long name", stock=9)
    bread = factories.product(database, name="Rye bread", price=4_20, stock=40)
    paid = factories.order(database, customer_id, (cake, 1), (bread, 2))
    factories.order(database, customer_id, (cake, 1))
    with database.write() as session:
        processing.process_order(session, paid)
        carts.set_cart_item(session, customer_id, cake, 2)
        carts.set_cart_item(session, customer_id, bread, 1)
        email = catalog.get_customer(session, customer_id).email
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/account/orders")
    return page, customer_id


def numbers_of(database: Database, customer_id: int) -> list[str]:
    with database.read() as session:
        filters = order_views.OrderFilters(customer_id=customer_id)
        return [v.number for v in order_views.list_orders(session, filters, limit=50).items]


def fits_and_passes(page: Page) -> None:
    page.set_viewport_size(DESKTOP)
    assert serious_violations(page) == []
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(page) == []


def test_checkout_and_the_order_pages_are_accessible_and_fit_a_phone(
    shopper_page: tuple[Page, int], database: Database
) -> None:
    page, customer_id = shopper_page
    pending, paid = numbers_of(database, customer_id)
    for path in (
        "/checkout",
        "/account/orders",
        f"/account/orders/{pending}",
        f"/account/orders/{paid}",
        f"/account/orders/{paid}/invoice",
        f"/account/orders/{pending}/invoice",
        f"/orders/{pending}/thank-you",
    ):
        page.goto(path)
        fits_and_passes(page)


def test_a_double_click_on_purchase_now_places_one_order(
    shopper_page: tuple[Page, int], database: Database
) -> None:
    page, customer_id = shopper_page
    before = numbers_of(database, customer_id)
    page.goto("/checkout")
    page.get_by_label("Shipping address").fill("1 Main Street")

    page.get_by_role("button", name="Purchase Now").dblclick()
    page.wait_for_url("**/thank-you")

    after = numbers_of(database, customer_id)
    assert len(after) == len(before) + 1
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you for your order"
    assert after[0] in page.url
