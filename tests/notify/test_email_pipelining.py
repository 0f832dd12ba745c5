"""Where the mail server offers PIPELINING, a message's MAIL, RCPT and DATA go in one
write (two round trips a message, not four), and every refusal means what it means
when the commands go one by one."""

from __future__ import annotations

import pytest

from ordermill.notify.channels import Failed, Outcome, Retry, Sent
from ordermill.notify.email_smtp import SmtpSender, SmtpTarget
from tests.notify.mail_helpers import STORE_FROM
from tests.notify.scripted_smtp import ACCEPT, scripted_smtp
from tests.notify.smtp_server import smtp_server

MAIL = b"From: shop@pens.example\r\nSubject: Hello\r\n\r\nThank you.\r\n"
TO = "ann@example.com"


def _sender(port: int, timeout: float = 2.0) -> SmtpSender:
    return SmtpSender(SmtpTarget("plain", "127.0.0.1", port, timeout=timeout))


def _first_then_sent(port: int) -> Outcome:
    """What sending one message got, after checking that a second one then went."""
    sender = _sender(port)
    try:
        outcome = sender.send(MAIL, STORE_FROM, TO)
        assert sender.send(MAIL, STORE_FROM, TO) == Sent(250)
    finally:
        sender.close()
    return outcome


def test_a_server_offering_pipelining_gets_a_whole_transaction_before_answering() -> None:
    with scripted_smtp() as server:  # answers nothing until DATA has come
        sender = _sender(server.port, timeout=1.0)
        try:
            assert sender.send(MAIL, STORE_FROM, TO) == Sent(250)
            assert sender.send(MAIL, STORE_FROM, TO) == Sent(250)
        finally:
            sender.close()

    assert server.groups == [["MAIL", "RCPT", "DATA"]] * 2 + [["QUIT"]]
    assert server.messages == [MAIL + b".\r\n"] * 2
    assert server.connections == 1


def test_a_server_without_pipelining_gets_one_command_at_a_time() -> None:
    with scripted_smtp(pipelining=False) as server:
        sender = _sender(server.port)
        try:
            assert sender.send(MAIL, STORE_FROM, TO) == Sent(250)
        finally:
            sender.close()

    assert server.groups == [["MAIL"], ["RCPT"], ["DATA"], ["QUIT"]]
    assert server.messages == [MAIL + b".\r\n"]


def test_a_line_starting_with_a_dot_arrives_as_written() -> None:
    mail = b"Subject: Dots\r\n\r\n.hidden\r\n..two\r\nend"
    with smtp_server() as server:
        assert SmtpTarget.parse(server.url).send(mail, STORE_FROM, TO) == Sent(250)

    [received] = server.received
    assert received.raw.replace(b"\r\n", b"\n") == b"Subject: Dots\n\n.hidden\n..two\nend\n"


@pytest.mark.parametrize(
    ("command", "reply", "outcome"),
    [
        ("mail", "451 4.3.0 Try again later", Retry("451 4.3.0 Try again later", 451)),
        ("rcpt", "550 5.1.1 No such user", Failed("550 5.1.1 No such user", 550)),
    ],
)
def test_a_refused_command_decides_the_outcome_and_the_connection_goes_on(
    command: str, reply: str, outcome: Outcome
) -> None:
    with smtp_server() as server:
        getattr(server.handler, f"{command}_replies").append(reply)

        assert _first_then_sent(server.port) == outcome

        assert len(server.received) == 1
        assert server.connections == 1


def test_a_message_opened_after_a_refused_recipient_is_ended_empty() -> None:
    refused = ("250 sender ok", "550 5.1.1 No such user", "354 go ahead")
    with scripted_smtp(refused, ACCEPT) as server:
        outcome = _first_then_sent(server.port)

    assert outcome == Failed("550 5.1.1 No such user", response_code=550)
    assert server.messages == [b".\r\n", MAIL + b".\r\n"]  # nothing of the refused one
    assert server.groups[1] == ["RSET"]
    assert server.connections == 1


def test_a_421_closes_the_connection_and_the_next_message_opens_another() -> None:
    closing = ("421 4.3.2 Shutting down", "", "")
    with scripted_smtp(closing) as server:
        outcome = _first_then_sent(server.port)

    assert outcome == Retry("421 4.3.2 Shutting down", response_code=421)
    assert server.messages == [MAIL + b".\r\n"]
    assert server.connections == 2
