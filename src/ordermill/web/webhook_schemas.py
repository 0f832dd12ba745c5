"""Bodies of the webhook routes: endpoints, their secrets and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ordermill.domain.events import SUBSCRIBABLE
from ordermill.web.schemas import RequestModel

WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="http or https, without credentials; not a private or loopback address",
        json_schema_extra={"format": "uri"},
        examples=["https://example.com/hooks/ordermill"],
    ),
]
EventTypes = Annotated[
    list[str],
    Field(
        max_length=len(SUBSCRIBABLE),
        description="Event types to receive; empty: every one. Known: "
        + ", ".join(sorted(SUBSCRIBABLE)),
    ),
]
Description = Annotated[str, Field(max_length=500)]


class WebhookCreate(RequestModel):
    url: WebhookUrl
    events: EventTypes = Field(default_factory=list)
    description: Description = ""


class WebhookUpdate(RequestModel):
    url: WebhookUrl | None = None
    events: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = Field(
        default=None, description="true re-enables (clearing why it was disabled); false disables"
    )


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    description: str
    events: list[str] = Field(description="Subscribed event types; empty: every one")
    enabled: bool
    disabled_reason: str | None = Field(description="Why it was disabled, while it is")
    failing_since: datetime | None = Field(description="Failing without a success since")
    created: datetime
    updated: datetime


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(description="whsec_…: verify signatures with it; shown only this once")


class PingQueued(BaseModel):
    webhook_id: int
    type: str = Field(description="webhook.ping")


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int
    event_type: str
    status: str = Field(description="pending, sent, failed or cancelled")
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt: datetime | None = Field(description="When it is tried next (pending only)")
    created: datetime
    sent: datetime | None
