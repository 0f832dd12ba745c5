"""The catalogue, a product's page and the cart in Chromium: axe-core finds nothing serious
at desktop and phone width, none scrolls sideways on a phone, and a customer fills a cart
with the keyboard-reachable forms alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ordermill.db import Database
from ordermill.services import carts, catalog
from tests import factories
from tests.browser.test_accessibility import DESKTOP, PHONE, serious_violations

TIMES = "\N{MULTIPLICATION SIGN}"
LONG_NAME = "Small-batch <b>smoked</b> sea salt flakes from the northern coast, 250 g"


@pytest.fixture
def shop(database: Database) -> dict[str, str]:
    """A customer with a cart holding a product that went short, and a few products."""
    customer_id, _user_id = factories.customer_login(database)
    salt = factories.product(
        database,
        name=LONG_NAME,
        sku="SALT-250-SMOKED-NORTHERN-COAST",
        price=3_00,
        stock=3,
        description="Hand-harvested.\nKeeps for years in a dry place.",
    )
    tea = factories.product(database, name="Green tea", price=4_50, stock=40)
    factories.product(database, name="Candle", stock=0)
    with database.write() as session:
        carts.set_cart_item(session, customer_id, salt, 5)
        carts.set_cart_item(session, customer_id, tea, 2)
        email = catalog.get_customer(session, customer_id).email
    return {"email": email, "salt": str(salt), "tea": str(tea)}


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/account/orders")


@pytest.mark.parametrize("path", ["/", "/?q=zzz", "/products/{salt}", "/cart"])
def test_the_shop_page_is_accessible_and_fits_a_phone(
    page: Page, shop: dict[str, str], path: str
) -> None:
    log_in(page, shop["email"])
    page.set_viewport_size(DESKTOP)
    page.goto(path.format(**shop))

    assert serious_violations(page) == []
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(page) == []


def test_a_customer_adds_to_the_cart_from_a_products_page_and_changes_it_in_the_cart(
    page: Page, shop: dict[str, str], database: Database
) -> None:
    log_in(page, shop["email"])
    page.goto(f"/products/{shop['tea']}")

    page.get_by_label("Quantity").fill("3")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator(".flashes")).to_contain_text(f"Added 3 {TIMES} Green tea to your cart.")
    expect(page).to_have_url(f"{page.url.split('/products')[0]}/products/{shop['tea']}")

    page.goto("/cart")
    page.get_by_label("Quantity of Green tea").fill("1")
    page.get_by_role("button", name="Update the quantity of Green tea").click()
    expect(page.locator(".flashes")).to_contain_text(f"Your cart holds 1 {TIMES} Green tea.")
    expect(page.locator("tr.cart-problem")).to_contain_text(
        "Only 3 left: lower the quantity to check out."
    )
    expect(page.locator(".cart-total")).to_have_text("$19.50")  # 5 x 3.00 salt + 4.50 tea
