"""Text messages end to end: an order's event in the outbox, the worker, and a stand-in
for Twilio's Messages API on loopback receiving exactly what Twilio would."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.notify.sms import SmsChannel
from ordermill.notify.worker import Worker
from ordermill.services import catalog, processing, workflow
from ordermill.services.tables import deliveries
from tests import factories
from tests.notify.twilio_fake import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    closed_port_url,
    fake_twilio,
    twilio_error,
)

SENDER = "+15557654321"
_emails = itertools.count(1)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio() as fake:
        yield fake


def sms_settings(database: Database, api_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database.url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": SENDER,
        "twilio_api_url": api_url,
        "delivery_retry_schedule": [0.05],
        "delivery_max_attempts": 5,
    }
    values.update(overrides)
    return Settings(**values)


def fulfilled_order(
    database: Database,
    *,
    name: str = "Ann",
    phone: str | None = "+15550102030",
    carrier: str | None = "DHL",
    tracking: str | None = "T-1",
) -> str:
    """A customer's order, processed and shipped; its number."""
    with database.write() as session:
        customer = catalog.create_customer(
            session,
            name=name,
            email=f"texted{next(_emails)}@example.com",
            phone=phone,
            balance=100_00,
        )
        customer_id = customer.id
    product_id = factories.product(database, price=12_50)
    order_id = factories.order(database, customer_id, (product_id, 2))
    with database.write() as session:
        processing.process_order(session, order_id)
    with database.write() as session:
        view = workflow.fulfill(session, order_id, carrier=carrier, tracking_number=tracking)
    return view.number


def worker(database: Database, settings: Settings, **kwargs: Any) -> Worker:
    return Worker(database, settings, [SmsChannel(settings, **kwargs)], concurrency=1)


def sms_deliveries(database: Database) -> list[Any]:
    with database.read() as session:
        return list(
            session.execute(
                select(deliveries).where(deliveries.c.channel == "sms").order_by(deliveries.c.id)
            )
        )


def run_until(work: Worker, database: Database, status: str, seconds: float = 5.0) -> Any:
    """Run the worker until the one text message has ``status`` (retries come due fast)."""
    deadline = time.monotonic() + seconds
    while True:
        work.run_once()
        (row,) = sms_deliveries(database)
        if row.status == status or time.monotonic() > deadline:
            return row
        time.sleep(0.02)


# ---------------------------------------------------------------- what goes out


def test_a_fulfilled_order_texts_its_customer_once_with_the_number_carrier_and_tracking(
    database: Database, twilio: FakeTwilio
) -> None:
    number = fulfilled_order(database)

    worker(database, sms_settings(database, twilio.url)).run_once()

    (sent,) = twilio.messages()
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (sent.user, sent.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert sent.content_type == "application/x-www-form-urlencoded"
    assert sent.one("To") == "+15550102030"
    assert sent.one("From") == SENDER
    assert sent.one("Body") == f"Hi Ann, your order {number} is on its way (DHL, tracking T-1)."
    (row,) = sms_deliveries(database)
    assert (row.status, row.attempts, row.response_code) == ("sent", 1, 201)
    assert row.recipient == "+15550102030"
    assert row.audience == "customer"
    assert row.message == {"to": "+15550102030", "body": sent.one("Body")}
    assert AUTH_TOKEN not in str(row.message)


def test_whatsapp_prefixes_both_ends(database: Database, twilio: FakeTwilio) -> None:
    fulfilled_order(database)
    settings = sms_settings(database, twilio.url, twilio_from="whatsapp:" + SENDER)

    worker(database, settings).run_once()

    (sent,) = twilio.messages()
    assert sent.one("To") == "whatsapp:+15550102030"
    assert sent.one("From") == "whatsapp:" + SENDER
    assert sms_deliveries(database)[0].status == "sent"


def test_an_order_shipped_without_carrier_or_tracking_reads_naturally(
    database: Database, twilio: FakeTwilio
) -> None:
    number = fulfilled_order(database, carrier=None, tracking=None)

    worker(database, sms_settings(database, twilio.url)).run_once()

    (sent,) = twilio.messages()
    assert sent.one("Body") == f"Hi Ann, good news: your order {number} is ready."


def test_a_customer_without_a_phone_gets_no_text(database: Database, twilio: FakeTwilio) -> None:
    fulfilled_order(database, phone=None)

    counts = worker(database, sms_settings(database, twilio.url)).run_once()

    assert counts["dispatched"] > 0
    assert sms_deliveries(database) == []
    assert twilio.messages() == []


def test_events_the_store_does_not_text_about_send_nothing(
    database: Database, twilio: FakeTwilio
) -> None:
    fulfilled_order(database)  # created, processed and fulfilled events
    settings = sms_settings(database, twilio.url, notify_customer_sms="order.delivered")

    counts = worker(database, settings).run_once()

    assert counts["dispatched"] == 3
    assert sms_deliveries(database) == []
    assert twilio.messages() == []


def test_a_name_that_looks_like_template_code_is_shown_as_typed(
    database: Database, twilio: FakeTwilio
) -> None:
    fulfilled_order(database, name="{{ 7 * 7 }} {% raw %}")

    worker(database, sms_settings(database, twilio.url)).run_once()

    (sent,) = twilio.messages()
    assert sent.one("Body").startswith("Hi {{ 7 * 7 }} {% raw %}, your order ")


# ---------------------------------------------------------------- when Twilio says no


def test_a_server_error_is_retried_and_the_message_sent_once(
    database: Database, twilio: FakeTwilio
) -> None:
    fulfilled_order(database)
    twilio.queue(500, twilio_error(500, 20500, "Internal Server Error"))
    work = worker(database, sms_settings(database, twilio.url))

    work.run_once()
    (first,) = sms_deliveries(database)
    assert (first.status, first.attempts, first.response_code) == ("pending", 1, 500)
    assert "Internal Server Error" in first.last_error

    row = run_until(work, database, "sent")

    assert (row.status, row.attempts, row.response_code) == ("sent", 2, 201)
    assert len(twilio.messages()) == 2  # one refused, one created


def test_too_many_requests_waits_as_long_as_twilio_asks(
    database: Database, twilio: FakeTwilio
) -> None:
    fulfilled_order(database)
    twilio.queue(429, twilio_error(429, 20429, "Too Many Requests"), Retry_After="120")
    before = datetime.now(UTC)

    worker(database, sms_settings(database, twilio.url)).run_once()

    (row,) = sms_deliveries(database)
    assert (row.status, row.response_code) == ("pending", 429)
    next_attempt = row.next_attempt.replace(tzinfo=row.next_attempt.tzinfo or UTC)
    assert (next_attempt - before).total_seconds() >= 119
    assert len(twilio.messages()) == 1


def test_an_invalid_number_fails_for_good_with_twilios_code_and_message(
    database: Database, twilio: FakeTwilio
) -> None:
    fulfilled_order(database)
    message = "The 'To' number +15550102030 is not a valid phone number."
    twilio.queue(400, twilio_error(400, 21211, message))
    work = worker(database, sms_settings(database, twilio.url))

    work.run_once()
    time.sleep(0.1)
    work.run_once()  # nothing is due again

    (row,) = sms_deliveries(database)
    assert (row.status, row.attempts, row.response_code) == ("failed", 1, 400)
    assert "21211" in row.last_error
    assert message in row.last_error
    assert len(twilio.messages()) == 1


def test_wrong_credentials_fail_for_good(database: Database, twilio: FakeTwilio) -> None:
    fulfilled_order(database)
    settings = sms_settings(database, twilio.url, twilio_auth_token="not-the-token")

    worker(database, settings).run_once()

    (row,) = sms_deliveries(database)
    assert (row.status, row.response_code) == ("failed", 401)
    assert "20003" in row.last_error
    assert "not-the-token" not in row.last_error


def test_twilio_unreachable_leaves_the_message_pending_with_the_error(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    fulfilled_order(database)
    caplog.set_level(logging.DEBUG)

    worker(database, sms_settings(database, closed_port_url())).run_once()

    (row,) = sms_deliveries(database)
    assert (row.status, row.attempts, row.response_code) == ("pending", 1, None)
    assert "could not be reached" in row.last_error
    assert AUTH_TOKEN not in caplog.text


def test_a_twilio_that_does_not_answer_in_time_is_tried_again_later(
    database: Database, twilio: FakeTwilio
) -> None:
    fulfilled_order(database)
    twilio.queue(201, {}, delay=2.0)
    work = worker(database, sms_settings(database, twilio.url), timeout=0.3)

    started = time.monotonic()
    work.run_once()

    assert time.monotonic() - started < 1.5
    (row,) = sms_deliveries(database)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Timeout" in row.last_error


def test_the_auth_token_is_never_logged(
    database: Database, twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    fulfilled_order(database)
    twilio.queue(500, twilio_error(500, 20500, "Internal Server Error"))
    caplog.set_level(logging.DEBUG)
    settings = sms_settings(database, twilio.url)
    channel = SmsChannel(settings)

    run_until(Worker(database, settings, [channel], concurrency=1), database, "sent")

    assert caplog.records
    assert AUTH_TOKEN not in caplog.text
    assert AUTH_TOKEN not in repr(channel)
