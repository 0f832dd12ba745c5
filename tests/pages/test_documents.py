"""An order's invoice and delivery note: printable pages once paid or shippable, and as PDF."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.services import orders as order_service
from ordermill.services import processing
from ordermill.services import workflow as flow_service
from ordermill.services.order_views import OrderView
from ordermill.web.app import create_app
from ordermill.web.pages import pdf
from tests import factories
from tests.pages.forms import log_in, text_of

SCRIPT = "<script>alert(1)</script>"
DOCUMENTS = ["invoice", "delivery-note"]


@pytest.fixture
def store(database: Database) -> Iterator[TestClient]:
    """A staff browser on a store with a name and a two-line address."""
    settings = Settings(
        database_url=database.url,
        store_name="Mill & Sons",
        store_address="1 Quay Street\\nPortsmouth PO1 1AA",
    )
    factories.user(database, role="staff", email="docs@example.com")
    app = create_app(settings, database)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        assert log_in(client, "docs@example.com").status_code == 303
        yield client


def _placed(
    database: Database,
    *,
    name: str = "Ada Lovelace",
    balance: int = 100_00,
    stock: int = 10,
    quantity: int = 2,
    shipping_address: str | None = "12 Analytical Row\nLondon",
) -> OrderView:
    customer_id = factories.customer(database, name=name, balance=balance)
    product_id = factories.product(database, price=12_50, stock=stock, name="Brass gear")
    with database.write() as session:
        view = order_service.place_order(
            session,
            customer_id=customer_id,
            items=[order_service.ItemRequest(product_id, quantity)],
            currency="USD",
            shipping_address=shipping_address,
        )
    return view


def _order(database: Database, **fields: Any) -> int:
    return _placed(database, **fields).id


def _process(database: Database, order_id: int, **options: Any) -> OrderView:
    with database.write() as session:
        return processing.process_order(session, order_id, **options)


def _paid_order(database: Database, **fields: Any) -> OrderView:
    return _process(database, _order(database, **fields))


def _pdf_text(body: bytes) -> str:
    reader = PdfReader(io.BytesIO(body))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


# ---------------------------------------------------------------- the invoice


def test_a_paid_orders_invoice_shows_the_store_the_customer_the_lines_and_the_totals(
    store: TestClient, database: Database
) -> None:
    order = _paid_order(database)

    response = store.get(f"/admin/orders/{order.number}/invoice")

    assert response.status_code == 200
    text = text_of(response.text)
    assert "Invoice" in text
    assert "Mill & Sons 1 Quay Street Portsmouth PO1 1AA" in text
    assert f"Order number {order.number}" in text
    assert "Bill to Ada Lovelace" in text
    assert "Ship to 12 Analytical Row London" in text
    assert re.search(r"SKU-\d+ Brass gear 2 \$12\.50 \$25\.00", text)
    assert "Total $25.00" in text
    assert "Paid $25.00" in text
    assert "store balance" in text  # the payment: charged to the balance when processed
    today = order.processed.strftime("%Y-%m-%d") if order.processed else "?"
    assert f"Ordered {today} Processed {today} Paid {today}" in text


def test_the_invoice_is_found_by_order_id_as_well_as_by_number(
    staff: TestClient, database: Database
) -> None:
    order = _paid_order(database)

    by_id = staff.get(f"/admin/orders/{order.id}/invoice")

    assert by_id.status_code == 200
    assert f"Order number {order.number}" in text_of(by_id.text)


def test_an_invoice_paid_in_advance_lists_the_payments_with_their_references(
    staff: TestClient, database: Database
) -> None:
    order_id = _order(database)
    _process(database, order_id, flow=PaymentFlow.ADVANCE)
    with database.write() as session:
        flow_service.pay(session, order_id, amount=10_00, method="bank transfer", reference="TX-1")
        flow_service.pay(session, order_id, amount=20_00, method="bank transfer", reference="TX-2")

    text = text_of(staff.get(f"/admin/orders/{order_id}/invoice").text)

    assert "bank transfer TX-1 $10.00" in text
    assert "bank transfer TX-2 $20.00 ($5.00 credited to the balance)" in text
    assert "Paid $25.00" in text


def test_the_invoice_of_a_returned_order_shows_the_returned_units_and_the_refund(
    staff: TestClient, database: Database
) -> None:
    order = _paid_order(database, quantity=3)
    with database.write() as session:
        flow_service.fulfill(session, order.id)
        flow_service.return_order(
            session, order.id, lines=[flow_service.ReturnLine(order.lines[0].id, 1)]
        )

    text = text_of(staff.get(f"/admin/orders/{order.id}/invoice").text)

    assert "Quantity Returned Unit price Amount" in text
    assert re.search(r"Brass gear 3 1 \$12\.50 \$37\.50", text)
    assert "Refunded to the customer's balance -$12.50" in text


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("pending", "has not been processed yet"),
        ("awaiting payment", "is not paid in full yet"),
        ("cancelled", "was cancelled: it has no invoice"),
    ],
)
def test_an_order_not_paid_has_no_invoice_but_a_409_page_saying_why_with_a_link_back(
    staff: TestClient, database: Database, state: str, says: str
) -> None:
    order = _placed(database)
    if state != "pending":
        _process(database, order.id, flow=PaymentFlow.ADVANCE)
    if state == "cancelled":
        with database.write() as session:
            flow_service.cancel(session, order.id, reason="changed their mind")

    response = staff.get(f"/admin/orders/{order.id}/invoice")

    assert response.status_code == 409
    assert says in text_of(response.text)
    assert f'href="/admin/orders/{order.number}">Back to order {order.number}' in response.text
    assert "data-print" not in response.text
    assert staff.get(f"/admin/orders/{order.number}/invoice.pdf").status_code == 409


# ---------------------------------------------------------------- the delivery note


def test_a_delivery_note_lists_what_ships_without_any_price(
    store: TestClient, database: Database
) -> None:
    order = _process(database, _order(database, stock=1, quantity=3), strategy=Strategy.ADJUST)
    with database.write() as session:
        flow_service.fulfill(session, order.id, carrier="Royal Mail", tracking_number="RM123")

    response = store.get(f"/admin/orders/{order.number}/delivery-note")

    assert response.status_code == 200
    text = text_of(response.text)
    assert "Delivery note" in text
    assert "Mill & Sons 1 Quay Street Portsmouth PO1 1AA" in text
    assert f"Order number {order.number}" in text
    assert "Carrier Royal Mail Tracking RM123" in text
    assert "Customer Ada Lovelace" in text
    assert "Ship to 12 Analytical Row London" in text
    assert re.search(r"SKU-\d+ Brass gear 3 1 ", text)  # ordered 3, one in stock shipped
    assert "$" not in text
    assert "Shipped" in text


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("pending", "has not been processed yet"),
        ("awaiting payment", "is waiting for payment"),
        ("cancelled", "was cancelled"),
    ],
)
def test_an_order_that_may_not_ship_has_no_delivery_note_but_a_409_page(
    staff: TestClient, database: Database, state: str, says: str
) -> None:
    order = _placed(database)
    if state != "pending":
        _process(database, order.id, flow=PaymentFlow.ADVANCE)
    if state == "cancelled":
        with database.write() as session:
            flow_service.cancel(session, order.id, reason="out of stock")

    response = staff.get(f"/admin/orders/{order.id}/delivery-note")

    assert response.status_code == 409
    assert says in text_of(response.text)
    assert f'href="/admin/orders/{order.number}">Back to order' in response.text


def test_each_document_links_the_other_once_it_exists(
    staff: TestClient, database: Database
) -> None:
    order = _paid_order(database)

    invoice = staff.get(f"/admin/orders/{order.id}/invoice").text
    note = staff.get(f"/admin/orders/{order.id}/delivery-note").text

    assert f'href="/admin/orders/{order.number}/delivery-note"' in invoice
    assert f'href="/admin/orders/{order.number}/invoice"' in note
    assert f'href="/admin/orders/{order.number}"' in invoice


# ---------------------------------------------------------------- both documents


@pytest.mark.parametrize("document", DOCUMENTS)
def test_an_unknown_order_has_a_404_page_and_a_ref_that_is_no_order_a_400_page(
    staff: TestClient, document: str
) -> None:
    unknown = staff.get(f"/admin/orders/2026-99999/{document}")
    unknown_id = staff.get(f"/admin/orders/999999/{document}.pdf")
    nonsense = staff.get(f"/admin/orders/not-an-order/{document}")

    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert "Order 2026-99999 does not exist" in text_of(unknown.text)
    assert unknown_id.status_code == 404
    assert nonsense.status_code == 400
    assert "neither an order id" in text_of(nonsense.text)


@pytest.mark.parametrize("suffix", ["invoice", "invoice.pdf", "delivery-note", "delivery-note.pdf"])
def test_a_visitor_is_sent_to_the_login_page(
    visitor: TestClient, database: Database, suffix: str
) -> None:
    order = _paid_order(database)

    response = visitor.get(f"/admin/orders/{order.number}/{suffix}")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=/admin/orders/")


@pytest.mark.parametrize("document", DOCUMENTS)
def test_one_click_prints_with_a_button_the_print_stylesheet_hides(
    staff: TestClient, database: Database, document: str
) -> None:
    order = _paid_order(database)

    page = staff.get(f"/admin/orders/{order.id}/{document}").text
    print_css = staff.get("/static/print.css").text

    toolbar = re.search(r'<div class="toolbar no-print">(.*?)</div>', page, re.S)
    assert toolbar is not None
    assert re.search(r'<button type="button"[^>]*data-print[^>]*>Print', toolbar.group(1))
    assert ".no-print" in print_css.split("{")[0]
    assert "<script>" not in page
    assert "style=" not in page
    assert '<link rel="stylesheet" href="/static/print.css" media="print">' in page


@pytest.mark.parametrize("document", DOCUMENTS)
def test_a_customer_named_like_a_script_is_text_on_the_page_and_in_the_pdf(
    staff: TestClient, database: Database, document: str
) -> None:
    order = _paid_order(database, name=SCRIPT, shipping_address=f"{SCRIPT}\nNowhere")

    page = staff.get(f"/admin/orders/{order.id}/{document}")
    printed = staff.get(f"/admin/orders/{order.id}/{document}.pdf")

    assert SCRIPT not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert SCRIPT in text_of(page.text)
    assert printed.status_code == 200
    assert SCRIPT in _pdf_text(printed.content)


# ---------------------------------------------------------------- PDF


@pytest.mark.parametrize("document", DOCUMENTS)
def test_each_document_downloads_as_a_pdf_named_after_the_order(
    store: TestClient, database: Database, document: str
) -> None:
    order = _paid_order(database)

    page = store.get(f"/admin/orders/{order.number}/{document}").text
    response = store.get(f"/admin/orders/{order.id}/{document}.pdf")

    assert f'href="/admin/orders/{order.number}/{document}.pdf"' in page
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{document}-{order.number}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    text = _pdf_text(response.content)
    assert order.number in text
    assert "Mill & Sons" in text
    assert "Ada Lovelace" in text
    assert "Brass gear" in text
    assert "Print" not in text  # the toolbar is not part of the document
    assert "Log out" not in text  # nor is the site's menu
    assert ("$25.00" in text) is (document == "invoice")


def test_without_weasyprint_the_pdf_link_is_left_out_and_the_pdf_is_a_503_page(
    staff: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = _paid_order(database)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint now fails

    page = staff.get(f"/admin/orders/{order.id}/invoice")
    response = staff.get(f"/admin/orders/{order.id}/invoice.pdf")

    assert page.status_code == 200
    assert ".pdf" not in page.text
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "PDF files are not available on this server" in text_of(response.text)


def test_making_a_pdf_reads_only_the_apps_own_stylesheets(
    staff: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = _paid_order(database)
    asked: list[str] = []
    real = pdf.static_file

    def spy(url: str) -> tuple[bytes, str]:
        asked.append(url)
        return real(url)

    monkeypatch.setattr(pdf, "static_file", spy)

    assert staff.get(f"/admin/orders/{order.id}/invoice.pdf").status_code == 200
    assert sorted(asked) == [
        f"{pdf.ORIGIN}/static/ordermill.css",
        f"{pdf.ORIGIN}/static/print.css",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/static/ordermill.css",
        "http://ordermill.invalid/admin/orders/1/invoice",
        "http://ordermill.invalid/static/../../config.py",
        "http://ordermill.invalid/static/%2e%2e/web/app.py",
        "http://ordermill.invalid/static/no-such-file.css",
        "file:///etc/passwd",
        "data:text/css,body{}",
    ],
)
def test_the_pdf_fetcher_refuses_anything_but_the_apps_static_files(url: str) -> None:
    with pytest.raises(PermissionError):
        pdf.static_file(url)


def test_the_pdf_fetcher_serves_the_print_stylesheet_from_disk() -> None:
    body, media_type = pdf.static_file(f"{pdf.ORIGIN}/static/print.css")

    assert media_type == "text/css"
    assert b".no-print" in body
