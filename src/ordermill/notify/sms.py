"""Text messages (SMS or WhatsApp) to customers, through Twilio's Messages API.

A customer who gave a phone number hears of the events in
``ORDERMILL_NOTIFY_CUSTOMER_SMS`` (by default: their order is fulfilled) in a short
text rendered from ``templates/sms/<event type>.txt``; a store's own file of that
name in ``ORDERMILL_TEMPLATES_DIR`` is used instead. With a ``whatsapp:`` sender
(``ORDERMILL_TWILIO_FROM=whatsapp:+15551234567``) the message goes over WhatsApp,
which wants both ends prefixed.

Sending uses the official ``twilio`` library against ``ORDERMILL_TWILIO_API_URL``.
Twilio busy or failing (429, 5xx), a timeout or no connection: try again later,
after the ``Retry-After`` Twilio asked for. Any other refusal (a 4xx, say 21211, an
invalid 'To' number) will not pass by trying again: failed, with Twilio's code and
message. The auth token is never logged or stored with a message.
"""

from __future__ import annotations

import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from ordermill.config import Settings
from ordermill.domain.money import format_amount
from ordermill.notify import templates
from ordermill.notify.channels import (
    Audience,
    ChannelName,
    Draft,
    EventContext,
    Failed,
    Message,
    Outcome,
    Retry,
    Sent,
)

log = logging.getLogger("ordermill.notify.sms")

WHATSAPP = "whatsapp:"
TIMEOUT_SECONDS = 10.0  # connecting to Twilio, and waiting for its answer
MAX_BODY = 1600  # the longest body Twilio's Messages API takes


def environment(settings: Settings) -> SandboxedEnvironment:
    """The text message templates: the store's own (``templates_dir/sms``) before the
    built-in (``notify.templates``).

    Plain text, so nothing is escaped; what a customer typed (their name) is a value
    the template shows, never template code. A value the template names but the
    event lacks fails the rendering (the dispatcher records that as a failed delivery).
    """
    return SandboxedEnvironment(
        loader=templates.loader(settings, "sms"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_name(event_type: str) -> str:
    return f"{event_type}.txt"


class SmsChannel:
    """``notify.channels.Channel`` for text messages through Twilio."""

    name = ChannelName.SMS

    def __init__(self, settings: Settings, *, timeout: float = TIMEOUT_SECONDS) -> None:
        sid, token, sender = (
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
        )
        if not (sid and token and sender):
            raise ValueError("text messages need the Twilio account SID, auth token and sender")
        self.account_sid = sid
        self._auth_token = token
        self.sender = sender
        self.api_url = settings.twilio_api_url
        self.events = frozenset(settings.notify_customer_sms)
        self.timeout = timeout
        self.env = environment(settings)

    @staticmethod
    def configured(settings: Settings) -> bool:
        """Whether the settings name a Twilio account, its token and a sender."""
        return bool(
            settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from
        )

    def __repr__(self) -> str:  # never the token
        return f"SmsChannel(account={self.account_sid!r}, from={self.sender!r})"

    # ------------------------------------------------------------ drafts

    def drafts(self, event: EventContext) -> list[Draft]:
        """One text to the customer's phone, for the events the store texts about."""
        if event.type not in self.events or event.person is None or not event.person.phone:
            return []
        to = self.address(event.person.phone)
        body = self.render(event)
        return [Draft(self.name, Audience.CUSTOMER, to, {"to": to, "body": body})]

    def address(self, phone: str) -> str:
        """Where to send: the number, prefixed like the sender for WhatsApp."""
        if self.sender.startswith(WHATSAPP) and not phone.startswith(WHATSAPP):
            return WHATSAPP + phone
        return phone

    def render(self, event: EventContext) -> str:
        template = self.env.get_template(template_name(event.type))
        body = template.render(**values(event)).strip()
        return body if len(body) <= MAX_BODY else body[: MAX_BODY - 1] + "…"

    # ------------------------------------------------------------ sending

    def send(self, message: Message) -> Outcome:
        http = _RecordingHttpClient(timeout=self.timeout)
        client = Client(self.account_sid, self._auth_token, http_client=http)
        # The settings say where Twilio is, not TWILIO_EDGE or TWILIO_REGION.
        client.edge = client.region = None
        client.api.base_url = self.api_url
        try:
            created = client.messages.create(
                to=message.content["to"], from_=self.sender, body=message.content["body"]
            )
        except TwilioRestException as exc:
            return _refused(exc.status, exc.code, exc.msg, http.last)
        except TwilioServiceException as exc:
            return _refused(exc.status, exc.code, exc.detail or exc.title, http.last)
        except requests.RequestException as exc:
            return Retry(f"Twilio could not be reached: {type(exc).__name__}")
        except ValueError as exc:  # an answer that isn't JSON
            if http.last is not None and 200 <= http.last.status_code < 300:
                return Sent(http.last.status_code, "Twilio accepted the message")
            return Retry(f"Twilio answered something unexpected: {exc}")
        finally:
            if http.session is not None:
                http.session.close()
        code = http.last.status_code if http.last is not None else None
        return Sent(code, f"Twilio message {created.sid} ({created.status})")


def values(event: EventContext) -> dict[str, Any]:
    """What a text message template may show."""
    order = event.order
    data = event.data

    def money(minor: Any) -> str:
        currency = order.currency if order is not None else ""
        return f"{format_amount(int(minor or 0))} {currency}".strip()

    return {
        "name": event.person.name if event.person else "",
        "event": event.type,
        "number": order.ref if order else data.get("number", ""),
        "total": money(order.total) if order else "",
        "due": money(order.balance_due) if order else "",
        "refunded": money(data["refunded"]) if data.get("refunded") else "",
        "carrier": data.get("carrier") or (order.carrier if order else None) or "",
        "tracking": data.get("tracking_number") or (order.tracking_number if order else None) or "",
        "reason": data.get("reason") or "",
        "data": data,
    }


def _refused(status: int, code: Any, text: str, last: Any) -> Outcome:
    """Twilio said no: later for 429 and 5xx (after its Retry-After), for good otherwise."""
    error = f"Twilio {code}: {text}" if code and code != status else f"Twilio: {text}"
    if status == 429 or status >= 500:
        after = _retry_after(last.headers if last is not None else None)
        return Retry(error, status, after)
    return Failed(error, status)


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header: a number, or an HTTP date."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


class _RecordingHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's HTTP client, keeping the last answer: its exceptions drop the headers,
    and ``Retry-After`` is one of them."""

    last: Any = None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.last = None
        self.last = super().request(*args, **kwargs)
        return self.last
