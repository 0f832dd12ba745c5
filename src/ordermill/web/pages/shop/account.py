"""/account: a customer's details, balance and its history; editing them; a new password.

The same services as ``/api/me`` (``catalog.get_customer``, ``ledger.list_entries``,
``catalog.update_customer``): the page is always the signed-in customer's own.
The profile form carries the version of the profile it showed, so an edit made
meanwhile (another tab, the store) is not overwritten unseen: the form comes back
with a message instead (409), like the API's ``If-Match``.

Changing the password needs the current one, checked and throttled like a login
(``signin.check_password``); ``password_resets.set_password`` then revokes every
session and API token of the login, and this browser gets a fresh session in the
same transaction: the customer stays signed in here and nowhere else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.errors import Code, OrdermillError, TooManyAttempts, Unauthenticated, kind_of
from ordermill.services import accounts, catalog, ledger, password_resets
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import Password
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.customer_forms import version_of
from ordermill.web.pages.form_checks import FORM, check, refusal
from ordermill.web.pages.login import PasswordField
from ordermill.web.pages.render import redirect, render
from ordermill.web.pages.sessions import CUSTOMER, CsrfChecked, page_requires, start_session
from ordermill.web.pages.users import client_address
from ordermill.web.schemas import CustomerPublic, CustomerUpdate
from ordermill.web.signin import check_password

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Me = Annotated[Principal, page_requires(Permission.SELF_SERVICE, CUSTOMER)]
# A form field; the schema checks the real limits and says so next to the field.
Field = Annotated[str, Form(max_length=2000)]
Cursor = Annotated[str | None, Query(max_length=200)]

PROFILE = ("name", "email", "phone")
LEDGER_PAGE = 25
CHANGED_MEANWHILE = (
    "Your details were changed elsewhere (in another tab, or by the store) since this "
    "form was opened. The form holds what you entered: check it against the details "
    "above and save again to keep it."
)
WRONG_PASSWORD = "That is not your current password."
# What each kind of balance change is called on the customer's side of the counter.
KINDS = {
    ledger.EntryKind.CHARGE: "Order payment",
    ledger.EntryKind.REFUND: "Refund",
    ledger.EntryKind.CREDIT: "Credit",
    ledger.EntryKind.ADJUSTMENT: "Adjustment by the store",
}


def _customer_id(me: Principal) -> int:
    assert me.customer_id is not None  # SELF_SERVICE is a customer's permission
    return me.customer_id


# ---------------------------------------------------------------- the account page


def _account_page(
    request: Request,
    database: Database,
    settings: Settings,
    me: Principal,
    *,
    cursor: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    version: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The account with its ledger page; the profile form holds ``values`` if given."""
    with database.read() as session:
        customer = CustomerPublic.model_validate(catalog.get_customer(session, _customer_id(me)))
        entries = ledger.list_entries(session, customer.id, limit=LEDGER_PAGE, cursor=cursor)
    shown = {"name": customer.name, "email": customer.email, "phone": customer.phone or ""}
    return render(
        request,
        "shop/account.html",
        status_code=status_code,
        customer=customer,
        currency=settings.currency,
        entries=entries.items,
        kinds=KINDS,
        newer=cursor is not None,
        older=entries.next_cursor and f"/account?{urlencode({'cursor': entries.next_cursor})}",
        values=values or shown,
        errors=errors or {},
        version=version or version_of(customer),
    )


@router.get("/account")
def account_page(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Me,
    cursor: Cursor = None,
) -> Response:
    """Your details, your balance and its history (newest first), and the edit form."""
    return _account_page(request, database, settings, me, cursor=cursor)


@router.post("/account", dependencies=[CsrfChecked])
def update_profile(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Me,
    name: Field = "",
    email: Field = "",
    phone: Field = "",
    version: Field = "",
) -> Response:
    """Change your name, email or phone (an empty phone forgets it), as ``PATCH /api/me``."""
    values = {"name": name, "email": email, "phone": phone}

    def again(errors: dict[str, str], status: int, current: str | None = None) -> HTMLResponse:
        return _account_page(
            request,
            database,
            settings,
            me,
            values=values,
            errors=errors,
            version=current or version,
            status_code=status,
        )

    body, errors = check(
        CustomerUpdate, {"name": name, "email": email, "phone": phone.strip() or None}
    )
    if body is None:
        return again(errors, 400)
    stale: str | None = None  # the current version, when the form showed an older one
    try:
        with database.write() as session:
            found = catalog.get_customer(session, _customer_id(me), for_update=True)
            current = version_of(CustomerPublic.model_validate(found))
            wanted = [body.name, accounts.normalize_email(str(body.email)), body.phone]
            before = found.email
            if [found.name, found.email, found.phone] == wanted:
                pass  # nothing to change (or this very form, sent twice)
            elif current != version:
                stale = current
            else:
                changes = catalog.CustomerChanges(
                    name=body.name,
                    email=str(body.email),
                    phone=body.phone,
                    clear_phone=body.phone is None,
                )
                catalog.update_customer(session, found, changes, actor=actor_of(me))
            address = found.email
    except OrdermillError as exc:
        return again(refusal(exc, PROFILE, {Code.EMAIL_TAKEN: "email"}), kind_of(exc).status)
    if stale is not None:
        return again({FORM: CHANGED_MEANWHILE}, 409, stale)
    moved = address != before
    saved = f"Your details are saved; you log in with {address} now." if moved else None
    return redirect(request, "/account", ok=saved or "Your details are saved.")


# ---------------------------------------------------------------- the password


class NewPassword(BaseModel):
    password: Password


def _password_form(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "shop/account_password.html",
        status_code=status_code,
        headers=headers,
        errors=errors or {},
    )


@router.get("/account/password")
def password_page(request: Request, _me: Me) -> Response:
    """The form to change your password."""
    return _password_form(request)


@router.post("/account/password", dependencies=[CsrfChecked])
def change_password(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Me,
    current_password: PasswordField = "",
    password: PasswordField = "",
    password_again: PasswordField = "",
) -> Response:
    """A new password: signed out everywhere else, still signed in here."""
    assert me.email is not None
    body, errors = check(NewPassword, {"password": password})
    if not current_password:
        errors["current_password"] = "Fill this in."
    if body is not None and password != password_again:
        errors["password_again"] = "The two passwords differ."
    if body is None or errors:
        return _password_form(request, errors=errors, status_code=400)
    address = client_address(request)
    try:
        check_password(database, email=me.email, password=current_password, client_address=address)
    except Unauthenticated:
        return _password_form(request, errors={"current_password": WRONG_PASSWORD}, status_code=400)
    except TooManyAttempts as exc:
        retry_after = str(exc.detail.get("retry_after", 60))
        return _password_form(
            request,
            errors={FORM: exc.message},
            status_code=429,
            headers={"Retry-After": retry_after},
        )
    password_hash = accounts.hash_password(body.password)  # slow: before the write lock
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    with database.write() as session:
        user = password_resets.set_password(
            session, email=me.email, password_hash=password_hash, actor=actor_of(me)
        )
        issued = accounts.open_session(session, user.id, ttl=ttl)
        accounts.clear_throttle(session, accounts.throttle_keys(me.email, address)[0])
    response = redirect(
        request,
        "/account",
        ok="Your password is changed. Any other device signed in to your account is "
        "signed out; log in there with the new password.",
    )
    start_session(request, response, CUSTOMER, issued.token, int(ttl.total_seconds()))
    return response
