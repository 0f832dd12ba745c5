"""/forgot-password and /reset-password: a link by email to choose a new password.

The same services as ``POST /api/auth/password-reset`` and its confirm
(``services.password_resets``). Asking answers the same whether or not the address
has an account; too many requests from one client are refused (429) in words.
The link (``notify.email_render``: ``{public_url}/reset-password?token=…``) opens
a form carrying the token; setting the password uses the link up, revokes every
session of the account, and sends the visitor to the login of their kind of account
(staff to the back office's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from ordermill.domain.access import STAFF_ROLES, Role
from ordermill.errors import Code, InvalidInput, TooManyAttempts
from ordermill.services import accounts, password_resets
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import Password, PasswordResetRequest
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.form_checks import check
from ordermill.web.pages.login import EmailField, PasswordField
from ordermill.web.pages.render import redirect, render
from ordermill.web.pages.sessions import (
    CUSTOMER,
    STAFF,
    CsrfChecked,
    end_session,
    page_visitor,
)
from ordermill.web.pages.users import client_address

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Visitor = Annotated[Principal, page_visitor(CUSTOMER)]
# Longer than any token the service makes; the service says whether it is one.
TokenField = Annotated[str, Form(max_length=2000)]
TokenQuery = Annotated[str | None, Query(max_length=2000)]

SENT_PATH = "/forgot-password?sent=1"
PASSWORD_SET = "Your password is set: log in with it."
DIFFERENT = "The two passwords differ."


class NewPassword(BaseModel):
    password: Password


# ---------------------------------------------------------------- asking for a link


def _ask_form(
    request: Request,
    minutes: int,
    *,
    email: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    sent: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "shop/forgot_password.html",
        status_code=status_code,
        headers=headers,
        email=email,
        errors=errors or {},
        sent=sent,
        minutes=minutes,
    )


@router.get("/forgot-password")
def forgot_password_page(
    request: Request, settings: SettingsDep, _visitor: Visitor, sent: str | None = None
) -> Response:
    """The form to ask for a link (and, after asking, what happens next)."""
    return _ask_form(request, settings.password_reset_minutes, sent=sent is not None)


@router.post("/forgot-password", dependencies=[CsrfChecked])
def ask_for_link(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _visitor: Visitor,
    email: EmailField = "",
) -> Response:
    """Email a link if the address has an account; the answer is the same either way."""
    minutes = settings.password_reset_minutes
    body, errors = check(PasswordResetRequest, {"email": email})
    if body is None:
        return _ask_form(request, minutes, email=email, errors=errors, status_code=400)
    try:
        with database.write() as session:
            password_resets.request_reset(
                session,
                email=str(body.email),
                client_address=client_address(request),
                minutes=minutes,
            )
    except TooManyAttempts as exc:
        retry_after = str(exc.detail.get("retry_after", 60))
        return _ask_form(
            request,
            minutes,
            email=email,
            errors={"form": exc.message},
            status_code=429,
            headers={"Retry-After": retry_after},
        )
    return redirect(request, SENT_PATH)


# ---------------------------------------------------------------- setting the password


def _reset_form(
    request: Request,
    *,
    token: str,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "shop/reset_password.html",
        status_code=status_code,
        token=token,
        errors=errors or {},
    )


def _spent(request: Request, token: str) -> HTMLResponse:
    """The link can't set a password: say why and offer a new one (400)."""
    reason = password_resets.invalid_reset_token().message
    return _reset_form(request, token=token, errors={"token": reason}, status_code=400)


@router.get("/reset-password")
def reset_password_page(
    request: Request, database: DatabaseDep, _visitor: Visitor, token: TokenQuery = None
) -> Response:
    """The form to choose a new password, if the link still works."""
    if not token:
        return _reset_form(request, token="")  # opened without the link's token
    with database.read() as session:
        live = password_resets.link_is_live(session, token)
    return _reset_form(request, token=token) if live else _spent(request, token)


@router.post("/reset-password", dependencies=[CsrfChecked])
def reset_password(
    request: Request,
    database: DatabaseDep,
    visitor: Visitor,
    token: TokenField = "",
    password: PasswordField = "",
    password_again: PasswordField = "",
) -> Response:
    """Set the new password; the link is used up and every session of the account ends."""
    with database.read() as session:
        live = bool(token) and password_resets.link_is_live(session, token)
    if not live:
        return _spent(request, token)
    body, errors = check(NewPassword, {"password": password})
    if body is not None and password != password_again:
        errors["password_again"] = DIFFERENT
    if body is None or errors:
        return _reset_form(request, token=token, errors=errors, status_code=400)
    password_hash = accounts.hash_password(body.password)  # slow: before the write lock
    try:
        with database.write() as session:
            user = password_resets.confirm_reset(session, token=token, password_hash=password_hash)
            user_id, staff = user.id, Role(user.role) in STAFF_ROLES
    except InvalidInput as exc:
        if exc.code != Code.INVALID_RESET_TOKEN:
            raise
        return _spent(request, token)
    response = redirect(request, (STAFF if staff else CUSTOMER).login_path, ok=PASSWORD_SET)
    if visitor.user_id == user_id:  # this browser's session was revoked with the others
        end_session(response, CUSTOMER)
    return response
