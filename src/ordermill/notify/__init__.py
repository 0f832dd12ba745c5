"""Notifications: the channels (email, text messages, webhooks), the dispatcher that
turns outbox events into deliveries, and the worker that sends them.

The services write events to the outbox in the transaction of each change
(``ordermill.services.outbox``); everything here runs after the commit, in the
worker (``ordermill worker``, or the server's own with ``ORDERMILL_WORKER_IN_SERVER``).
"""

from __future__ import annotations

from ordermill.config import Settings
from ordermill.notify.channels import Channel


def channels_for(settings: Settings) -> list[Channel]:
    """The channels the settings configure: email always (files without an SMTP URL),
    text messages with Twilio's settings, webhooks always (registered through the API)."""
    from ordermill.notify.email import EmailChannel
    from ordermill.notify.sms import SmsChannel
    from ordermill.notify.webhooks import WebhookChannel

    found: list[Channel] = [EmailChannel(settings)]
    if SmsChannel.configured(settings):
        found.append(SmsChannel(settings))
    found.append(WebhookChannel(settings))
    return found
