"""Without an SMTP server, emails are written as .eml files; a message sent again is the
same message (same Message-ID, same file); and what the SMTP URL may say."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.errors import Misconfigured
from ordermill.notify.channels import ChannelName, Failed, Message, Retry, Sent
from ordermill.notify.email import EmailChannel
from ordermill.notify.email_render import money
from ordermill.notify.email_smtp import SmtpTarget
from ordermill.services.tables import outbox_events
from tests import factories
from tests.notify.mail_helpers import DOMAIN, STORE_FROM, email_deliveries, place, run
from tests.notify.mail_helpers import store_settings as store
from tests.notify.smtp_server import smtp_server


def _message(delivery_id: int = 7, event_id: int = 3) -> Message:
    return Message(
        id=delivery_id,
        event_id=event_id,
        event_type="order.created",
        channel=ChannelName.EMAIL,
        recipient="ann@example.com",
        content={
            "to": "ann@example.com",
            "to_name": "Ann Lee",
            "subject": "Order 2026-00001 received",
            "text": "Thank you.",
            "html": "<p>Thank you.</p>",
            "audience": "customer",
        },
        attempts=0,
        created=datetime(2026, 12, 2, 9, 30, 5, tzinfo=UTC),
    )


def test_without_an_smtp_url_each_email_is_an_eml_file_in_the_mail_folder(
    database: Database, tmp_path: Path
) -> None:
    customer = factories.customer(database, name="Ann Lee", email="ann@example.com")
    order = place(database, customer, (factories.product(database, name="Nib"), 2))
    mail_dir = tmp_path / "outgoing" / "mail"  # created when needed

    counts = run(database, store(database, mail_dir=str(mail_dir)))

    assert counts["sent"] == 1
    [row] = email_deliveries(database)
    with database.read() as session:
        created = session.execute(
            select(outbox_events.c.created).where(outbox_events.c.id == row.event_id)
        ).scalar_one()
    [path] = mail_dir.iterdir()
    assert path.name == f"{created:%Y%m%dT%H%M%S}-{row.event_id}-{row.id}.eml"
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == f"<ordermill.{row.event_id}.{row.id}@{DOMAIN}>"
    assert parsed["To"] == "Ann Lee <ann@example.com>"
    assert order.number in parsed["Subject"]
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]


def test_sending_the_same_delivery_twice_leaves_one_file(tmp_path: Path) -> None:
    channel = EmailChannel(Settings(mail_from=STORE_FROM, mail_dir=str(tmp_path)))

    first = channel.send(_message())
    second = channel.send(_message())

    path = tmp_path / "20261202T093005-3-7.eml"
    assert first == second == Sent(detail=f"written to {path}")
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == f"<ordermill.3.7@{DOMAIN}>"


def test_a_mail_folder_that_cannot_be_written_fails_the_email_saying_why(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    channel = EmailChannel(Settings(mail_from=STORE_FROM, mail_dir=str(blocker / "mail")))

    outcome = channel.send(_message())

    assert isinstance(outcome, Failed)
    assert "could not write the email" in outcome.error


def test_a_resend_to_the_smtp_server_carries_the_same_message_id() -> None:
    with smtp_server() as server:
        channel = EmailChannel(Settings(mail_from=STORE_FROM, smtp_url=server.url))
        try:
            assert channel.send(_message()) == Sent(response_code=250)
            assert channel.send(_message()) == Sent(response_code=250)
            assert isinstance(channel.send(_message(delivery_id=8)), Sent)
        finally:
            channel.close()

        ids = [mail.message["Message-ID"] for mail in server.received]
        assert ids[0] == ids[1] == f"<ordermill.3.7@{DOMAIN}>"
        assert ids[2] == f"<ordermill.3.8@{DOMAIN}>"


def test_one_connection_carries_a_pass_of_messages_and_closing_ends_it() -> None:
    with smtp_server() as server:
        channel = EmailChannel(Settings(mail_from=STORE_FROM, smtp_url=server.url))
        try:
            for delivery_id in (1, 2, 3):
                assert channel.send(_message(delivery_id=delivery_id)) == Sent(250)
        finally:
            channel.close()
        assert len(server.received) == 3
        assert server.connections == 1


def test_a_subject_with_line_breaks_stays_one_header() -> None:
    channel = EmailChannel(Settings(mail_from=STORE_FROM))
    message = _message()
    message.content["subject"] = "Hello\r\nBcc: evil@example.com"

    mail = message_from_bytes(channel.build(message), policy=policy.default)

    assert mail["Subject"] == "Hello Bcc: evil@example.com"
    assert mail["Bcc"] is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", SmtpTarget("plain", "mail.example", 25)),
        ("smtp://mail.example:2525", SmtpTarget("plain", "mail.example", 2525)),
        (
            "smtp+starttls://me%40pens.example:p%3Ass%2Fw@mail.example",
            SmtpTarget("starttls", "mail.example", 587, "me@pens.example", "p:ss/w"),
        ),
        ("smtps://u:p@mail.example", SmtpTarget("tls", "mail.example", 465, "u", "p")),
    ],
)
def test_the_smtp_url_names_security_host_port_and_the_decoded_login(
    url: str, expected: SmtpTarget
) -> None:
    assert SmtpTarget.parse(url) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://host:99999", "mail"])
def test_an_smtp_url_that_names_no_server_is_a_setting_to_fix(url: str) -> None:
    with pytest.raises(ValidationError, match="smtp_url"):
        Settings(smtp_url=url)  # refused when the settings are read, before anything starts
    with pytest.raises(Misconfigured, match="ORDERMILL_SMTP_URL"):
        SmtpTarget.parse(url)


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (12_50, "EUR", "€12.50"),
        (5, "USD", "$0.05"),
        (-1_00, "GBP", "-£1.00"),
        (12_50, "CHF", "12.50 CHF"),
    ],
)
def test_money_is_shown_in_the_orders_currency(minor: int, currency: str, shown: str) -> None:
    assert money(minor, currency) == shown


def _mail() -> bytes:
    return EmailChannel(Settings(mail_from=STORE_FROM)).build(_message())


def test_a_server_that_never_answers_is_retried_after_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # takes the connection, never greets
        port = silent.getsockname()[1]
        target = SmtpTarget("plain", "127.0.0.1", port, timeout=0.3)

        outcome = target.send(_mail(), STORE_FROM, "ann@example.com")

    assert isinstance(outcome, Retry)
    assert outcome.error.startswith(f"could not connect to 127.0.0.1:{port}")
    assert "timed out" in outcome.error


def test_a_server_that_hangs_up_is_retried() -> None:
    with socket.socket() as rude:
        rude.bind(("127.0.0.1", 0))
        rude.listen()
        port = rude.getsockname()[1]

        def hang_up() -> None:
            connection, _ = rude.accept()
            connection.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        outcome = SmtpTarget("plain", "127.0.0.1", port, timeout=2).send(
            _mail(), STORE_FROM, "ann@example.com"
        )
        thread.join(timeout=2)

    assert isinstance(outcome, Retry)
    assert "SMTPServerDisconnected" in outcome.error
