"""Webhooks: events POSTed to the endpoints that subscribe to them, signed as
Standard Webhooks describes (https://www.standardwebhooks.com).

The body is rendered once, at dispatch, and sent byte for byte on every attempt and
redelivery, with the same ``webhook-id`` (``msg_<event id>``) so receivers can tell a
message they already have. Each attempt is signed anew (``webhook-timestamp`` is its
own time) with every secret the endpoint honours: the current one, and for a day
after a rotation the previous one too.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic_core import to_jsonable_python
from standardwebhooks.webhooks import Webhook
from urllib3 import BaseHTTPResponse, PoolManager
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as NoAnswer

from ordermill import __version__
from ordermill.config import Settings
from ordermill.domain.events import ORDER_EVENTS, EventType
from ordermill.notify import addresses
from ordermill.notify.addresses import RefusedAddress
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
from ordermill.web.present import detail_public, order_document  # as the API shows them

log = logging.getLogger("ordermill.notify")

USER_AGENT = f"ordermill/{__version__}"
RETRIED_STATUSES = frozenset({408, 429})


def message_id(event_id: int) -> str:
    """The ``webhook-id`` of an event's message: the same on every attempt."""
    return f"msg_{event_id}"


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC, with a ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_data(event: EventContext) -> dict[str, Any]:
    """What the payload's ``data`` says: the order as the API shows it, the product
    running low, or the endpoint pinged."""
    if event.type in ORDER_EVENTS:
        order = to_jsonable_python(order_document(event.order)) if event.order else None
        return {"order": order, "event": detail_public(event.data)}
    if event.type == EventType.PRODUCT_LOW_STOCK:
        product = event.product
        return {
            "product": {
                "id": product.id,
                "name": product.name,
                "sku": product.sku,
                "stock": product.stock,
            }
            if product
            else {"id": None, "stock": event.data.get("stock")},
            "threshold": event.data.get("threshold"),
        }
    if event.type == EventType.WEBHOOK_PING:
        return {"webhook_id": event.data.get("webhook_id")}
    return dict(event.data)


def body_of(event: EventContext) -> str:
    """The JSON text every endpoint of this event receives."""
    payload = {"type": event.type, "timestamp": timestamp(event.created), "data": event_data(event)}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def signatures(secrets: tuple[str, ...], msg_id: str, moment: datetime, body: str) -> str:
    """``v1,<base64>`` for each secret, space-separated."""
    return " ".join(Webhook(secret).sign(msg_id, moment, body) for secret in secrets)


def outcome_of(response: BaseHTTPResponse, now: datetime) -> Outcome:
    code = response.status
    if 200 <= code < 300:
        return Sent(code)
    error = f"HTTP {code} {response.reason or ''}".strip()
    if 300 <= code < 400:
        where = response.headers.get("location", "")
        return Failed(f"{error}: redirected to {where[:200]} (redirects are not followed)", code)
    if code in RETRIED_STATUSES or code >= 500:
        return Retry(error, code, retry_after(response.headers.get("retry-after"), now))
    return Failed(error, code)


class WebhookChannel:
    name = ChannelName.WEBHOOK

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Each sending thread keeps its connections to receivers for a pass of the
        # worker; ``close`` ends them. (urllib3 itself: requests' sessions cost about
        # 0.25 ms more a message, for cookies, proxies and hooks webhooks don't use.)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pools: list[PoolManager] = []

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, []
            self._local = threading.local()
        for pool in pools:
            pool.clear()

    def _http(self) -> PoolManager:
        http: PoolManager | None = getattr(self._local, "http", None)
        if http is None:
            http = addresses.pool(allow_private=self.settings.webhook_allow_private)
            with self._lock:
                self._pools.append(http)
            self._local.http = http
        return http

    def drafts(self, event: EventContext) -> list[Draft]:
        if not event.endpoints:
            return []
        content = {"body": body_of(event)}
        return [
            Draft(self.name, Audience.ENDPOINT, endpoint.url, content, webhook_id=endpoint.id)
            for endpoint in event.endpoints
        ]

    def send(self, message: Message) -> Outcome:
        endpoint = message.endpoint
        if endpoint is None:
            return Failed("the webhook no longer exists")
        if not endpoint.secrets:
            return Failed("the webhook has no secret to sign with")
        allow_private = self.settings.webhook_allow_private
        url = endpoint.url  # the endpoint's address now: an admin may have corrected it
        try:
            addresses.check(url, allow_private=allow_private)
        except RefusedAddress as exc:
            return Failed(f"not sent: {exc}")
        body = str(message.content.get("body", ""))
        msg_id = message_id(message.event_id)
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures(endpoint.secrets, msg_id, now, body),
        }
        http = self._http()
        try:
            response = http.urlopen(
                "POST",
                url,
                body=body.encode(),
                headers=headers,
                timeout=self.settings.webhook_timeout_seconds,
                redirect=False,
                preload_content=False,  # the status and headers are all we read
            )
            _finish(response)
        except RefusedAddress as exc:
            return Failed(f"not sent: {exc}")
        except (NewConnectionError, ProtocolError, SSLError) as exc:
            return Retry(f"could not connect: {_first_line(exc)}")
        except NoAnswer:  # connecting or reading (a refused connection is caught above)
            return Retry(f"no answer within {self.settings.webhook_timeout_seconds:g} s")
        except (HTTPError, ValueError) as exc:
            return Failed(f"could not send: {_first_line(exc)}")
        return outcome_of(response, datetime.now(UTC))


def _finish(response: BaseHTTPResponse) -> None:
    """Keep the connection for the sending thread's next message when the answer has no
    body (a 204, or ``Content-Length: 0``); otherwise close it unread, so that no
    receiver can make the worker read, or wait for, a body."""
    if response.status == 204 or response.headers.get("content-length") == "0":
        response.read(decode_content=False)  # nothing to read: the answer is complete
        response.release_conn()
    else:
        response.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
