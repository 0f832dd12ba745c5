"""Staff at work on orders in a real Chromium: Process on the order page, the green
Fulfill on the table, bulk processing, and a forged delete that leaves the order."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ordermill.db import Database
from tests import factories
from tests.pages import order_scenes as scenes


def test_staff_process_a_pending_order_and_see_the_balance_and_the_stock_adjusted(
    staff_page: Page, database: Database
) -> None:
    placed = scenes.place(database, quantity=3, price=12_50, stock=10, balance=100_00)
    page = staff_page

    page.goto("/admin/orders")
    page.get_by_role("link", name=placed.number).click()
    expect(page.locator("#customer-balance")).to_have_text("$100.00")
    expect(page.locator(".stock-now")).to_have_text("10")
    page.get_by_label("If stock is short").select_option("adjust")
    page.get_by_role("button", name="Process", exact=True).click()

    expect(page.locator(".flash-ok")).to_have_text(
        f"Order {placed.number} processed: $37.50 charged to the customer's balance."
    )
    expect(page.locator("h1 .badge")).to_have_text("processed")
    expect(page.locator("#customer-balance")).to_have_text("$62.50")
    expect(page.locator(".stock-now")).to_have_text("7")
    expect(page.locator("#action-process")).to_contain_text("already been processed")
    assert factories.balance_of(database, placed.customer) == 62_50
    assert factories.stock_of(database, placed.product) == 7


def test_the_green_fulfill_on_the_table_returns_to_the_table_and_the_row_changes(
    staff_page: Page, database: Database
) -> None:
    paid = scenes.processed(database)
    waiting = scenes.place(database)
    page = staff_page
    table = f"/admin/orders?status=&sort=oldest&customer={paid.customer}"

    page.goto(table)
    row = page.locator(f"#order-{paid.id}")
    expect(row).to_have_class("row-processed")
    button = row.get_by_role("button", name=f"Fulfill order {paid.number}")
    expect(button).to_have_css("background-color", "rgb(23, 115, 58)")  # green
    expect(page.locator(f"#order-{waiting.id}")).to_have_count(0)  # another customer's
    button.click()

    page.wait_for_url(re.compile(r".*/admin/orders\?.*customer=.*"))
    assert "sort=oldest" in page.url
    expect(page.locator(".flash-ok")).to_have_text(f"Order {paid.number} marked as shipped.")
    expect(row.locator(".badge")).to_have_text("fulfilled")
    expect(row.get_by_role("button")).to_have_count(0)


def test_ticking_pending_orders_processes_them_together_and_says_how_each_ended(
    staff_page: Page, database: Database
) -> None:
    plain = scenes.place(database, quantity=1)
    broke = scenes.place(database, balance=0)
    page = staff_page

    page.goto("/admin/orders?status=pending")
    page.get_by_label("Select every pending order on this page").check()
    expect(page.get_by_label(f"Select order {plain.number}")).to_be_checked()
    page.get_by_label("If stock is short").select_option("ignore")
    page.get_by_role("button", name="Process selected").click()

    expect(page.locator(".flash-ok")).to_have_text(f"Processed 1 of 2 order(s): {plain.number}.")
    expect(page.locator(".flash-error")).to_have_text(
        f"Not processed (1): The customer's balance must be positive to charge it: {broke.number}."
    )
    expect(page.locator(f"#order-{plain.id}")).to_have_count(0)  # no longer pending
    expect(page.locator(f"#order-{broke.id}")).to_have_count(1)


def test_a_pending_order_is_deleted_after_the_question_is_answered(
    staff_page: Page, database: Database
) -> None:
    placed = scenes.place(database)
    page = staff_page
    questions: list[str] = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))

    page.goto(placed.page)
    page.get_by_role("button", name="Delete").click()

    page.wait_for_url("**/admin/orders")
    expect(page.locator(".flash-ok")).to_have_text(f"Order {placed.number} deleted.")
    assert questions == [f"Delete order {placed.number}? This can't be undone."]
    assert scenes.order(database, placed.id) is None


@pytest.mark.parametrize("forgery", ["no token", "wrong token", "valid token"])
def test_a_forged_delete_of_a_processed_order_is_refused_and_the_order_stays(
    staff_page: Page, database: Database, forgery: str
) -> None:
    placed = scenes.processed(database)
    page = staff_page
    page.goto(placed.page)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    form = {"no token": {}, "wrong token": {"csrf_token": "0" * 64}}.get(
        forgery, {"csrf_token": token}
    )

    # The session cookie goes along: the browser's context sends it with the request.
    answer = page.request.post(f"{placed.page}/delete", form=form, max_redirects=0)

    if forgery == "valid token":
        assert answer.status == 303
        assert answer.headers["location"] == placed.page
        page.goto(placed.page)
        expect(page.locator(".flash-error")).to_contain_text("can't be deleted")
    else:
        assert answer.status == 403
        assert "Nothing was changed" in answer.text()
        page.goto(placed.page)
    expect(page.locator("h1")).to_contain_text(placed.number)
    assert scenes.status_of(database, placed.id) == "processed"
