"""A real SMTP server on loopback for the email tests (aiosmtpd in a thread of its own).

It keeps every message it accepts, parsed, and can be told to answer the next MAIL,
RCPT or DATA commands with a reply of the test's choosing (``451 …``, ``550 …``)
first. It offers ``PIPELINING``, as mail servers do.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on (yet) on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.raw, policy=policy.default))

    def part(self, subtype: str) -> str:
        """The text of the ``text/<subtype>`` part."""
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        assert body.get_content_type() == f"text/{subtype}"
        return str(cast(EmailMessage, body).get_content())


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    mail_replies: deque[str] = field(default_factory=deque)  # answered before accepting
    rcpt_replies: deque[str] = field(default_factory=deque)  # answered before accepting
    data_replies: deque[str] = field(default_factory=deque)
    greetings: int = 0  # EHLOs: one per connection a client opens

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        if self.mail_replies:
            return self.mail_replies.popleft()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.data_replies:
            return self.data_replies.popleft()
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 Message accepted"


class SmtpServer:
    """``with SmtpServer(port) as server:`` listens on 127.0.0.1:port until the block ends."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = Handler()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=5.0
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def connections(self) -> int:
        return self.handler.greetings

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[SmtpServer]:
    with SmtpServer(port) as server:
        yield server
