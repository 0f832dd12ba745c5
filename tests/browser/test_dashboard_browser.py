"""The dashboard in Chromium: its charts show the sales the test placed and processed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from ordermill.db import Database
from ordermill.services import processing
from tests import factories


def test_the_charts_show_the_sales_placed_and_processed_today(
    staff_page: Page, database: Database
) -> None:
    customer = factories.customer(database, balance=1_000_00)
    tea = factories.product(database, price=2_50, stock=100, name="Tea <b>green</b>", sku="TEA")
    cake = factories.product(database, price=4_00, stock=100, name="Cake", sku="CAKE")
    orders = [
        factories.order(database, customer, (tea, 3), (cake, 1)),  # 11.50
        factories.order(database, customer, (tea, 1)),  # 2.50
    ]
    factories.order(database, customer, (cake, 5))  # stays pending: not a sale
    with database.write() as session:
        for order in orders:
            processing.process_order(session, order)
    today = datetime.now(UTC).date()
    words = f"{today:%a} {today.day} {today:%b %Y}"

    staff_page.goto("/admin?period=7")

    orders_bar = staff_page.locator(f'svg#orders-USD rect[data-key="{today.isoformat()}"]')
    revenue_bar = staff_page.locator(f'svg#revenue-USD rect[data-key="{today.isoformat()}"]')
    expect(orders_bar).to_have_attribute("aria-label", f"{words}: 2 orders")
    expect(orders_bar.locator("title")).to_have_text(f"{words}: 2 orders")
    expect(revenue_bar).to_have_attribute("aria-label", f"{words}: $14.00")
    assert orders_bar.bounding_box()["height"] > 0  # type: ignore[index]
    yesterday = (today - timedelta(days=1)).isoformat()
    empty = staff_page.locator(f'svg#orders-USD rect[data-key="{yesterday}"]')
    assert empty.get_attribute("height") == "0.0"
    expect(staff_page.locator(f'#sales-USD tr[data-day="{today.isoformat()}"]')).to_have_text(
        f"{words}2$14.00"
    )
    expect(staff_page.get_by_text("1 order to process")).to_be_visible()
    top = staff_page.get_by_role("table", name="Top products by units sold (USD)")
    expect(top.get_by_role("row").nth(1)).to_contain_text("Tea <b>green</b>")
    expect(top.get_by_role("row").nth(1)).to_contain_text("$10.00")
    tea_bar = staff_page.locator(f'svg#top-USD rect[data-key="{tea}"]')
    expect(tea_bar).to_have_attribute("aria-label", "1. Tea <b>green</b> (TEA): 4 units, $10.00")


def test_a_custom_period_is_chosen_with_the_form_and_the_keyboard(staff_page: Page) -> None:
    staff_page.goto("/admin")

    staff_page.get_by_label("Period").select_option("custom")
    staff_page.get_by_label("From (custom)").fill("2026-02-27")
    staff_page.get_by_label("To (custom)").fill("2026-03-02")
    staff_page.get_by_label("To (custom)").press("Enter")

    staff_page.wait_for_url("**/admin?period=custom&from=2026-02-27&to=2026-03-02")
    expect(staff_page.locator("#sales-USD tbody tr")).to_have_count(4)
    expect(
        staff_page.get_by_role("heading", name="Fri 27 Feb 2026 to Mon 2 Mar 2026")
    ).to_be_visible()


def test_a_wrong_period_is_said_next_to_the_form(staff_page: Page) -> None:
    staff_page.goto("/admin?period=custom&from=2026-03-05&to=2026-03-01")

    expect(staff_page.get_by_role("alert")).to_have_text(
        "The period ends (2026-03-01) before it starts (2026-03-05)."
    )
