"""/admin/login and /admin/logout: staff sign in with their email and password."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.domain.access import Permission
from ordermill.errors import Forbidden, TooManyAttempts, Unauthenticated
from ordermill.services import accounts
from ordermill.services.accounts import Principal
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.render import redirect, render
from ordermill.web.pages.sessions import (
    STAFF,
    CsrfChecked,
    end_session,
    page_requires,
    principal_of,
    safe_next,
    start_session,
)
from ordermill.web.signin import sign_in

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/login")
def login_page(
    request: Request, database: DatabaseDep, next: Annotated[str | None, Query()] = None
) -> Response:
    if not principal_of(request, database, STAFF).is_anonymous:
        return redirect(request, safe_next(next, STAFF))
    return render(request, "admin/login.html", next=safe_next(next, STAFF), email="", error=None)


@router.post("/login", dependencies=[CsrfChecked])
def log_in(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    target = safe_next(next, STAFF)
    try:
        issued = sign_in(
            database,
            email=email,
            password=password,
            client_address=request.client.host if request.client else "unknown",
            ttl=ttl,
            roles=STAFF.roles,
            wrong_account=STAFF.wrong_account,
        )
    except (Unauthenticated, Forbidden, TooManyAttempts) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 400
        headers = (
            {"Retry-After": str(exc.detail.get("retry_after", 60))}
            if isinstance(exc, TooManyAttempts)
            else None
        )
        return render(
            request,
            "admin/login.html",
            status_code=status,
            headers=headers,
            next=target,
            email=email,
            error=exc.message,
        )
    response = redirect(request, target)
    start_session(request, response, STAFF, issued.token, int(ttl.total_seconds()))
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def log_out(
    request: Request,
    database: DatabaseDep,
    caller: Annotated[Principal, page_requires(Permission.SESSION)],
) -> Response:
    if caller.token_id is not None:
        with database.write() as session:
            accounts.revoke_token(session, caller.token_id)
    response = redirect(request, STAFF.login_path, ok="You are logged out.")
    end_session(response, STAFF)
    return response
