"""The catalog and the admin pages in a real Chromium: a product made, its stock adjusted
with a reason and found in the audit log; the workflow's diagram drawn on its page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ordermill.db import Database
from ordermill.graphviz import find_dot
from tests import factories


def test_an_admin_adds_a_product_adjusts_its_stock_and_finds_it_in_the_audit_log(
    admin_page: Page, database: Database
) -> None:
    page = admin_page
    page.goto("/admin/products")
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
