"""Rendering emails: Jinja2 templates, one set per event type and audience.

Each email is three templates under ``templates/email/<audience>/``:
``<event type>.subject.txt``, ``<event type>.txt`` and ``<event type>.html``, the
bodies extending ``base.txt`` and ``base.html``. Staff emails about an event without
templates of its own use ``staff/default.*``. A store's ``ORDERMILL_TEMPLATES_DIR`` is
searched first, so a store overrides one file and keeps the rest.

HTML is autoescaped (names, notes and addresses are user text); text bodies and
subjects are not, and user text is only ever a value, never a template. A missing
value is an error (``StrictUndefined``): the dispatcher then records a failed
delivery saying why, instead of sending half a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined, select_autoescape

from ordermill.config import Settings
from ordermill.display import money, one_line, store_name
from ordermill.display import when as local_when
from ordermill.domain.events import EventType
from ordermill.notify import templates
from ordermill.notify.channels import Audience, EventContext

__all__ = ["Rendered", "Renderer", "mail_domain", "money", "one_line", "store_name"]


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def mail_domain(settings: Settings) -> str:
    """The domain of ``mail_from`` (Message-IDs are made under it)."""
    _name, address = parseaddr(settings.mail_from)
    return address.rpartition("@")[2] or "localhost"


class Renderer:
    """The email templates of a store, ready to render events with."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.env = Environment(
            loader=templates.loader(settings, "email"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["money"] = money
        self.env.filters["when"] = self.when
        self.env.globals.update(
            store=store_name(settings), public_url=settings.public_url.rstrip("/")
        )

    def when(self, moment: datetime | str | None) -> str:
        """A moment in the store's time zone: "2 December 2026, 15:32 CET"."""
        return local_when(moment, self.zone)

    def render(self, audience: Audience, event: EventContext, to_name: str) -> Rendered:
        """The subject and bodies of ``event``'s email to ``audience``."""
        names = [f"{audience.value}/{event.type}"]
        if audience is Audience.STAFF:
            names.append("staff/default")
        context = self.context(event, to_name)
        parts = []
        for suffix in (".subject.txt", ".txt", ".html"):
            template = self.env.select_template([name + suffix for name in names])
            parts.append(template.render(context))
        subject, text, html = parts
        return Rendered(one_line(subject), text, html)

    def context(self, event: EventContext, to_name: str) -> dict[str, Any]:
        """What templates see: the event, its order, person and product, and the facts
        each event shows, worked out here rather than in the templates."""
        order = event.order
        data = event.data
        context: dict[str, Any] = {
            "event": event,
            "data": data,
            "order": order,
            "person": event.person,
            "product": event.product,
            "name": to_name,
            "currency": order.currency if order else self.settings.currency,
        }
        if order is not None:
            lines = {line.id: line for line in order.lines}
            # What the event says happened (the order may have moved on by dispatch).
            context["adjusted"] = [
                (lines[item["line_id"]], item["ordered"], item["processed"])
                for item in data.get("adjustments", ())
                if item.get("line_id") in lines
            ]
            context["returned"] = [
                (lines[item["line_id"]], item["quantity"])
                for item in data.get("lines", ())
                if item.get("line_id") in lines
            ]
            context["line_count"] = len(order.lines)
        if event.type == EventType.PASSWORD_RESET:
            token = quote(str(data["token"]), safe="")
            base = self.settings.public_url.rstrip("/")
            context["reset_url"] = f"{base}/reset-password?token={token}"
            context["expires"] = datetime.fromisoformat(data["expires"])
        return context
