"""A customer's whole visit in Chromium: sign up, browse, fill the cart, Purchase Now, the
thank-you page, My Orders and Order again; two tabs checking out one cart; a product that
sold out meanwhile; and what one customer cannot see of another's, or of the back office.

With ``ORDERMILL_SCREENSHOTS=<folder>`` the storefront's pages are saved there at phone
width (375 px); README shows the ones in docs/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from ordermill.db import Database
from ordermill.services import carts, catalog, order_views
from tests import factories
from tests.browser.test_accessibility import DESKTOP, PHONE, keep_screenshot, serious_violations


def order_numbers(database: Database, customer_id: int) -> list[str]:
    with database.read() as session:
        filters = order_views.OrderFilters(customer_id=customer_id)
        return [str(v.number) for v in order_views.list_orders(session, filters, limit=50).items]


def customer_id_of(database: Database, email: str) -> int:
    with database.read() as session:
        return int(catalog.list_customers(session, limit=10, email=email).items[0].id)


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/account/orders")


def signed_in_customer(page: Page, database: Database, *, balance: int = 300_00) -> int:
    customer_id, _ = factories.customer_login(database, balance=balance)
    with database.read() as session:
        email = catalog.get_customer(session, customer_id).email
    log_in(page, email)
    return customer_id


def test_a_customer_signs_up_shops_checks_out_and_orders_the_same_again(
    page: Page, database: Database
) -> None:
    factories.product(database, name="Lemon cake", price=12_50, stock=8)
    factories.product(database, name="Rye bread", price=4_20, stock=40)
    page.set_viewport_size(PHONE)

    page.goto("/")
    keep_screenshot(page, "shop-catalogue")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Your name").fill("Ada <b>Lovelace</b>")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".flash-ok")).to_contain_text("Welcome, Ada <b>Lovelace</b>")

    page.get_by_label("Name or SKU").fill("lemon")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Lemon cake").click()
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator(".flash-ok")).to_have_text("Added 2 \u00d7 Lemon cake to your cart.")
    page.goto("/?q=rye")
    page.get_by_role("button", name=re.compile(r"Add to cart.*Rye bread")).click()
    expect(page.locator(".flash-ok")).to_have_text("Added 1 \u00d7 Rye bread to your cart.")

    page.get_by_role("link", name="Cart").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.locator("main")).to_contain_text("$29.20")
    keep_screenshot(page, "shop-cart")
    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Shipping address").fill("1 Cake Street\nBakerton")
    keep_screenshot(page, "shop-checkout")
    page.get_by_role("button", name="Purchase Now").click()

    page.wait_for_url(re.compile(r".*/orders/[^/]+/thank-you$"))
    expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
    number = page.locator("#order-number").inner_text()
    customer_id = customer_id_of(database, "ada@example.com")
    assert order_numbers(database, customer_id) == [number]
    keep_screenshot(page, "shop-thank-you")

    page.get_by_role("link", name="My Orders").first.click()
    row = page.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text("$29.20")
    keep_screenshot(page, "shop-my-orders")
    row.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=f"Order {number}")).to_be_visible()
    page.get_by_role("button", name="Order again").click()

    page.wait_for_url("**/cart")
    expect(page.locator("main")).to_contain_text("Lemon cake")
    expect(page.locator("main")).to_contain_text("Rye bread")
    with database.read() as session:
        again = {i.name: i.quantity for i in carts.get_cart(session, customer_id).items}
    assert again == {"Lemon cake": 2, "Rye bread": 1}
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_two_tabs_checking_out_one_cart_at_once_make_one_order(
    browser: Browser, page: Page, database: Database
) -> None:
    customer_id = signed_in_customer(page, database)
    cake = factories.product(database, name="Lemon cake", stock=8)
    with database.write() as session:
        carts.set_cart_item(session, customer_id, cake, 2)
    other = page.context.new_page()  # the same browser: the same session
    page.goto("/checkout")
    other.goto("/checkout")

    # Both forms go at once: neither waits for the other's answer.
    for tab in (page, other):
        tab.evaluate("document.querySelector('form.checkout-form').requestSubmit()")
    answered = re.compile("Thank you for your order|Your cart is empty")
    expect(page.locator("main")).to_contain_text(answered)
    expect(other.locator("main")).to_contain_text(answered)

    headings = sorted([page.locator("h1").inner_text(), other.locator("h1").inner_text()])
    assert len(order_numbers(database, customer_id)) == 1
    assert factories.stock_of(database, cake) == 8  # placed, not yet processed
    told_empty = [
        t for t in (page, other) if "Your cart is empty" in t.locator("main").inner_text()
    ]
    assert len(told_empty) == 1, headings
    assert "Thank you for your order" in headings
    other.close()


def test_a_product_that_sold_out_meanwhile_is_named_and_nothing_is_ordered(
    page: Page, database: Database
) -> None:
    customer_id = signed_in_customer(page, database)
    cake = factories.product(database, name="Lemon cake", stock=5)
    bread = factories.product(database, name="Rye bread", stock=40)
    with database.write() as session:
        carts.set_cart_item(session, customer_id, cake, 2)
        carts.set_cart_item(session, customer_id, bread, 1)
    page.goto("/checkout")
    with database.write() as session:  # someone else bought the last ones
        catalog.adjust_stock(session, cake, -5, "sold in the shop")

    page.get_by_role("button", name="Purchase Now").click()

    expect(page.locator(".flash-error")).to_contain_text("Lemon cake is sold out")
    assert order_numbers(database, customer_id) == []
    with database.read() as session:
        kept = {i.name: i.quantity for i in carts.get_cart(session, customer_id).items}
    assert kept == {"Lemon cake": 2, "Rye bread": 1}


def test_a_customer_gets_404_for_anothers_order_and_the_staff_login_for_the_back_office(
    browser: Browser, page: Page, database: Database
) -> None:
    signed_in_customer(page, database)
    someone_else = factories.customer(database)
    product = factories.product(database)
    theirs = factories.order(database, someone_else, (product, 1))
    with database.read() as session:
        number = order_views.get_order(session, theirs).number or "none"

    response = page.goto(f"/account/orders/{number}")

    assert response is not None
    assert response.status == 404
    expect(page.locator("h1")).to_contain_text("404")
    unknown = page.goto("/account/orders/2099-999999")
    assert unknown is not None
    assert unknown.status == 404
    page.goto("/admin")
    page.wait_for_url(re.compile(r".*/admin/login\?next=.*"))
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()


ACCOUNT_PAGES = ["/account", "/account/password", "/account/no-such-page"]
SIGN_IN_PAGES = ["/login", "/signup", "/forgot-password", "/reset-password"]


@pytest.mark.parametrize("path", SIGN_IN_PAGES)
def test_the_sign_in_pages_are_accessible_and_fit_a_phone(page: Page, path: str) -> None:
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.goto(path)

        assert serious_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]


@pytest.mark.parametrize("path", ACCOUNT_PAGES)
def test_the_account_pages_are_accessible_and_fit_a_phone(
    page: Page, database: Database, path: str
) -> None:
    customer_id = signed_in_customer(page, database)
    product = factories.product(database, name="Lemon cake")
    factories.order(database, customer_id, (product, 1))
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.goto(path)

        assert serious_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
