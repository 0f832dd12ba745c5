"""/api/auth: sign-up, login (OAuth2 password flow), logout, who am I."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from ordermill.domain.access import ACCOUNT_POLICY, CLIENT_POLICY, Permission
from ordermill.errors import Code, Forbidden, Unauthenticated
from ordermill.services import accounts
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import SignupRequest, TokenResponse, WhoAmI
from ordermill.web.api import problems
from ordermill.web.auth import requires
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.http import json_response
from ordermill.web.schemas import CustomerPublic

router = APIRouter(prefix="/api/auth", tags=["auth"])


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
    with database.write() as session:
        customer = accounts.sign_up(
            session,
            name=body.name,
            email=str(body.email),
            password=body.password,
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
    account_key, client_key = accounts.throttle_keys(
        form.username, request.client.host if request.client else "unknown"
    )
    try:
        with database.read() as session:
            accounts.check_throttle(session, [account_key, client_key])
            user_id = accounts.authenticate(session, email=form.username, password=form.password).id
    except Unauthenticated:
        with database.write() as session:
            accounts.record_failure(session, account_key, ACCOUNT_POLICY)
            accounts.record_failure(session, client_key, CLIENT_POLICY)
        raise
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    with database.write() as session:
        issued = accounts.open_session(session, user_id, ttl=ttl)
        accounts.clear_throttle(session, account_key)
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
def who_am_i(caller: Annotated[Principal, requires(Permission.SESSION)]) -> Response:
    """The signed-in user."""
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
