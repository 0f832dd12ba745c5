"""/signup: a visitor creates a customer account and is signed in to it at once.

The form is checked with the API's ``SignupRequest`` and handed to the same service
as ``POST /api/auth/signup`` (``accounts.sign_up``); the new login's session is
opened in the same transaction, so either both exist or neither. The password is
hashed before the write transaction (Argon2 is slow on purpose). Sign-up is not
throttled, as the API's is not. A store with ``signup_enabled`` off answers 403.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.errors import Code, Forbidden, OrdermillError, kind_of
from ordermill.services import accounts
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import SignupRequest
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.form_checks import check, refusal
from ordermill.web.pages.login import NextField, PasswordField
from ordermill.web.pages.render import redirect, render
from ordermill.web.pages.sessions import (
    CUSTOMER,
    CsrfChecked,
    page_visitor,
    safe_next,
    start_session,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Visitor = Annotated[Principal, page_visitor(CUSTOMER)]
# A form field; the schema checks the real limits and says so next to the field.
Field = Annotated[str, Form(max_length=2000)]

FIELDS = ("name", "email", "password", "phone")
CATALOGUE = "/"


def landing(next: str | None) -> str:
    """Where a new customer goes: where they were going on this site, else the catalogue."""
    return next if next and safe_next(next, CUSTOMER) == next else CATALOGUE


def _form(
    request: Request,
    *,
    values: dict[str, str],
    next: str | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "shop/signup.html",
        status_code=status_code,
        values=values,
        errors=errors or {},
        next=landing(next),
    )


def _closed() -> Forbidden:
    return Forbidden("This store does not take sign-ups.", code=Code.SIGNUP_DISABLED)


@router.get("/signup")
def signup_page(
    request: Request,
    settings: SettingsDep,
    visitor: Visitor,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """The sign-up form (a signed-in customer has an account already: to it)."""
    if not visitor.is_anonymous:
        return redirect(request, "/account")
    if not settings.signup_enabled:
        raise _closed()
    return _form(request, values=dict.fromkeys(("name", "email", "phone"), ""), next=next)


@router.post("/signup", dependencies=[CsrfChecked])
def sign_up(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    visitor: Visitor,
    name: Field = "",
    email: Field = "",
    password: PasswordField = "",
    phone: Field = "",
    next: NextField = None,
) -> Response:
    """Create the account, sign it in and go on with a welcome."""
    if not visitor.is_anonymous:
        return redirect(request, "/account")
    if not settings.signup_enabled:
        raise _closed()
    values = {"name": name, "email": email, "phone": phone}  # never the password
    data = {"name": name, "email": email, "password": password, "phone": phone.strip() or None}
    body, errors = check(SignupRequest, data)
    if body is None:
        return _form(request, values=values, next=next, errors=errors, status_code=400)
    password_hash = accounts.hash_password(body.password)  # slow: before the write lock
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    try:
        with database.write() as session:
            customer = accounts.sign_up(
                session,
                name=body.name,
                email=str(body.email),
                password_hash=password_hash,
                phone=body.phone,
            )
            user = accounts.find_user(session, customer.email)
            issued = accounts.open_session(session, user.id, ttl=ttl)
            welcome = f"Welcome, {customer.name}: your account is ready."
    except OrdermillError as exc:
        errors = refusal(exc, FIELDS, {Code.EMAIL_TAKEN: "email"})
        status = kind_of(exc).status
        return _form(request, values=values, next=next, errors=errors, status_code=status)
    response = redirect(request, landing(next), ok=welcome)
    start_session(request, response, CUSTOMER, issued.token, int(ttl.total_seconds()))
    return response
