"""A login's password and API tokens, on its page under /admin/users/{id} (admins only).

Two ways to a new password, through ``services.password_resets`` as the API and the
CLI go: **email a link** (``request_reset``, the message leaves through the outbox
like ``POST /api/auth/password-reset``), or **set one now** (``set_password``, like
``ordermill users set-password``), which revokes every session and API token of the
login.

A new API token is shown once, on the answer to the form that made it (never in a
redirect, a cookie or a log), with ``Cache-Control: no-store``; only its digest is kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ordermill.domain.access import Permission
from ordermill.errors import Code, NotFound, OrdermillError
from ordermill.services import accounts, password_resets
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import ApiTokenCreate, ApiTokenPublic, Password
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, IdPath, SettingsDep
from ordermill.web.pages.form_checks import check, optional_number, refusal
from ordermill.web.pages.render import explain, redirect, render
from ordermill.web.pages.sessions import CsrfChecked, page_requires
from ordermill.web.pages.users import client_address, user_page, user_url

router = APIRouter(prefix="/admin/users", include_in_schema=False)
Admin = Annotated[Principal, page_requires(Permission.USERS_MANAGE)]


class NewPassword(BaseModel):
    password: Password


@router.post("/{user_id}/reset-link", dependencies=[CsrfChecked])
def send_reset_link(
    user_id: IdPath,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _admin: Admin,
) -> Response:
    try:
        with database.write() as session:
            email = accounts.get_user(session, user_id).email
            sent = password_resets.request_reset(
                session,
                email=email,
                client_address=client_address(request),
                minutes=settings.password_reset_minutes,
            )
    except OrdermillError as exc:
        if exc.code == Code.USER_NOT_FOUND:
            raise
        return redirect(request, user_url(user_id), error=explain(exc))
    if not sent:
        return redirect(
            request,
            user_url(user_id),
            error=f"No link was sent to {email}: the login is disabled, or links were asked "
            "for it too often in the last hour.",
        )
    minutes = settings.password_reset_minutes
    return redirect(
        request,
        user_url(user_id),
        ok=f"A link to choose a new password is on its way to {email} (it works for "
        f"{minutes} minutes).",
    )


@router.post("/{user_id}/password", dependencies=[CsrfChecked])
def set_password(
    user_id: IdPath,
    request: Request,
    database: DatabaseDep,
    admin: Admin,
    password: Annotated[str, Form(max_length=4096)] = "",
    password_again: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    body, errors = check(NewPassword, {"password": password})
    if body is not None and password != password_again:
        errors["password_again"] = "The two passwords differ."
    if body is None or errors:
        return user_page(request, database, user_id, status_code=400, errors=errors)
    password_hash = accounts.hash_password(body.password)  # slow: before the write lock
    with database.write() as session:
        email = accounts.get_user(session, user_id).email
        password_resets.set_password(
            session, email=email, password_hash=password_hash, actor=actor_of(admin)
        )
    return redirect(
        request,
        user_url(user_id),
        ok=f"Set a new password for {email}; their sessions and API tokens are revoked.",
    )


@router.post("/{user_id}/tokens", dependencies=[CsrfChecked])
def create_token(
    user_id: IdPath,
    request: Request,
    database: DatabaseDep,
    _admin: Admin,
    name: Annotated[str, Form(max_length=2000)] = "",
    expires_in_days: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    values = {"name": name, "expires_in_days": expires_in_days}
    body, errors = check(
        ApiTokenCreate, {"name": name, "expires_in_days": optional_number(expires_in_days)}
    )
    if body is None:
        return user_page(request, database, user_id, status_code=400, errors=errors, values=values)
    ttl = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    try:
        with database.write() as session:
            user = accounts.get_user(session, user_id)
            issued = accounts.issue_token(session, user, kind=accounts.API, ttl=ttl, name=body.name)
            token = ApiTokenPublic.model_validate(accounts.get_token(session, issued.token_id))
            email = user.email
    except OrdermillError as exc:
        if exc.code == Code.USER_NOT_FOUND:
            raise
        errors = refusal(exc, ("name", "expires_in_days"))
        return user_page(request, database, user_id, status_code=400, errors=errors, values=values)
    return render(
        request,
        "admin/token_created.html",
        headers={"Cache-Control": "no-store"},
        token=token,
        secret=issued.token,
        email=email,
    )


@router.post("/{user_id}/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def revoke_token(
    user_id: IdPath, token_id: IdPath, request: Request, database: DatabaseDep, _admin: Admin
) -> Response:
    with database.write() as session:
        token = accounts.get_token(session, token_id)
        if token.user_id != user_id:
            raise NotFound(f"Token {token_id} does not exist.", code=Code.TOKEN_NOT_FOUND)
        name = token.name or f"token {token_id}"
        revoked_now = accounts.revoke_token(session, token_id)
    if not revoked_now:
        return redirect(request, user_url(user_id), ok=f"{name} was revoked already.")
    return redirect(request, user_url(user_id), ok=f"Revoked {name}: it stops working at once.")
