"""/api/auth: sign-up, login (OAuth2 password flow), logout, who am I, password resets."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from ordermill.domain.access import Permission
from ordermill.errors import Code, Forbidden
from ordermill.services import accounts, password_resets
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import (
    PasswordResetAccepted,
    PasswordResetConfirm,
    PasswordResetRequest,
    SignupRequest,
    TokenResponse,
    WhoAmI,
)
from ordermill.web.api import problems
from ordermill.web.auth import requires
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.http import json_response
from ordermill.web.schemas import CustomerPublic
from ordermill.web.signin import sign_in

router = APIRouter(prefix="/api/auth", tags=["auth"])

RESET_SENT = PasswordResetAccepted(
    status="If an account exists for this address, we sent a link to it."
)


@router.post(
    "/signup", status_code=201, response_model=CustomerPublic, responses=problems(400, 403, 409)
)
def sign_up(
    body: SignupRequest,
    database: DatabaseDep,
    settings: SettingsDep,
    _caller: Annotated[Principal, requires(Permission.PUBLIC)],
) -> Response:
    """Create a customer account with a login (when the store allows self-signup)."""
    if not settings.signup_enabled:
        raise Forbidden("This store does not take sign-ups.", code=Code.SIGNUP_DISABLED)
    password_hash = accounts.hash_password(body.password)  # slow: before the write lock
    with database.write() as session:
        customer = accounts.sign_up(
            session,
            name=body.name,
            email=str(body.email),
            password_hash=password_hash,
            phone=body.phone,
        )
        public = CustomerPublic.model_validate(customer)
    return json_response(public, 201, headers={"Location": "/api/me"})


@router.post("/token", response_model=TokenResponse, responses=problems(400, 401, 429))
def log_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _caller: Annotated[Principal, requires(Permission.PUBLIC)],
) -> Response:
    """Log in with `username` (the email) and `password`; returns a bearer token.

    Repeated failures for one account or one client address are refused with 429
    and `Retry-After` for a short while.
    """
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    issued = sign_in(
        database,
        email=form.username,
        password=form.password,
        client_address=request.client.host if request.client else "unknown",
        ttl=ttl,
    )
    body = TokenResponse(access_token=issued.token, expires_in=int(ttl.total_seconds()))
    return json_response(body, headers={"Cache-Control": "no-store"})


@router.post("/logout", status_code=204, responses=problems())
def log_out(
    database: DatabaseDep, caller: Annotated[Principal, requires(Permission.SESSION)]
) -> Response:
    """Revoke the token this request was made with, at once."""
    assert caller.token_id is not None
    with database.write() as session:
        accounts.revoke_token(session, caller.token_id)
    return Response(status_code=204)


@router.get("/whoami", response_model=WhoAmI, responses=problems())
async def who_am_i(caller: Annotated[Principal, requires(Permission.SESSION)]) -> Response:
    """The signed-in user."""
    # Async: it does no I/O, so it needn't wait for a thread.
    assert caller.user_id is not None
    assert caller.email is not None
    return json_response(
        WhoAmI(
            user_id=caller.user_id,
            email=caller.email,
            role=caller.role.value,
            customer_id=caller.customer_id,
        )
    )


@router.post(
    "/password-reset",
    status_code=202,
    response_model=PasswordResetAccepted,
    responses=problems(400, 429),
)
def request_password_reset(
    body: PasswordResetRequest,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _caller: Annotated[Principal, requires(Permission.PUBLIC)],
) -> Response:
    """Email a link to set a new password, if the address has an account.

    The answer is the same whether it has one or not. A customer the store created
    without a login gets a link too: setting a password claims the account. Too many
    requests from one client are refused with 429 and `Retry-After`.
    """
    with database.write() as session:
        password_resets.request_reset(
            session,
            email=str(body.email),
            client_address=request.client.host if request.client else "unknown",
            minutes=settings.password_reset_minutes,
        )
    return json_response(RESET_SENT, 202, headers={"Cache-Control": "no-store"})


@router.post("/password-reset/confirm", status_code=204, responses=problems(400))
def confirm_password_reset(
    body: PasswordResetConfirm,
    database: DatabaseDep,
    _caller: Annotated[Principal, requires(Permission.PUBLIC)],
) -> Response:
    """Set a new password with the token from the link; the link then stops working.

    Every session and API token of the account is revoked: log in again.
    """
    password_hash = accounts.hash_password(body.password)  # slow: before the write lock
    with database.write() as session:
        password_resets.confirm_reset(session, token=body.token, password_hash=password_hash)
    return Response(status_code=204)
