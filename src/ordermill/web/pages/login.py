"""Logging in and out of a page audience, and the back office's /admin/login and /admin/logout.

The storefront's /login and /logout (``shop.login``) are the same steps for the
customer audience: one sign-in (throttled, shared with the API's token login), one
session cookie per audience.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.errors import Forbidden, TooManyAttempts, Unauthenticated
from ordermill.services import accounts
from ordermill.services.accounts import Principal
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.render import redirect, render
from ordermill.web.pages.sessions import (
    STAFF,
    Audience,
    CsrfChecked,
    end_session,
    page_requires,
    principal_of,
    safe_next,
    start_session,
)
from ordermill.web.signin import sign_in

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)

EmailField = Annotated[str, Form(max_length=320)]
PasswordField = Annotated[str, Form(max_length=1024)]
NextField = Annotated[str | None, Form(max_length=2000)]


def login_page(
    request: Request, database: Database, audience: Audience, template: str, next: str | None
) -> Response:
    """The login form, or straight on to ``next`` when already signed in."""
    if not principal_of(request, database, audience).is_anonymous:
        return redirect(request, safe_next(next, audience))
    return render(request, template, next=safe_next(next, audience), email="", error=None)


def log_in_to(
    request: Request,
    database: Database,
    settings: Settings,
    audience: Audience,
    template: str,
    *,
    email: str,
    password: str,
    next: str | None,
) -> Response:
    """Sign in to ``audience``: a session cookie and a redirect, or the form with the reason."""
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    target = safe_next(next, audience)
    principal_of(request, database, audience)  # the page's menu and CSRF belong to the audience
    try:
        issued = sign_in(
            database,
            email=email,
            password=password,
            client_address=request.client.host if request.client else "unknown",
            ttl=ttl,
            roles=audience.roles,
            wrong_account=audience.wrong_account,
        )
    except (Unauthenticated, Forbidden, TooManyAttempts) as exc:
        throttled = isinstance(exc, TooManyAttempts)
        return render(
            request,
            template,
            status_code=429 if throttled else 400,
            headers={"Retry-After": str(exc.detail.get("retry_after", 60))} if throttled else None,
            next=target,
            email=email,
            error=exc.message,
        )
    response = redirect(request, target)
    start_session(request, response, audience, issued.token, int(ttl.total_seconds()))
    return response


def log_out_of(
    request: Request, database: Database, audience: Audience, caller: Principal, landing: str
) -> Response:
    """End this browser's session of ``audience`` everywhere (the token is revoked)."""
    if caller.token_id is not None:
        with database.write() as session:
            accounts.revoke_token(session, caller.token_id)
    response = redirect(request, landing, ok="You are logged out.")
    end_session(response, audience)
    return response


@router.get("/login")
def staff_login_page(
    request: Request, database: DatabaseDep, next: Annotated[str | None, Query()] = None
) -> Response:
    return login_page(request, database, STAFF, "admin/login.html", next)


@router.post("/login", dependencies=[CsrfChecked])
def staff_log_in(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    email: EmailField = "",
    password: PasswordField = "",
    next: NextField = None,
) -> Response:
    return log_in_to(
        request,
        database,
        settings,
        STAFF,
        "admin/login.html",
        email=email,
        password=password,
        next=next,
    )


@router.post("/logout", dependencies=[CsrfChecked])
def staff_log_out(
    request: Request,
    database: DatabaseDep,
    caller: Annotated[Principal, page_requires(Permission.SESSION)],
) -> Response:
    return log_out_of(request, database, STAFF, caller, STAFF.login_path)
