"""Handing an email to an SMTP server, and what its answer means for the delivery.

``ORDERMILL_SMTP_URL`` names the server: ``smtp://USER:PASSWORD@HOST:PORT`` (plain,
port 25 by default), ``smtp+starttls://…`` (STARTTLS, 587) or ``smtps://…`` (TLS,
465); the user and password are URL-decoded. A 2xx is ``Sent``; a refused or lost
connection, a timeout or a 4xx reply is ``Retry`` with what the server said; a 5xx
reply is ``Failed`` (the server will not take this message, ever).

Where the server offers ``PIPELINING`` (RFC 2920; every common mail server does),
``MAIL``, ``RCPT`` and ``DATA`` go in one write and their replies are read together:
two round trips a message instead of four.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from ordermill.errors import Misconfigured
from ordermill.notify.channels import Failed, Outcome, Retry, Sent

TIMEOUT = 10.0  # seconds, for connecting and for each reply

SCHEMES = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    security: str  # plain, starttls or tls
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    timeout: float = TIMEOUT

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """The server ``url`` names; a URL that names none is a setting to fix."""
        wrong = Misconfigured(
            "ORDERMILL_SMTP_URL must be smtp://USER:PASSWORD@HOST:PORT,"
            " smtp+starttls://… or smtps://…"
        )
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise wrong from None
        scheme = SCHEMES.get(parts.scheme.lower())
        if scheme is None or not parts.hostname:
            raise wrong
        security, default_port = scheme
        return cls(
            security=security,
            host=parts.hostname,
            port=port or default_port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                server.starttls(context=ssl.create_default_context())
        except BaseException:
            server.close()
            raise
        return server

    def open(self) -> smtplib.SMTP:
        """A connection ready for messages: secured as asked, logged in if asked."""
        server = self.connect()
        try:
            if self.user is not None:
                server.login(self.user, self.password or "")
        except BaseException:
            _quit(server)
            raise
        return server

    def send(self, mail: bytes, mail_from: str, recipient: str) -> Outcome:
        """Hand ``mail`` over on a connection of its own; never raises for the server's sake."""
        sender = SmtpSender(self)
        try:
            return sender.send(mail, mail_from, recipient)
        finally:
            sender.close()


@lru_cache(maxsize=16)
def envelope_sender(mail_from: str) -> str:
    """The address in the store's ``From`` (``Name <address>``), for ``MAIL FROM``."""
    return parseaddr(mail_from)[1]


class SmtpSender:
    """Hands emails to one server, each sending thread on a connection it keeps until
    ``close`` (a worker's pass): one connection, greeting and login for many messages.

    A kept connection the server has since dropped is opened again once; after a
    refused message the connection goes on after ``RSET``.
    """

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[smtplib.SMTP] = []

    def send(self, mail: bytes, mail_from: str, recipient: str) -> Outcome:
        sender = envelope_sender(mail_from)
        where = self.target.where
        server: smtplib.SMTP | None = getattr(self._local, "server", None)
        for fresh in (server is None, True):
            if server is None:
                try:
                    server = self._connect()
                except (OSError, smtplib.SMTPException) as exc:
                    return _outcome(exc, f"could not connect to {where}", self.target.timeout)
            try:
                send_mail(server, sender, recipient, mail)
                return Sent(response_code=250)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop(server)
                server = None
                if fresh:
                    return _outcome(exc, where, self.target.timeout)
                # a kept connection the server closed meanwhile: once more on a new one
            except (OSError, smtplib.SMTPException) as exc:
                self._reset(server)
                return _outcome(exc, where, self.target.timeout)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Say goodbye on every kept connection."""
        with self._lock:
            servers, self._open = self._open, []
            self._local = threading.local()
        for server in servers:
            _quit(server)

    def _connect(self) -> smtplib.SMTP:
        server = self.target.open()
        with self._lock:
            self._open.append(server)
        self._local.server = server
        return server

    def _drop(self, server: smtplib.SMTP) -> None:
        with self._lock:
            if server in self._open:
                self._open.remove(server)
        self._local.server = None
        server.close()

    def _reset(self, server: smtplib.SMTP) -> None:
        """After a refusal: the connection goes on if the server takes ``RSET``."""
        try:
            server.rset()
        except (OSError, smtplib.SMTPException):
            self._drop(server)


def send_mail(server: smtplib.SMTP, sender: str, recipient: str, mail: bytes) -> None:
    """``server.sendmail(sender, [recipient], mail)``, pipelined where the server offers
    it. A refusal raises what ``sendmail`` raises for it, the connection left for
    ``RSET``; a ``421`` (the server closing the channel) closes it."""
    server.ehlo_or_helo_if_needed()
    if not server.has_extn("pipelining"):
        server.sendmail(sender, [recipient], mail)
        return
    size = f" SIZE={len(mail)}" if server.has_extn("size") else ""
    server.send(
        f"MAIL FROM:{smtplib.quoteaddr(sender)}{size}\r\n"
        f"RCPT TO:{smtplib.quoteaddr(recipient)}\r\nDATA\r\n"
    )
    steps: tuple[tuple[tuple[int, ...], Callable[[int, bytes], smtplib.SMTPException]], ...] = (
        ((250,), lambda code, reply: smtplib.SMTPSenderRefused(code, reply, sender)),
        ((250, 251), lambda code, reply: smtplib.SMTPRecipientsRefused({recipient: (code, reply)})),
        ((354,), smtplib.SMTPDataError),
    )  # fmt: skip
    refusal: smtplib.SMTPException | None = None
    for accepted, refused in steps:
        code, reply = server.getreply()
        if code == 421:
            server.close()  # no more replies come
            raise refused(code, reply)
        if code not in accepted:
            refusal = refusal or refused(code, reply)
        elif code == 354 and refusal is not None:
            # A message opened with no one to take it (RFC 2920, 3.1): ended empty, so
            # that the connection can go on.
            server.send(b".\r\n")
            server.getreply()
    if refusal is not None:
        raise refusal
    body = _LEADING_DOT.sub(b"..", mail)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    server.send(body + b".\r\n")
    code, reply = server.getreply()
    if code == 421:
        server.close()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


_LEADING_DOT = re.compile(rb"(?m)^\.")  # doubled in the message (RFC 5321, 4.5.2)


def _quit(server: smtplib.SMTP) -> None:
    try:
        server.quit()
    except (OSError, smtplib.SMTPException):
        server.close()


def _reply(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(said.split())}"


def _by_code(code: int, reply: str) -> Outcome:
    if 500 <= code <= 599:
        return Failed(reply, response_code=code)
    return Retry(reply, response_code=code if code > 0 else None)


def _outcome(exc: OSError | smtplib.SMTPException, where: str, timeout: float) -> Outcome:
    """What a failure means: the server's 5xx is final, everything else may pass."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return _by_code(code, _reply(code, text))
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, _reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Failed(f"{where}: {exc}")  # STARTTLS or AUTH the server doesn't offer
    if isinstance(exc, TimeoutError):
        return Retry(f"{where}: no answer within {timeout:g} s")
    return Retry(f"{where}: {type(exc).__name__}: {exc}")
