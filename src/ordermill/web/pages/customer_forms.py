"""The customer forms: new customer, edit a customer, and (admins) adjust a balance.

Each form is validated with the API route's own schema, then handed to the same
service (``services.catalog``); what either refuses is shown next to its field with
the values kept (400, or 409 for a taken email or an edit that crossed another).
Permissions are the API's: customers:write to create and edit, balance:adjust to
change a balance.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ordermill.display import money
from ordermill.domain.access import Permission
from ordermill.errors import NotFound, OrdermillError, kind_of
from ordermill.services import catalog
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import BalanceAdjust
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, IdPath, SettingsDep
from ordermill.web.http import run_idempotent
from ordermill.web.pages.form_errors import FORM, error_field, field_errors
from ordermill.web.pages.render import explain, redirect, render
from ordermill.web.pages.sessions import CsrfChecked, page_requires
from ordermill.web.schemas import CustomerCreate, CustomerPublic, CustomerUpdate

router = APIRouter(
    prefix="/admin/customers", include_in_schema=False, default_response_class=HTMLResponse
)
Writer = Annotated[Principal, page_requires(Permission.CUSTOMERS_WRITE)]
Adjuster = Annotated[Principal, page_requires(Permission.BALANCE_ADJUST)]
# A form field; the schema checks the real limits and says so next to the field.
Field = Annotated[str, Form(max_length=2000)]
PROFILE = ("name", "email", "phone")
CHANGED_MEANWHILE = (
    "Someone else changed this customer while you were editing. The form now holds your "
    "values; compare them with the customer's page and save again to keep them."
)


def version_of(customer: CustomerPublic) -> str:
    """A token for the profile as a form showed it (the balance may change meanwhile)."""
    profile = json.dumps([customer.name, customer.email, customer.phone])
    return hashlib.sha256(profile.encode()).hexdigest()[:32]


def _profile_form(
    request: Request,
    *,
    customer: CustomerPublic | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    version: str = "",
) -> HTMLResponse:
    return render(
        request,
        "admin/customer_form.html",
        status_code=status_code,
        customer=customer,
        values=values,
        errors=errors or {},
        version=version,
    )


def _refused(exc: OrdermillError, fields: tuple[str, ...]) -> tuple[dict[str, str], int]:
    return {error_field(exc, fields): explain(exc)}, kind_of(exc).status


# ---------------------------------------------------------------- new customer


@router.get("/new")
def new_customer(request: Request, _staff: Writer) -> Response:
    values = dict.fromkeys(PROFILE, "")
    return _profile_form(request, customer=None, values=values)


@router.post("/new", dependencies=[CsrfChecked])
def create_customer(
    request: Request,
    database: DatabaseDep,
    staff: Writer,
    name: Field = "",
    email: Field = "",
    phone: Field = "",
) -> Response:
    values = {"name": name, "email": email, "phone": phone}
    try:
        body = CustomerCreate(name=name, email=email, phone=phone.strip() or None)
    except ValidationError as exc:
        return _profile_form(
            request, customer=None, values=values, errors=field_errors(exc), status_code=400
        )
    try:
        with database.write() as session:
            created = catalog.create_customer(
                session,
                name=body.name,
                email=str(body.email),
                phone=body.phone,
                actor=actor_of(staff),
            )
            customer_id = created.id
    except OrdermillError as exc:
        errors, status = _refused(exc, PROFILE)
        return _profile_form(
            request, customer=None, values=values, errors=errors, status_code=status
        )
    return redirect(request, f"/admin/customers/{customer_id}", ok=f"Customer {body.name} added.")


# ---------------------------------------------------------------- edit


def _load(database: DatabaseDep, customer_id: int) -> CustomerPublic:
    with database.read() as session:
        return CustomerPublic.model_validate(catalog.get_customer(session, customer_id))


@router.get("/{customer_id}/edit")
def edit_customer(
    request: Request, database: DatabaseDep, customer_id: IdPath, _staff: Writer
) -> Response:
    customer = _load(database, customer_id)
    values = {"name": customer.name, "email": customer.email, "phone": customer.phone or ""}
    return _profile_form(request, customer=customer, values=values, version=version_of(customer))


@router.post("/{customer_id}/edit", dependencies=[CsrfChecked])
def update_customer(
    request: Request,
    database: DatabaseDep,
    customer_id: IdPath,
    staff: Writer,
    name: Field = "",
    email: Field = "",
    phone: Field = "",
    version: Field = "",
) -> Response:
    values = {"name": name, "email": email, "phone": phone}
    customer = _load(database, customer_id)  # unknown: the 404 page
    try:
        body = CustomerUpdate(name=name, email=email, phone=phone.strip() or None)
    except ValidationError as exc:
        errors = field_errors(exc)
        return _profile_form(
            request,
            customer=customer,
            values=values,
            errors=errors,
            status_code=400,
            version=version,
        )
    try:
        with database.write() as session:
            found = catalog.get_customer(session, customer_id, for_update=True)
            current = version_of(CustomerPublic.model_validate(found))
            if current != version:
                return _profile_form(
                    request,
                    customer=customer,
                    values=values,
                    errors={FORM: CHANGED_MEANWHILE},
                    status_code=409,
                    version=current,
                )
            changes = catalog.CustomerChanges(
                name=body.name,
                email=str(body.email) if body.email is not None else None,
                phone=body.phone,
                clear_phone=body.phone is None,
            )
            catalog.update_customer(session, found, changes, actor=actor_of(staff))
    except NotFound:
        raise
    except OrdermillError as exc:
        errors, status = _refused(exc, PROFILE)
        return _profile_form(
            request,
            customer=customer,
            values=values,
            errors=errors,
            status_code=status,
            version=version,
        )
    return redirect(request, f"/admin/customers/{customer_id}", ok="Changes saved.")


# ---------------------------------------------------------------- balance (admins)


def _balance_form(
    request: Request,
    customer: CustomerPublic,
    currency: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    form_key: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "admin/customer_balance.html",
        status_code=status_code,
        customer=customer,
        currency=currency,
        values=values or {"amount": "", "reason": ""},
        errors=errors or {},
        # Sent with the form: the same form sent twice adjusts the balance once.
        form_key=form_key or secrets.token_urlsafe(24),
    )


@router.get("/{customer_id}/balance")
def balance_form(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    customer_id: IdPath,
    _admin: Adjuster,
) -> Response:
    return _balance_form(request, _load(database, customer_id), settings.currency)


@router.post("/{customer_id}/balance", dependencies=[CsrfChecked])
def adjust_balance(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    customer_id: IdPath,
    admin: Adjuster,
    amount: Field = "",
    reason: Field = "",
    form_key: Field = "",
) -> Response:
    values = {"amount": amount, "reason": reason}
    customer = _load(database, customer_id)
    currency = settings.currency

    def again(errors: dict[str, str], status: int) -> HTMLResponse:
        return _balance_form(
            request,
            customer,
            currency,
            values=values,
            errors=errors,
            status_code=status,
            form_key=form_key or None,
        )

    try:
        body = BalanceAdjust(amount=amount, reason=reason)
    except ValidationError as exc:
        return again(field_errors(exc), 400)

    def work(session: Session) -> Response:
        balance = catalog.adjust_balance(
            session, customer_id, body.amount, reason=body.reason, actor=actor_of(admin)
        )
        done = "topped up by" if body.amount > 0 else "reduced by"
        message = (
            f"Balance {done} {money(abs(body.amount), currency)}: now {money(balance, currency)}."
        )
        return redirect(request, f"/admin/customers/{customer_id}", ok=message)

    payload: dict[str, Any] = {"amount": body.amount, "reason": body.reason}
    try:
        return run_idempotent(database, request, form_key or None, payload, work, owner=admin)
    except NotFound:
        raise
    except OrdermillError as exc:
        return again(*_refused(exc, ("amount", "reason")))
