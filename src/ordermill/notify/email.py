"""The email channel: who gets an email about each event, and sending it.

``drafts`` renders each email once, at dispatch (``email_render``): the customer's for
the events in ``ORDERMILL_NOTIFY_CUSTOMER_EMAIL``, one per staff address for those in
``ORDERMILL_NOTIFY_STAFF_EMAIL``, and a password reset link always to its owner.

``send`` builds a multipart/alternative message (text and HTML) and hands it to the
SMTP server of ``ORDERMILL_SMTP_URL``, or, without one, writes it as an ``.eml`` file
into ``ORDERMILL_MAIL_DIR``. Its ``Message-ID`` is made of the event's and the
delivery's ids, so a message sent twice is recognisable as one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ordermill.config import Settings
from ordermill.domain.events import ORDER_EVENTS, EventType
from ordermill.notify.channels import (
    Audience,
    ChannelName,
    Draft,
    EventContext,
    Failed,
    Message,
    Outcome,
    Sent,
)
from ordermill.notify.email_mime import ascii_address, wire_form
from ordermill.notify.email_render import Renderer, mail_domain, one_line
from ordermill.notify.email_smtp import SmtpSender, SmtpTarget


class EmailChannel:
    name = ChannelName.EMAIL

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.renderer = Renderer(settings)
        self.smtp = SmtpSender(SmtpTarget.parse(settings.smtp_url)) if settings.smtp_url else None
        self.domain = mail_domain(settings)

    # ------------------------------------------------------------ who, and what

    def drafts(self, event: EventContext) -> list[Draft]:
        """The customer's email and the staff's, as the settings ask for this event."""
        if event.type == EventType.WEBHOOK_PING:
            return []
        person = event.person
        if event.type == EventType.PASSWORD_RESET:
            # The link goes to its owner whatever the settings say, and never to staff.
            if person is None or not person.email:
                return []
            return [self._draft(event, Audience.CUSTOMER, person.email, person.name)]
        if event.type in ORDER_EVENTS and event.order is None:
            return []  # the order was deleted since: nothing left to tell
        found: list[Draft] = []
        if event.type in self.settings.notify_customer_email and person and person.email:
            found.append(self._draft(event, Audience.CUSTOMER, person.email, person.name))
        if event.type in self.settings.notify_staff_email:
            addresses = list(dict.fromkeys(a.strip() for a in self.settings.staff_emails))
            if addresses:
                content = self._content(event, Audience.STAFF, addresses[0], "")
                found.extend(
                    Draft(self.name, Audience.STAFF, address, {**content, "to": address})
                    for address in addresses
                    if address
                )
        return found

    def _draft(self, event: EventContext, audience: Audience, to: str, name: str) -> Draft:
        return Draft(self.name, audience, to, self._content(event, audience, to, name))

    def _content(
        self, event: EventContext, audience: Audience, to: str, name: str
    ) -> dict[str, Any]:
        rendered = self.renderer.render(audience, event, one_line(name))
        return {
            "to": to,
            "to_name": one_line(name),
            "subject": rendered.subject,
            "text": rendered.text,
            "html": rendered.html,
            "audience": audience.value,
        }

    # ------------------------------------------------------------ sending

    def message_id(self, message: Message) -> str:
        """The same for every attempt at one delivery."""
        return f"<ordermill.{message.event_id}.{message.id}@{self.domain}>"

    def build(self, message: Message) -> bytes:
        """The RFC 5322 message as sent: text and HTML alternatives, headers safe from
        user text (``email_mime``)."""
        content = message.content
        return wire_form(
            mail_from=self.settings.mail_from,
            to_name=one_line(str(content.get("to_name") or "")),
            to=message.recipient,
            subject=one_line(str(content["subject"])),
            message_id=self.message_id(message),
            text=str(content["text"]),
            html=str(content["html"]),
        )

    def send(self, message: Message) -> Outcome:
        try:
            mail = self.build(message)
        except (KeyError, ValueError, TypeError) as exc:
            return Failed(f"could not build the message: {type(exc).__name__}: {exc}")
        if self.smtp is not None:
            return self.smtp.send(mail, self.settings.mail_from, ascii_address(message.recipient))
        return self.write_file(message, mail)

    def close(self) -> None:
        """End the pass: close the SMTP connections kept for it."""
        if self.smtp is not None:
            self.smtp.close()

    def file_path(self, message: Message) -> Path:
        created = message.created
        name = f"{created:%Y%m%dT%H%M%S}-{message.event_id}-{message.id}.eml"
        return Path(self.settings.mail_dir).resolve() / name

    def write_file(self, message: Message, mail: bytes) -> Outcome:
        """The message as an ``.eml`` file, written whole or not at all (a resend of the
        same delivery replaces the same file)."""
        path = self.file_path(message)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".eml.tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(mail)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            return Failed(f"could not write the email to {path.parent}: {exc}")
        return Sent(detail=f"written to {path}")
