"""/api/webhooks: endpoints that receive events, their secrets and deliveries (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response

from ordermill.domain.access import Permission
from ordermill.domain.events import EventType
from ordermill.models import Webhook
from ordermill.services import webhooks
from ordermill.services.accounts import Principal
from ordermill.web.api import problems
from ordermill.web.auth import actor_of, requires
from ordermill.web.deps import CursorQuery, DatabaseDep, IdPath, LimitQuery, SettingsDep, page_limit
from ordermill.web.http import json_response, page_response
from ordermill.web.webhook_schemas import (
    DeliveryPublic,
    PingQueued,
    WebhookCreate,
    WebhookPublic,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
Admin = Annotated[Principal, requires(Permission.WEBHOOKS_MANAGE)]
NO_STORE = {"Cache-Control": "no-store"}


def _with_secret(issued: webhooks.Issued) -> WebhookWithSecret:
    public = WebhookPublic.model_validate(issued.webhook)
    return WebhookWithSecret(secret=issued.secret, **public.model_dump())


def _public(webhook: Webhook) -> WebhookPublic:
    return WebhookPublic.model_validate(webhook)


@router.get("", response_model=list[WebhookPublic], responses=problems())
def list_webhooks(database: DatabaseDep, _admin: Admin) -> Response:
    """Every webhook endpoint (without secrets)."""
    with database.read() as session:
        return json_response([_public(w) for w in webhooks.list_webhooks(session)])


@router.post("", status_code=201, response_model=WebhookWithSecret, responses=problems(400))
def create_webhook(
    body: WebhookCreate, database: DatabaseDep, settings: SettingsDep, admin: Admin
) -> Response:
    """Register an endpoint; the answer shows its signing secret, this once."""
    with database.write() as session:
        issued = webhooks.create_webhook(
            session,
            url=body.url,
            events=body.events,
            description=body.description,
            allow_private=settings.webhook_allow_private,
            actor=actor_of(admin),
        )
        public = _with_secret(issued)
    headers = {"Location": f"/api/webhooks/{public.id}", **NO_STORE}
    return json_response(public, 201, headers=headers)


@router.get("/{webhook_id}", response_model=WebhookPublic, responses=problems(400, 404))
def get_webhook(webhook_id: IdPath, database: DatabaseDep, _admin: Admin) -> Response:
    """One endpoint: whether it is enabled, and if not why."""
    with database.read() as session:
        return json_response(_public(webhooks.get_webhook(session, webhook_id)))


@router.patch("/{webhook_id}", response_model=WebhookPublic, responses=problems(400, 404))
def update_webhook(
    webhook_id: IdPath,
    body: WebhookUpdate,
    database: DatabaseDep,
    settings: SettingsDep,
    admin: Admin,
) -> Response:
    """Change the URL, events or description; enable or disable it."""
    changes = webhooks.WebhookChanges(
        url=body.url, events=body.events, description=body.description, enabled=body.enabled
    )
    with database.write() as session:
        webhook = webhooks.update_webhook(
            session,
            webhook_id,
            changes,
            allow_private=settings.webhook_allow_private,
            actor=actor_of(admin),
        )
        public = _public(webhook)
    return json_response(public)


@router.delete("/{webhook_id}", status_code=204, responses=problems(400, 404))
def delete_webhook(webhook_id: IdPath, database: DatabaseDep, admin: Admin) -> Response:
    """Delete an endpoint; what it still had to receive is cancelled."""
    with database.write() as session:
        webhooks.delete_webhook(session, webhook_id, actor=actor_of(admin))
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret", response_model=WebhookWithSecret, responses=problems(400, 404)
)
def rotate_webhook_secret(webhook_id: IdPath, database: DatabaseDep, admin: Admin) -> Response:
    """A new secret, shown this once; the previous one also signs for 24 hours."""
    with database.write() as session:
        issued = webhooks.rotate_secret(
            session, webhook_id, datetime.now(UTC), actor=actor_of(admin)
        )
        public = _with_secret(issued)
    return json_response(public, headers=NO_STORE)


@router.post(
    "/{webhook_id}/ping", status_code=202, response_model=PingQueued, responses=problems(400, 404)
)
def ping_webhook(webhook_id: IdPath, database: DatabaseDep, _admin: Admin) -> Response:
    """Send a webhook.ping event to this endpoint only."""
    with database.write() as session:
        webhooks.ping(session, webhook_id, datetime.now(UTC))
    return json_response(PingQueued(webhook_id=webhook_id, type=EventType.WEBHOOK_PING), 202)


@router.get(
    "/{webhook_id}/deliveries", response_model=list[DeliveryPublic], responses=problems(400, 404)
)
def list_webhook_deliveries(
    webhook_id: IdPath,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _admin: Admin,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    """What was sent to this endpoint and how it went, newest first."""
    with database.read() as session:
        page = webhooks.list_deliveries(
            session, webhook_id, limit=page_limit(settings, limit), cursor=cursor
        )
    return page_response(request, page, [DeliveryPublic.model_validate(d) for d in page.items])


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryPublic,
    responses=problems(400, 404),
)
def redeliver_webhook_delivery(
    webhook_id: IdPath, delivery_id: IdPath, database: DatabaseDep, _admin: Admin
) -> Response:
    """Send a delivery's message again (same content, same webhook-id), as a new delivery."""
    with database.write() as session:
        view = webhooks.redeliver(session, webhook_id, delivery_id, datetime.now(UTC))
    return json_response(DeliveryPublic.model_validate(view), 202)
