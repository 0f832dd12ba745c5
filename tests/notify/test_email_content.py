"""What each email says: every event of an order's life, low stock, a password reset,
in the store's currency and time zone, from the store's templates where it has some."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ordermill.db import Database
from ordermill.domain.events import EventType
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.services import outbox, processing, workflow
from ordermill.services.plans import OutboxRow
from ordermill.services.tables import deliveries, outbox_events
from tests import factories
from tests.notify.mail_helpers import email_deliveries, place, run, store_settings

TOKYO = "Asia/Tokyo"  # no summer time: the zone's name is always JST


def _emails(database: Database) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The stored emails by (event type, audience)."""
    with database.read() as session:
        rows = session.execute(
            select(outbox_events.c.type, deliveries.c.audience, deliveries.c.message)
            .join(outbox_events, outbox_events.c.id == deliveries.c.event_id)
            .where(deliveries.c.channel == "email")
            .order_by(deliveries.c.id)
        ).all()
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event_type, audience, message in rows:
        found.setdefault((event_type, audience), []).append(message)
    return found


def _one(emails: dict[tuple[str, str], list[dict[str, Any]]], event_type: str) -> dict[str, Any]:
    [email] = emails[(event_type, "customer")]
    return email


def _says(email: dict[str, Any], *facts: str) -> None:
    """Both bodies state every fact (HTML as escaped text)."""
    for fact in facts:
        assert fact in email["text"], f"{fact!r} not in the text body"
        assert fact in email["html"], f"{fact!r} not in the HTML body"


def test_every_event_of_an_order_tells_its_own_facts(database: Database) -> None:
    customer = factories.customer(database, name="Ann Lee", email="ann@example.com")
    pen = factories.product(database, name="Pen", sku="PEN", price=2_50, stock=7)
    ink = factories.product(database, name="Ink", sku="INK", price=5_00, stock=20)
    # Balance flow, 9 pens wanted and 7 on the shelf: adjusted, and the pens run low.
    first = place(database, customer, (pen, 9), (ink, 1), shipping_address="1 Quay St, Dublin")
    ink_line = next(line.id for line in first.lines if line.sku == "INK")
    with database.write() as session:
        processing.process_order(session, first.id, Strategy.ADJUST, flow=PaymentFlow.BALANCE)
        workflow.fulfill(session, first.id, carrier="DHL", tracking_number="JD0146000062")
        workflow.deliver(session, first.id)
        workflow.return_order(session, first.id, lines=[workflow.ReturnLine(ink_line, 1)])
    # Paid in advance, then cancelled.
    second = place(database, customer, (ink, 2))
    with database.write() as session:
        processing.process_order(session, second.id, flow=PaymentFlow.ADVANCE)
        workflow.pay(session, second.id, amount=10_00, method="bank transfer")
        workflow.cancel(session, second.id, reason="Changed my mind")

    settings = store_settings(database, staff_emails=["desk@pens.example"], timezone=TOKYO)
    run(database, settings)
    emails = _emails(database)

    processed = _one(emails, "order.processed")
    assert processed["subject"] == f"Order {first.number} confirmed"
    _says(processed, "Pen (PEN): ordered 9, supplied 7", "€22.50")
    fulfilled = _one(emails, "order.fulfilled")
    assert fulfilled["subject"] == f"Order {first.number} has shipped"
    _says(fulfilled, "DHL", "JD0146000062", "1 Quay St, Dublin")
    delivered = _one(emails, "order.delivered")
    assert delivered["subject"] == f"Order {first.number} delivered"
    _says(delivered, "JST")
    returned = _one(emails, "order.returned")
    assert returned["subject"] == f"Return of order {first.number}: €5.00 refunded"
    _says(returned, "Ink (INK): 1 returned", "Refund: €5.00")

    awaiting = _one(emails, "order.awaiting_payment")
    assert awaiting["subject"] == f"Order {second.number}: €10.00 to pay"
    _says(awaiting, "Amount due: €10.00", second.number)
    paid = _one(emails, "order.paid")
    assert paid["subject"] == f"Payment received for order {second.number}"
    _says(paid, "payment of €10.00", "paid in full")
    cancelled = _one(emails, "order.cancelled")
    assert cancelled["subject"] == f"Order {second.number} cancelled"
    _says(cancelled, "Changed my mind", "€10.00")
    created = emails[("order.created", "customer")]
    assert [email["subject"] for email in created] == [
        f"Order {first.number} received",
        f"Order {second.number} received",
    ]

    [low] = emails[("product.low_stock", "staff")]
    assert low["to"] == "desk@pens.example"
    assert low["subject"] == "Low stock: PEN (Pen) is down to 0, threshold 5"
    assert ("product.low_stock", "customer") not in emails
    assert {row.status for row in email_deliveries(database)} == {"sent"}


def _reset_event(database: Database, **data: Any) -> None:
    values = {
        "email": "ann@example.com",
        "name": "Ann Lee",
        "token": "tok-123_abc",
        "expires": "2026-12-02T10:00:00+00:00",
    }
    values.update(data)
    with database.write() as session:
        outbox.record(
            session,
            [OutboxRow(EventType.PASSWORD_RESET.value, None, values)],
            datetime.now(UTC),
        )


def test_a_password_reset_link_goes_to_its_owner_whatever_the_settings(
    database: Database,
) -> None:
    _reset_event(database)
    settings = store_settings(
        database,
        public_url="https://shop.pens.example/",
        timezone=TOKYO,
        notify_customer_email=[],
        notify_staff_email=["account.password_reset"],
        staff_emails=["desk@pens.example"],
    )

    run(database, settings)

    emails = _emails(database)
    assert list(emails) == [("account.password_reset", "customer")]  # never to staff
    email = _one(emails, "account.password_reset")
    assert email["to"] == "ann@example.com"
    assert email["subject"] == "Reset your password at Pen Shop"
    _says(
        email,
        "https://shop.pens.example/reset-password?token=tok-123_abc",
        "2 December 2026, 19:00 JST",
        "works once",
        "If you did not ask for this, you can ignore this email",
    )


def test_a_webhook_ping_gets_no_email(database: Database) -> None:
    with database.write() as session:
        outbox.record(
            session,
            [OutboxRow(EventType.WEBHOOK_PING.value, None, {"webhook_id": 1})],
            datetime.now(UTC),
        )
    run(database, store_settings(database, notify_staff_email=["webhook.ping"]))
    assert email_deliveries(database) == []


def test_a_store_template_overrides_one_file_and_keeps_the_rest(
    database: Database, tmp_path: Path
) -> None:
    own = tmp_path / "templates" / "email" / "customer"
    own.mkdir(parents=True)
    (own / "order.created.subject.txt").write_text("Thanks for order {{ order.ref }}!\n")
    customer = factories.customer(database, email="bo@example.com")
    order = place(database, customer, (factories.product(database, name="Nib", sku="NIB"), 1))

    settings = store_settings(
        database, templates_dir=str(tmp_path / "templates"), staff_emails=["desk@pens.example"]
    )
    run(database, settings)

    emails = _emails(database)
    email = _one(emails, "order.created")
    assert email["subject"] == f"Thanks for order {order.number}!"
    _says(email, "Nib", "NIB", "€10.00")  # the built-in bodies
    [staff] = emails[("order.created", "staff")]
    assert staff["subject"].startswith(f"New order {order.number} from")


@pytest.mark.parametrize(
    ("broken", "missing"),
    [
        ("Order {{ order.no_such_field }}", "no_such_field"),
        ("Order {{ nothing_by_that_name }}", "nothing_by_that_name"),
    ],
)
def test_a_template_naming_a_missing_value_fails_its_delivery_saying_why(
    database: Database, tmp_path: Path, broken: str, missing: str
) -> None:
    own = tmp_path / "email" / "customer"
    own.mkdir(parents=True)
    (own / "order.created.subject.txt").write_text(broken)
    customer = factories.customer(database, email="cy@example.com")
    place(database, customer, (factories.product(database), 1))

    run(database, store_settings(database, templates_dir=str(tmp_path)))

    [row] = email_deliveries(database)
    assert row.status == "failed"
    assert "could not render the message" in row.last_error
    assert missing in row.last_error
