"""Emails leave through a real SMTP server on loopback: once each, retried while the
server is away or answers 4xx, given up on a 5xx, and with headers user text can't bend."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ordermill.db import Database
from tests import factories
from tests.notify.mail_helpers import DOMAIN, email_deliveries, place, run, store_settings
from tests.notify.smtp_server import free_port, smtp_server


def _wait_until_due(database: Database, timeout: float = 5.0) -> None:
    """Sleep until every pending email delivery's next attempt has come."""
    rows = [row for row in email_deliveries(database) if row.status == "pending"]
    if rows:
        latest = max(row.next_attempt for row in rows)
        wait = (latest - datetime.now(UTC)).total_seconds()
        assert wait < timeout
        time.sleep(max(wait, 0) + 0.05)


def test_a_placed_order_emails_the_customer_once_and_each_staff_address_once(
    database: Database,
) -> None:
    customer = factories.customer(database, name="Ann Lee", email="ann@example.com")
    pen = factories.product(database, name="Fountain pen", sku="PEN", price=12_00)
    ink = factories.product(database, name="Ink", sku="INK", price=50)
    order = place(database, customer, (pen, 1), (ink, 1), shipping_address="1 Quay St, Dublin")
    with smtp_server() as server:
        settings = store_settings(
            database, smtp_url=server.url, staff_emails=["desk@pens.example", "boss@pens.example"]
        )

        counts = run(database, settings)

        assert counts["sent"] == 3
        [mail] = server.to("ann@example.com")
        assert mail.recipients == ["ann@example.com"]
        message = mail.message
        assert message["To"] == "Ann Lee <ann@example.com>"
        assert message["From"] == "Pen Shop <shop@pens.example>"
        assert order.number in message["Subject"]
        assert message.get_content_type() == "multipart/alternative"
        for subtype in ("plain", "html"):
            body = mail.part(subtype)
            assert "Fountain pen" in body
            assert "PEN" in body
            assert "Ink" in body
            assert "€12.50" in body  # the total
        for staff in ("desk@pens.example", "boss@pens.example"):
            [note] = server.to(staff)
            assert note.recipients == [staff]
            subject = note.message["Subject"]
            assert subject == f"New order {order.number} from Ann Lee, 2 lines, €12.50"

        assert run(database, settings)["sent"] == 0
        assert len(server.received) == 3
    assert {row.status for row in email_deliveries(database)} == {"sent"}


def test_each_message_id_is_made_of_the_event_and_the_delivery(database: Database) -> None:
    customer = factories.customer(database, email="bo@example.com")
    place(database, customer, (factories.product(database), 1))
    with smtp_server() as server:
        run(database, store_settings(database, smtp_url=server.url))
        [row] = email_deliveries(database)
        [mail] = server.received
        assert mail.message["Message-ID"] == f"<ordermill.{row.event_id}.{row.id}@{DOMAIN}>"
        assert mail.message["Date"]


def test_html_escapes_what_customers_typed_and_text_keeps_it_as_written(
    database: Database,
) -> None:
    customer = factories.customer(
        database, name="<script>alert(1)</script> {{ 7*7 }}", email="x@example.com"
    )
    product = factories.product(database, name="<b>Bold</b> pen", sku="B&W")
    place(
        database,
        customer,
        (product, 1),
        shipping_address='<img src="x" onerror="alert(2)">\n1 Main St',
        note="<a href='http://evil.example'>click</a>",
    )
    with smtp_server() as server:
        run(database, store_settings(database, smtp_url=server.url))
        [mail] = server.received
        html = mail.part("html")
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<img" not in html
        assert "&lt;img" in html
        assert "<a href='http://evil.example'>" not in html
        assert "&lt;b&gt;Bold&lt;/b&gt; pen" in html
        assert "B&amp;W" in html
        text = mail.part("plain")
        assert "<script>alert(1)</script> {{ 7*7 }}" in text  # a value, never a template
        assert "49" not in text
        assert "<b>Bold</b> pen" in text


def test_a_name_with_line_breaks_adds_no_header(database: Database) -> None:
    customer = factories.customer(
        database, name="Ann\r\nBcc: evil@example.com", email="ann@example.com"
    )
    place(database, customer, (factories.product(database), 1))
    with smtp_server() as server:
        run(database, store_settings(database, smtp_url=server.url))
        [mail] = server.received
        message = mail.message
        assert mail.recipients == ["ann@example.com"]
        assert message["Bcc"] is None
        headers = mail.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert not any(line.lower().startswith(b"bcc") for line in headers)
        [to] = message["To"].addresses
        assert to.addr_spec == "ann@example.com"
        assert "\n" not in to.display_name
        assert all("\n" not in value and "\r" not in value for value in message.values())


def test_a_server_that_is_down_leaves_the_email_pending_then_it_goes_once(
    database: Database,
) -> None:
    customer = factories.customer(database, email="cy@example.com")
    place(database, customer, (factories.product(database), 1))
    port = free_port()  # nothing listens there yet
    # Gaps long enough that one pass does not try again, short enough to wait for.
    settings = store_settings(
        database, smtp_url=f"smtp://127.0.0.1:{port}", delivery_retry_schedule=[0.4]
    )

    run(database, settings)

    [row] = email_deliveries(database)
    assert row.status == "pending"
    assert row.attempts == 1
    assert "could not connect to 127.0.0.1" in row.last_error
    assert row.next_attempt > row.created
    with smtp_server(port) as server:
        _wait_until_due(database)
        assert run(database, settings)["sent"] == 1
        assert run(database, settings)["sent"] == 0
        assert len(server.to("cy@example.com")) == 1
    [row] = email_deliveries(database)
    assert (row.status, row.attempts) == ("sent", 2)


def _retried_until_sent(database: Database, settings_url: str) -> None:
    settings = store_settings(database, smtp_url=settings_url, delivery_retry_schedule=[0.05])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        run(database, settings)
        if all(row.status != "pending" for row in email_deliveries(database)):
            return
        _wait_until_due(database)


def test_a_451_to_rcpt_is_retried_and_the_email_goes_once(database: Database) -> None:
    customer = factories.customer(database, email="di@example.com")
    place(database, customer, (factories.product(database), 1))
    with smtp_server() as server:
        server.handler.rcpt_replies.append("451 4.7.1 greylisted, try again later")

        _retried_until_sent(database, server.url)

        [row] = email_deliveries(database)
        assert (row.status, row.attempts) == ("sent", 2)
        assert len(server.received) == 1


def test_a_451_to_data_is_retried_and_the_email_goes_once(database: Database) -> None:
    customer = factories.customer(database, email="ed@example.com")
    place(database, customer, (factories.product(database), 1))
    with smtp_server() as server:
        server.handler.data_replies.append("451 4.3.0 local problem")

        _retried_until_sent(database, server.url)

        [row] = email_deliveries(database)
        assert (row.status, row.attempts) == ("sent", 2)
        assert len(server.received) == 1


def test_a_550_fails_the_email_with_the_reply_and_it_is_not_tried_again(
    database: Database,
) -> None:
    customer = factories.customer(database, email="gone@example.com")
    place(database, customer, (factories.product(database), 1))
    with smtp_server() as server:
        server.handler.rcpt_replies.extend(["550 5.1.1 no such user"] * 3)
        settings = store_settings(database, smtp_url=server.url, delivery_retry_schedule=[0.05])

        run(database, settings)
        time.sleep(0.1)
        run(database, settings)

        [row] = email_deliveries(database)
        assert row.status == "failed"
        assert row.attempts == 1
        assert row.response_code == 550
        assert row.last_error == "550 5.1.1 no such user"
        assert server.received == []
        assert len(server.handler.rcpt_replies) == 2  # asked once only
