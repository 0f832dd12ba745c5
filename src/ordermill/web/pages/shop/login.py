"""/login and /logout: customers sign in to the storefront with their email and password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.domain.access import Permission
from ordermill.services.accounts import Principal
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.login import EmailField, NextField, PasswordField, log_in_to, log_out_of
from ordermill.web.pages.login import login_page as show_login
from ordermill.web.pages.sessions import CUSTOMER, CsrfChecked, page_requires

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

TEMPLATE = "shop/login.html"


@router.get("/login")
def login_page(
    request: Request, database: DatabaseDep, next: Annotated[str | None, Query()] = None
) -> Response:
    return show_login(request, database, CUSTOMER, TEMPLATE, next)


@router.post("/login", dependencies=[CsrfChecked])
def log_in(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    email: EmailField = "",
    password: PasswordField = "",
    next: NextField = None,
) -> Response:
    return log_in_to(
        request, database, settings, CUSTOMER, TEMPLATE, email=email, password=password, next=next
    )


@router.post("/logout", dependencies=[CsrfChecked])
def log_out(
    request: Request,
    database: DatabaseDep,
    caller: Annotated[Principal, page_requires(Permission.SELF_SERVICE, CUSTOMER)],
) -> Response:
    return log_out_of(request, database, CUSTOMER, caller, "/")
