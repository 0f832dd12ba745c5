"""/admin/audit: who changed what and when, newest first (admins, like ``GET /api/audit``).

Filtered by who did it, the kind of thing (and its id) and the action, a page at a
time (``services.audit.list_entries``). Each entry's details are written out as
words and numbers, money as money; all of it is escaped like any user text.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.display import money
from ordermill.domain.access import Permission
from ordermill.services import accounts, audit
from ordermill.services.accounts import Principal
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.render import render
from ordermill.web.pages.sessions import page_requires

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)
Admin = Annotated[Principal, page_requires(Permission.USERS_MANAGE)]

ENTITIES = ("order", "customer", "product", "user", "webhook")
# The back office's page for each kind of thing (webhooks have none).
PAGES = {
    "order": "/admin/orders/{}",
    "customer": "/admin/customers/{}",
    "product": "/admin/products/{}",
    "user": "/admin/users/{}",
}
ACTIONS = [
    "order.created",
    "order.processed",
    "order.paid",
    "order.fulfilled",
    "order.delivered",
    "order.cancelled",
    "order.returned",
    "order.deleted",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "balance.adjusted",
    "product.created",
    "product.updated",
    "product.stock_adjusted",
    "product.deleted",
    "user.password_reset",
    "user.password_set",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.secret_rotated",
]
# Details that are amounts of money, in minor units.
MONEY_KEYS = frozenset({"amount", "balance", "price", "total", "refunded", "paid", "credited"})
_ID = re.compile(r"\d{1,10}")
Filter = Annotated[str, Query(max_length=100)]


def readable(key: str, value: Any, currency: str) -> str:
    """One detail of an entry as a person reads it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key in MONEY_KEYS:
        return money(value, currency)
    if isinstance(value, dict):
        return ", ".join(
            f"{k.replace('_', ' ')} {readable(k, v, currency)}" for k, v in value.items()
        )
    if isinstance(value, list):
        return "; ".join(readable(key, item, currency) for item in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def entry_view(entry: audit.AuditEntry, currency: str) -> dict[str, Any]:
    page = PAGES.get(entry.entity)
    return {
        "at": entry.at,
        "actor": entry.actor,
        "user_id": entry.user_id,
        "action": entry.action,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "url": page.format(entry.entity_id) if page else None,
        "changes": [
            (key.replace("_", " "), readable(key, value, currency))
            for key, value in entry.detail.items()
        ],
    }


def _id_filter(text: str, field: str, errors: dict[str, str]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not _ID.fullmatch(text) or not 0 < int(text) <= 2_147_483_647:
        errors[field] = "Enter an id: a whole number such as 42."
        return None
    return int(text)


@router.get("/audit")
def audit_log(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _admin: Admin,
    user_id: Filter = "",
    entity: Filter = "",
    entity_id: Filter = "",
    action: Filter = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    filters = {"user_id": user_id, "entity": entity, "entity_id": entity_id, "action": action}
    errors: dict[str, str] = {}
    actor_id = _id_filter(user_id, "user_id", errors)
    thing_id = _id_filter(entity_id, "entity_id", errors)
    if entity and entity not in ENTITIES:
        errors["entity"] = "Choose one of the kinds of things."
    entries: list[dict[str, Any]] = []
    next_url = None
    with database.read() as session:
        staff = [(u.id, u.email) for u in accounts.list_users(session, staff_only=True)]
        if not errors:
            page = audit.list_entries(
                session,
                limit=settings.page_size_default,
                cursor=cursor,
                entity=entity or None,
                entity_id=thing_id,
                user_id=actor_id,
                action=action.strip() or None,
            )
            entries = [entry_view(e, settings.currency) for e in page.items]
            if page.next_cursor:
                kept = {k: v for k, v in filters.items() if v}
                next_url = "/admin/audit?" + urlencode({**kept, "cursor": page.next_cursor})
    return render(
        request,
        "admin/audit.html",
        status_code=400 if errors else 200,
        entries=entries,
        next_url=next_url,
        filters=filters,
        errors=errors,
        staff=staff,
        entities=ENTITIES,
        actions=ACTIONS,
    )
