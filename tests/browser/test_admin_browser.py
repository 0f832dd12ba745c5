"""The catalog and the admin pages in a real Chromium: a product made, its stock adjusted
with a reason and found in the audit log; the workflow's diagram drawn on its page."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from ordermill.db import Database
from ordermill.graphviz import find_dot
from ordermill.services import accounts
from tests import factories


@pytest.fixture
def admin_page(page: Page, database: Database) -> Page:
    """A tab signed in to the back office as an admin."""
    email = "admin-browser@example.com"
    factories.user(database, role="admin", email=email)
    page.goto("/admin/login?next=/admin/products")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/products")
    return page


def test_an_admin_adds_a_product_adjusts_its_stock_and_finds_it_in_the_audit_log(
    admin_page: Page, database: Database
) -> None:
    page = admin_page
    page.get_by_role("link", name="New product").click()
    page.get_by_label("Name").fill("Lemon cake <b>fresh</b>")
    page.get_by_label("SKU").fill("CAKE-LEMON-1")
    page.get_by_label("Price (USD)").fill("12.50")
    page.get_by_label("Opening stock").fill("6")
    page.get_by_role("button", name="Add product").click()

    expect(page.get_by_role("status")).to_contain_text("Added Lemon cake <b>fresh</b>.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Lemon cake <b>fresh</b>")

    page.get_by_label("Units").fill("-2")
    page.get_by_label("Reason").fill("dropped in the kitchen")
    page.get_by_role("button", name="Adjust stock").click()

    expect(page.get_by_role("status")).to_contain_text("-2 (dropped in the kitchen), now 4.")
    expect(page.locator("dl.facts")).to_contain_text("4")

    page.get_by_role("link", name="History in the audit log").click()
    newest = page.locator("tbody tr").first
    expect(newest).to_contain_text("product.stock_adjusted")
    expect(newest).to_contain_text("admin-browser@example.com")
    expect(newest).to_contain_text("dropped in the kitchen")
    expect(page.locator("tbody tr").nth(1)).to_contain_text("product.created")

    page.get_by_role("link", name="Products").first.click()
    row = page.locator("tbody tr", has_text="CAKE-LEMON-1")
    expect(row).to_have_class("low-stock")  # 4 is at or below the store's default, 5


def test_a_stock_adjustment_below_zero_is_refused_on_the_page(
    admin_page: Page, database: Database
) -> None:
    pen = factories.product(database, name="Pen", stock=1)
    page = admin_page
    page.goto(f"/admin/products/{pen}")

    page.get_by_label("Units").fill("-3")
    page.get_by_label("Reason").fill("lost")
    page.get_by_role("button", name="Adjust stock").click()

    expect(page.locator("#delta-error")).to_contain_text("1 in stock")
    expect(page.get_by_label("Units")).to_have_value("-3")
    assert factories.stock_of(database, pen) == 1


@pytest.mark.skipif(find_dot() is None, reason="Graphviz is not installed")
def test_the_workflow_page_shows_its_diagram(admin_page: Page) -> None:
    page = admin_page

    page.get_by_role("link", name="Workflow").click()

    image = page.get_by_role("img", name="The workflow as a diagram")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('figure.diagram img').complete")
    width = image.evaluate("img => img.naturalWidth")
    assert width > 0
    expect(page.get_by_role("row", name="Mark shipped")).to_be_visible()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/products",
        "/admin/products/{pen}",
        "/admin/products/new",
        "/admin/products/{pen}/edit",
        "/admin/workflow",
        "/admin/users",
        "/admin/users/new",
        "/admin/users/{clerk}",
        "/admin/audit",
    ],
)
def test_the_catalog_and_admin_pages_have_no_serious_accessibility_violations(
    admin_page: Page, database: Database, path: str
) -> None:
    pen = factories.product(database, name="Pen", stock=2)
    clerk = factories.user(database, role="staff", email="clerk@example.com")
    with database.write() as session:
        issued = accounts.issue_token(
            session, accounts.get_user(session, clerk), kind=accounts.API, ttl=None, name="sync"
        )
        accounts.revoke_token(session, issued.token_id)
    page = admin_page
    page.goto(path.format(pen=pen, clerk=clerk))

    results = Axe().run(page)

    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


def test_a_phone_sized_screen_needs_no_sideways_scrolling_outside_the_tables(
    admin_page: Page, database: Database
) -> None:
    pen = factories.product(database, name="A product with a rather long name indeed", stock=2)
    page = admin_page
    page.set_viewport_size({"width": 375, "height": 800})
    for path in (f"/admin/products/{pen}", "/admin/workflow", "/admin/audit", "/admin/users/new"):
        page.goto(path)

        overflow = page.evaluate("document.documentElement.scrollWidth")

        assert overflow <= 375, path
