"""/api/users, /api/tokens, /api/audit: logins, integration tokens, the audit log (admin)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ordermill.domain.access import Permission, Role
from ordermill.services import accounts, audit
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import (
    ApiTokenCreate,
    ApiTokenIssued,
    ApiTokenPublic,
    AuditEntryPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from ordermill.web.api import problems
from ordermill.web.auth import requires
from ordermill.web.deps import CursorQuery, DatabaseDep, IdPath, LimitQuery, SettingsDep, page_limit
from ordermill.web.http import json_response, page_response

router = APIRouter(tags=["users"])
Admin = Annotated[Principal, requires(Permission.USERS_MANAGE)]


@router.get("/api/users", response_model=list[UserPublic], responses=problems())
def list_users(database: DatabaseDep, _admin: Admin) -> Response:
    """Every login: staff, admins and customers."""
    with database.read() as session:
        return json_response([UserPublic.model_validate(u) for u in accounts.list_users(session)])


@router.post("/api/users", status_code=201, response_model=UserPublic, responses=problems(400, 409))
def create_user(body: UserCreate, database: DatabaseDep, _admin: Admin) -> Response:
    """Create a staff or admin login."""
    with database.write() as session:
        user = accounts.create_user(
            session, email=str(body.email), password=body.password, role=Role(body.role)
        )
        public = UserPublic.model_validate(user)
    return json_response(public, 201, headers={"Location": f"/api/users/{public.id}"})


@router.patch("/api/users/{user_id}", response_model=UserPublic, responses=problems(400, 404, 409))
def update_user(
    user_id: IdPath, body: UserUpdate, database: DatabaseDep, _admin: Admin
) -> Response:
    """Disable or re-enable a login, or change a staff member's role."""
    with database.write() as session:
        user = accounts.get_user(session, user_id)
        if body.role is not None:
            accounts.set_role(session, user, Role(body.role))
        if body.disabled is not None:
            accounts.set_disabled(session, user, body.disabled)
        public = UserPublic.model_validate(user)
    return json_response(public)


@router.get(
    "/api/users/{user_id}/tokens",
    response_model=list[ApiTokenPublic],
    responses=problems(400, 404),
)
def list_user_tokens(user_id: IdPath, database: DatabaseDep, _admin: Admin) -> Response:
    """A user's integration tokens (never the token itself)."""
    with database.read() as session:
        user = accounts.get_user(session, user_id)
        rows = accounts.list_tokens(session, user)
        return json_response([ApiTokenPublic.model_validate(t) for t in rows])


@router.post(
    "/api/users/{user_id}/tokens",
    status_code=201,
    response_model=ApiTokenIssued,
    responses=problems(400, 404),
)
def create_user_token(
    user_id: IdPath, body: ApiTokenCreate, database: DatabaseDep, _admin: Admin
) -> Response:
    """A long-lived token for an integration; the response shows it once."""
    ttl = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    with database.write() as session:
        user = accounts.get_user(session, user_id)
        issued = accounts.issue_token(session, user, kind=accounts.API, ttl=ttl, name=body.name)
        row = accounts.get_token(session, issued.token_id)
        public = ApiTokenIssued(
            token=issued.token, **ApiTokenPublic.model_validate(row).model_dump()
        )
    return json_response(public, 201, headers={"Cache-Control": "no-store"})


@router.delete("/api/tokens/{token_id}", status_code=204, responses=problems(400, 404))
def revoke_token(token_id: IdPath, database: DatabaseDep, _admin: Admin) -> Response:
    """Revoke a token at once."""
    with database.write() as session:
        accounts.revoke_token(session, token_id)
    return Response(status_code=204)


@router.get("/api/audit", response_model=list[AuditEntryPublic], responses=problems(400))
def list_audit_entries(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _admin: Admin,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
    entity: str | None = None,
    entity_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> Response:
    """Who changed what, newest first; filter by entity (order, customer, product) and id."""
    with database.read() as session:
        page = audit.list_entries(
            session,
            limit=page_limit(settings, limit),
            cursor=cursor,
            entity=entity,
            entity_id=entity_id,
            user_id=user_id,
        )
    return page_response(request, page, [AuditEntryPublic.model_validate(e) for e in page.items])
