"""/admin/users: logins for admins: the list, a new login, a login's page, role and disabling.

The same services as ``/api/users`` and ``ordermill users``: a refusal of theirs
(the last enabled admin can't be disabled or demoted, a customer login has no staff
role) comes back to the page in words. Disabling a login revokes its sessions at
once, on every server process. Passwords and API tokens: ``user_tokens``.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.db import Database
from ordermill.domain.access import Permission, Role
from ordermill.errors import Code, OrdermillError
from ordermill.services import accounts, password_resets
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import ApiTokenPublic, UserCreate, UserPublic
from ordermill.web.deps import DatabaseDep, IdPath, SettingsDep
from ordermill.web.pages.form_checks import check, refusal
from ordermill.web.pages.render import explain, redirect, render
from ordermill.web.pages.sessions import CsrfChecked, page_requires

router = APIRouter(
    prefix="/admin/users", include_in_schema=False, default_response_class=HTMLResponse
)
Admin = Annotated[Principal, page_requires(Permission.USERS_MANAGE)]

ROLES = (("staff", "Staff"), ("admin", "Admin"))
SETUPS = (("password", "Set a password now"), ("link", "Email them a link to choose one"))
FIELDS = ("email", "role", "setup", "password")
MESSAGES = {"role": "Choose staff or admin."}


def user_url(user_id: int) -> str:
    return f"/admin/users/{user_id}"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def read_user(database: Database, user_id: int) -> tuple[UserPublic, list[ApiTokenPublic]]:
    """A login and its API tokens (404 page for an unknown id)."""
    with database.read() as session:
        user = accounts.get_user(session, user_id)
        tokens = [ApiTokenPublic.model_validate(t) for t in accounts.list_tokens(session, user)]
        return UserPublic.model_validate(user), tokens


def user_page(
    request: Request,
    database: Database,
    user_id: int,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    user, tokens = read_user(database, user_id)
    return render(
        request,
        "admin/user.html",
        status_code=status_code,
        user=user,
        tokens=tokens,
        roles=ROLES,
        errors=errors or {},
        values=values or {},
    )


@router.get("")
def user_list(
    request: Request,
    database: DatabaseDep,
    _admin: Admin,
    who: Literal["staff", "all"] = "staff",
) -> Response:
    with database.read() as session:
        users = [
            UserPublic.model_validate(u)
            for u in accounts.list_users(session, staff_only=who == "staff")
        ]
    return render(request, "admin/users.html", users=users, who=who)


def new_user_page(
    request: Request, values: dict[str, str], errors: dict[str, str] | None = None
) -> HTMLResponse:
    return render(
        request,
        "admin/user_form.html",
        status_code=400 if errors else 200,
        values=values,
        errors=errors or {},
        roles=ROLES,
        setups=SETUPS,
    )


@router.get("/new")
def new_user_form(
    request: Request, _admin: Admin, role: Annotated[str, Query(max_length=10)] = "staff"
) -> Response:
    return new_user_page(request, {"email": "", "role": role, "setup": "password"})


@router.post("/new", dependencies=[CsrfChecked])
def create_user(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _admin: Admin,
    email: Annotated[str, Form(max_length=2000)] = "",
    role: Annotated[str, Form(max_length=100)] = "",
    setup: Annotated[str, Form(max_length=100)] = "password",
    password: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    values = {"email": email, "role": role, "setup": setup}
    by_link = setup == "link"
    # Sent a link, they choose their password: until then, one nobody knows.
    chosen = secrets.token_urlsafe(32) if by_link else password
    body, errors = check(UserCreate, {"email": email, "password": chosen, "role": role}, MESSAGES)
    if setup not in dict(SETUPS):
        errors["setup"] = "Choose how they get their password."
    if body is None or errors:
        return new_user_page(request, values, errors)
    try:
        with database.write() as session:
            user = accounts.create_user(
                session, email=str(body.email), password=body.password, role=Role(body.role)
            )
            user_id, address = user.id, user.email
            if by_link:
                password_resets.request_reset(
                    session,
                    email=address,
                    client_address=client_address(request),
                    minutes=settings.password_reset_minutes,
                )
    except OrdermillError as exc:
        return new_user_page(request, values, refusal(exc, FIELDS, {Code.EMAIL_TAKEN: "email"}))
    how = (
        f"a link to choose a password is on its way to {address}" if by_link else "they may log in"
    )
    return redirect(request, user_url(user_id), ok=f"Created {body.role} {address}: {how}.")


@router.get("/{user_id}")
def user_detail(
    user_id: IdPath, request: Request, database: DatabaseDep, _admin: Admin
) -> Response:
    return user_page(request, database, user_id)


def _change(
    request: Request, database: Database, user_id: int, change: str, role: Role | None = None
) -> Response:
    try:
        with database.write() as session:
            user = accounts.get_user(session, user_id)
            if change == "role":
                assert role is not None
                accounts.set_role(session, user, role)
                done = f"{user.email} is now {role.value}."
            else:
                accounts.set_disabled(session, user, change == "disable")
                done = (
                    f"{user.email} is disabled: their sessions ended and their API tokens "
                    "are paused."
                    if change == "disable"
                    else f"{user.email} may log in again."
                )
    except OrdermillError as exc:
        if exc.code == Code.USER_NOT_FOUND:
            raise
        return redirect(request, user_url(user_id), error=explain(exc))
    return redirect(request, user_url(user_id), ok=done)


@router.post("/{user_id}/role", dependencies=[CsrfChecked])
def change_role(
    user_id: IdPath,
    request: Request,
    database: DatabaseDep,
    _admin: Admin,
    role: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if role not in dict(ROLES):
        return user_page(
            request, database, user_id, status_code=400, errors={"role": MESSAGES["role"]}
        )
    return _change(request, database, user_id, "role", Role(role))


@router.post("/{user_id}/disable", dependencies=[CsrfChecked])
def disable_user(
    user_id: IdPath, request: Request, database: DatabaseDep, _admin: Admin
) -> Response:
    return _change(request, database, user_id, "disable")


@router.post("/{user_id}/enable", dependencies=[CsrfChecked])
def enable_user(
    user_id: IdPath, request: Request, database: DatabaseDep, _admin: Admin
) -> Response:
    return _change(request, database, user_id, "enable")
