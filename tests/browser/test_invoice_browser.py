"""The invoice in a real Chromium: one click prints it, and what prints is the document."""

from __future__ import annotations

import io

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from ordermill.db import Database
from ordermill.services import processing
from ordermill.services.order_views import OrderView
from tests import factories


def _paid_order(database: Database) -> OrderView:
    customer_id = factories.customer(database, name="Grace Hopper", balance=100_00)
    product_id = factories.product(database, price=12_50, stock=10, name="Brass gear")
    order_id = factories.order(database, customer_id, (product_id, 3))
    with database.write() as session:
        return processing.process_order(session, order_id)


def _text(pdf: bytes) -> str:
    pages = PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join((page.extract_text() or "").split()) for page in pages)


def test_the_invoice_page_prints_the_order_number_and_total_without_the_pages_chrome(
    staff_page: Page, database: Database
) -> None:
    order = _paid_order(database)
    staff_page.goto(f"/admin/orders/{order.number}/invoice")
    expect(staff_page.get_by_role("heading", name="Invoice")).to_be_visible()

    printed = _text(staff_page.pdf())

    assert order.number in printed
    assert "Total $37.50" in printed
    assert "Grace Hopper" in printed
    assert "Print invoice" not in printed
    assert "Log out" not in printed
    assert "Orders" not in printed  # the site's menu


def test_one_click_on_print_opens_the_print_dialog_and_the_button_hides_in_print(
    staff_page: Page, database: Database
) -> None:
    order = _paid_order(database)
    staff_page.goto(f"/admin/orders/{order.id}/invoice")
    # A function given to evaluate is called: this one swaps the dialog for a counter.
    staff_page.evaluate(
        "() => { window.print = () => { window.printed = (window.printed || 0) + 1; }; }"
    )
    button = staff_page.get_by_role("button", name="Print invoice")

    button.click()

    assert staff_page.evaluate("window.printed") == 1
    expect(button).to_be_visible()
    staff_page.emulate_media(media="print")
    expect(button).to_be_hidden()
    expect(staff_page.get_by_role("navigation", name="Back office")).to_be_hidden()
    document = staff_page.get_by_role("article", name="Invoice")
    expect(document).to_be_visible()
    expect(document).to_contain_text(f"Order number{order.number}")
