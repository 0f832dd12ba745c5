"""One order's page: its lines, totals, payments, dates, address, extra data, timeline,
and a button for each action the workflow allows now (the others say why not)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from ordermill.db import Database
from ordermill.services import catalog
from ordermill.services import workflow as flow_service
from ordermill.services.tables import deliveries, outbox_events, products
from tests.pages import order_scenes as scenes
from tests.pages.forms import text_of

XSS = "<script>alert(1)</script>"


def section(page: str, heading_id: str) -> str:
    """The HTML of the page's section titled by the heading with this id."""
    found = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', page, re.S)
    assert found, f"no section {heading_id}"
    return found.group(0)


def action(page: str, name: str) -> str:
    """The HTML of one action's box."""
    found = re.search(rf'<div class="action" id="action-{name}">(.*?)\n    </div>', page, re.S)
    assert found, f"no action {name}"
    return found.group(1)


def form_posting_to(page: str, path: str) -> bool:
    return f'<form method="post" action="{path}"' in page


# ---------------------------------------------------------------- finding the order


@pytest.mark.parametrize("by", ["id", "number"])
def test_the_order_page_opens_by_id_or_by_number(
    staff: TestClient, database: Database, by: str
) -> None:
    placed = scenes.place(database)

    response = staff.get(f"/admin/orders/{placed.id if by == 'id' else placed.number}")

    assert response.status_code == 200
    assert f"Order {placed.number}" in text_of(response.text)


@pytest.mark.parametrize("ref", ["999999", "2026-99999"])
def test_an_unknown_order_is_the_404_page(staff: TestClient, ref: str) -> None:
    response = staff.get(f"/admin/orders/{ref}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert f"Order {ref} does not exist." in text_of(response.text)


def test_a_reference_that_is_no_order_id_or_number_is_a_400_page(staff: TestClient) -> None:
    response = staff.get("/admin/orders/not-an-order")

    assert response.status_code == 400
    assert "is neither an order id" in text_of(response.text)


def test_a_visitor_is_sent_to_log_in_first(visitor: TestClient, database: Database) -> None:
    placed = scenes.place(database)

    response = visitor.get(placed.page)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=/admin/orders/")


# ---------------------------------------------------------------- what the page shows


def test_lines_show_the_snapshot_taken_when_ordered_and_the_quantities_so_far(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database, quantity=5, price=2_50, stock=3)
    with database.write() as session:
        session.execute(
            update(products)
            .where(products.c.id == placed.product)
            .values(name="Renamed", sku="NEW-SKU", price=9_99)
        )
        from ordermill.services import processing

        processing.process_order(session, placed.id)  # adjusts to the 3 in stock
        flow_service.fulfill(session, placed.id)
        order = scenes.order(database, placed.id)
    assert order is not None
    [line] = order.lines
    with database.write() as session:
        flow_service.return_order(
            session, placed.id, lines=[flow_service.ReturnLine(line.id, 1)], restock=True
        )

    lines = section(staff.get(placed.page).text, "h-lines")

    assert "Renamed" not in lines
    assert "NEW-SKU" not in lines
    cells = [text_of(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", lines, re.S)]
    header, row = cells[:8], cells[8:16]
    assert header == [
        "SKU", "Product", "Unit price", "Ordered", "Processed", "Returned", "Line total",
        "In stock now",
    ]  # fmt: skip
    assert row == [line.sku, line.name, "$2.50", "5", "3", "1 (1 restocked)", "$7.50", "1"]
    assert f'<a href="/admin/products/{placed.product}">1</a>' in lines
    assert "Total $7.50" in text_of(lines)


def test_the_customer_with_their_balance_now_and_the_shipping_address_and_note_as_text(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.processed(database, quantity=2, price=10_00, balance=50_00, name=XSS)
    scenes.set_order(
        database, placed.id, shipping_address=f"1 Main St\n{XSS}\nSpringfield", note=f"Ring {XSS}"
    )

    page = staff.get(placed.page).text

    customer = section(page, "h-customer")
    assert XSS not in page
    assert f'<a href="/admin/customers/{placed.customer}">&lt;script&gt;' in customer
    assert '<dd id="customer-balance">$30.00</dd>' in customer
    assert (
        '<address class="pre-line">1 Main St\n&lt;script&gt;alert(1)&lt;/script&gt;\n'
        "Springfield</address>"
    ) in customer
    assert "Ring &lt;script&gt;" in customer


def test_the_dates_created_processed_shipped_delivered_and_cancelled_with_its_reason(
    staff: TestClient, database: Database
) -> None:
    delivered = scenes.fulfilled(database)
    with database.write() as session:
        flow_service.deliver(session, delivered.id)
    cancelled = scenes.processed(database)
    with database.write() as session:
        flow_service.cancel(session, cancelled.id, reason=f"changed mind {XSS}")
    pending = scenes.place(database)

    done = text_of(section(staff.get(delivered.page).text, "h-dates"))
    stopped_page = staff.get(cancelled.page).text
    waiting = text_of(section(staff.get(pending.page).text, "h-dates"))

    for label in ("Created", "Processed", "Fulfilled (shipped)", "Delivered", "Carrier DHL"):
        assert label in done
    assert "Tracking number T-1" in done
    stopped = text_of(section(stopped_page, "h-dates"))
    assert "Cancelled" in stopped
    assert f"Cancel reason changed mind {XSS}" in stopped
    assert XSS not in stopped_page
    assert "Processed not yet" in waiting
    assert "Delivered" not in waiting


def test_totals_and_payments_of_an_order_paid_in_two_parts(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.awaiting_payment(database, quantity=2, price=10_00)
    with database.write() as session:
        flow_service.pay(session, placed.id, amount=5_00, method="cash")
        flow_service.pay(session, placed.id, amount=16_00, method="card", reference=f"R-{XSS}")

    page = staff.get(placed.page).text

    totals = text_of(section(page, "h-money"))
    assert "Total $20.00 Paid $20.00 Balance due $0.00 Payment flow advance" in totals
    payments = section(page, "h-payments")
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", payments, re.S)
    assert [text_of(row).split(" UTC ")[1] for row in rows] == [
        "$5.00 $0.00 cash system",
        f"$16.00 $1.00 card R-{XSS} system",
    ]
    assert XSS not in page


def test_extra_data_is_a_readable_table_with_nested_values_escaped(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database)
    scenes.set_order(
        database,
        placed.id,
        extra={
            "gift": True,
            "wrap": {"paper": "<b>red</b>", "tags": ["bow", XSS]},
            "rows": [{"label": "shipping", "amount": "4.90"}],
            "empty": None,
        },
    )

    extra = section(staff.get(placed.page).text, "h-extra")

    assert XSS not in extra
    assert "<b>red</b>" not in extra
    assert '<th scope="row">gift</th><td>yes</td>' in extra
    assert (
        '<th scope="row">paper</th><td><span class="pre-line">&lt;b&gt;red&lt;/b&gt;</span>'
        in extra
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in extra
    assert text_of(extra) == (
        "Extra empty none gift yes rows amount 4.90 label shipping "
        "wrap paper <b>red</b> tags bow <script>alert(1)</script>"
    )


def test_an_order_without_extra_data_says_so(staff: TestClient, database: Database) -> None:
    placed = scenes.place(database)

    assert "No extra data." in text_of(section(staff.get(placed.page).text, "h-extra"))


# ---------------------------------------------------------------- the timeline


def _message(database: Database, order_id: int, **delivery: object) -> None:
    """A message about the order in a given state, as the delivery worker leaves it."""
    now = datetime.now(UTC)
    with database.write() as session:
        event_id = session.execute(
            insert(outbox_events)
            .values(type="order.processed", order_id=order_id, data={}, created=now)
            .returning(outbox_events.c.id)
        ).scalar_one()
        session.execute(
            insert(deliveries).values(
                event_id=event_id,
                order_id=order_id,
                channel="email",
                audience="customer",
                recipient="ann@example.com",
                message={},
                created=now,
                **{"status": "pending", "attempts": 0, "next_attempt": now, **delivery},
            )
        )


def test_the_timeline_shows_what_happened_with_staff_notes_and_each_messages_state(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.processed(database, quantity=2, price=3_00)
    with database.write() as session:
        from ordermill.services import timeline
        from ordermill.services.audit import Actor

        timeline.add_note(
            session,
            placed.id,
            f"Call first {XSS}",
            visibility=timeline.Visibility.STAFF,
            actor=Actor("ann@example.com", None, None),
        )
    later = datetime.now(UTC) + timedelta(minutes=30)
    _message(database, placed.id)  # queued
    _message(database, placed.id, attempts=2, last_error="451 greylisted", next_attempt=later)
    _message(database, placed.id, status="sent", attempts=1, sent=datetime.now(UTC))
    _message(database, placed.id, status="failed", attempts=5, last_error=f"550 {XSS}")
    _message(database, placed.id, status="cancelled")

    page = staff.get(placed.page).text
    timeline_html = section(page, "h-timeline")
    entries = [text_of(li) for li in re.findall(r"<li id=.*?</li>", timeline_html, re.S)]

    assert XSS not in page
    assert [entry.split(" UTC ")[1].split(" by ")[0] for entry in entries] == [
        "Order placed",
        "Processed",
        "Payment recorded",
        "Note",
        "Message queued: not sent yet",
        "Message retrying: the last attempt failed",
        "Message sent",
        "Message failed for good",
        "Message cancelled",
    ]
    assert "If stock was short adjust Payment balance Total $6.00" in entries[1]
    assert f"by ann@example.com staff only Call first {XSS}" in entries[3]
    assert "Error 451 greylisted" in entries[5]
    assert "Attempts 2" in entries[5]
    assert "Next attempt" in entries[5]
    assert f"Error 550 {XSS}" in entries[7]
    assert 'class="entry entry-notification message-failed"' in timeline_html


def test_the_page_has_a_form_to_add_a_note_for_staff_or_the_customer(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database)

    timeline_html = section(staff.get(placed.page).text, "h-timeline")

    assert form_posting_to(timeline_html, f"{placed.page}/notes")
    assert '<textarea id="note-text" name="text" required maxlength="2000">' in timeline_html
    assert 'value="staff" checked' in timeline_html
    assert 'value="customer"' in timeline_html


# ---------------------------------------------------------------- actions


def test_a_pending_order_offers_process_cancel_and_delete_and_says_why_not_the_others(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database)

    page = staff.get(placed.page).text

    process = action(page, "process")
    assert form_posting_to(process, f"{placed.page}/process")
    assert '<select id="process-strategy" name="strategy">' in process
    assert re.findall(r'<option value="(\w+)"', process) == [
        "adjust",
        "reject",
        "ignore",
    ]
    assert '<button type="submit" class="primary">Process</button>' in process
    assert form_posting_to(action(page, "cancel"), f"{placed.page}/cancel")
    delete = action(page, "delete")
    assert f'action="{placed.page}/delete" data-confirm="Delete order {placed.number}?' in delete
    for name, label, reason in [
        ("pay", "Mark as Paid", "The order has not been processed yet."),
        ("fulfill", "Fulfill", "The order has not been processed yet."),
        ("deliver", "Deliver", "The order has not been processed yet."),
        ("return", "Return", "The order has not been processed yet."),
    ]:
        assert text_of(action(page, name)) == f"{label} is not possible now: {reason}"
    documents = text_of(action(page, "documents"))
    assert documents == (
        "Print Invoice : once the order is paid. Delivery Note : once the order is processed."
    )


def test_a_processed_order_offers_fulfill_and_cancel_and_keeps_delete_away_with_the_reason(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.processed(database)

    page = staff.get(placed.page).text

    assert form_posting_to(action(page, "fulfill"), f"{placed.page}/fulfill")
    assert '<button type="submit" class="success">Fulfill</button>' in action(page, "fulfill")
    assert text_of(action(page, "process")) == (
        "Process is not possible now: The order has already been processed."
    )
    assert text_of(action(page, "delete")) == (
        "Delete is not possible now: Only a pending order can be deleted; once processed, "
        "an order is kept for the books."
    )
    assert "/delete" not in page
    assert f'<a class="button" href="{placed.page}/invoice">Print Invoice</a>' in page
    assert f'<a class="button" href="{placed.page}/delivery-note">Delivery Note</a>' in page


def test_an_order_awaiting_payment_offers_mark_as_paid_for_the_balance_due_and_no_invoice(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.awaiting_payment(database, quantity=3, price=4_10)

    page = staff.get(placed.page).text

    pay = action(page, "pay")
    assert form_posting_to(pay, f"{placed.page}/pay")
    assert 'name="amount" inputmode="decimal" required value="12.30"' in pay
    assert '<button type="submit" class="primary">Mark as Paid</button>' in pay
    assert text_of(action(page, "fulfill")) == (
        "Fulfill is not possible now: The order is waiting for payment."
    )
    assert "/invoice" not in page
    assert f"{placed.page}/delivery-note" in page


def test_a_shipped_order_says_it_was_shipped_and_offers_deliver_and_return_by_line(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.fulfilled(database, quantity=4)
    order = scenes.order(database, placed.id)
    assert order is not None

    page = staff.get(placed.page).text

    assert re.fullmatch(
        r"Fulfill : done, shipped on .+ UTC; nothing left to do\.", text_of(action(page, "fulfill"))
    )
    assert form_posting_to(action(page, "deliver"), f"{placed.page}/deliver")
    back = action(page, "return")
    assert form_posting_to(back, f"{placed.page}/return")
    assert f'name="line_{order.lines[0].id}" type="number" min="0" max="4"' in back
    assert text_of(action(page, "cancel")) == (
        "Cancel is not possible now: The order has been shipped; return it instead."
    )


def test_process_is_refused_in_words_when_the_customers_balance_is_empty(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database, balance=0)

    page = staff.get(placed.page).text

    assert text_of(action(page, "process")) == (
        "Process is not possible now: The customer's balance must be positive to charge it."
    )


def test_a_cancelled_order_has_no_documents_and_every_action_says_why_not(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.processed(database)
    with database.write() as session:
        flow_service.cancel(session, placed.id, reason="test")

    page = staff.get(placed.page).text

    assert '<form method="post" action="/admin/orders/' not in section(page, "h-actions")
    assert "/invoice" not in page
    assert "/delivery-note" not in page


def test_the_page_has_no_inline_script_or_style(staff: TestClient, database: Database) -> None:
    placed = scenes.fulfilled(database)
    page = staff.get(placed.page).text

    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/ordermill.js" defer>']
    assert "<style" not in page
    assert " style=" not in page
    assert "javascript:" not in page


def test_a_product_gone_from_the_catalog_is_said_in_the_stock_column(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database)
    with database.write() as session:
        catalog.delete_product(session, placed.product)

    lines = section(staff.get(placed.page).text, "h-lines")

    assert "no longer in the catalog" in text_of(lines)
