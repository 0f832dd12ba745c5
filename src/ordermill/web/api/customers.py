"""/api/customers: the store's customers, their balances and their orders (staff)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.services import catalog, ledger, order_views
from ordermill.services import orders as order_service
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import BalanceAdjust, BalancePublic
from ordermill.web.api import problems
from ordermill.web.auth import actor_of, requires
from ordermill.web.deps import CursorQuery, DatabaseDep, IdPath, LimitQuery, SettingsDep, page_limit
from ordermill.web.http import check_if_match, json_response, page_response, resource_response
from ordermill.web.present import order_document
from ordermill.web.schemas import (
    CustomerCreate,
    CustomerPublic,
    CustomerUpdate,
    LedgerEntryPublic,
    OrderPublic,
)

router = APIRouter(prefix="/api/customers", tags=["customers"])


@router.get("", response_model=list[CustomerPublic], responses=problems(400))
def list_customers(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _staff: Annotated[Principal, requires(Permission.CUSTOMERS_READ)],
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
    email: str | None = None,
) -> Response:
    """List customers by id; follow the `Link` header for the next page."""
    with database.read() as session:
        page = catalog.list_customers(
            session, limit=page_limit(settings, limit), cursor=cursor, email=email
        )
        items = [CustomerPublic.model_validate(c) for c in page.items]
    return page_response(request, page, list(items))


@router.post("", status_code=201, response_model=CustomerPublic, responses=problems(400, 409))
def create_customer(
    body: CustomerCreate,
    request: Request,
    database: DatabaseDep,
    staff: Annotated[Principal, requires(Permission.CUSTOMERS_WRITE)],
) -> Response:
    """Register a customer (email unique). The balance starts at 0; admins adjust it."""
    with database.write() as session:
        customer = catalog.create_customer(
            session, name=body.name, email=str(body.email), phone=body.phone, actor=actor_of(staff)
        )
        public = CustomerPublic.model_validate(customer)
    response = resource_response(request, public, status_code=201)
    response.headers["Location"] = f"/api/customers/{public.id}"
    return response


@router.get("/{customer_id}", response_model=CustomerPublic, responses=problems(304, 400, 404))
def get_customer(
    customer_id: IdPath,
    request: Request,
    database: DatabaseDep,
    _staff: Annotated[Principal, requires(Permission.CUSTOMERS_READ)],
) -> Response:
    """One customer, with an ETag."""
    with database.read() as session:
        public = CustomerPublic.model_validate(catalog.get_customer(session, customer_id))
    return resource_response(request, public)


@router.patch(
    "/{customer_id}",
    response_model=CustomerPublic,
    responses=problems(400, 404, 409, 412),
)
def update_customer(
    customer_id: IdPath,
    body: CustomerUpdate,
    request: Request,
    database: DatabaseDep,
    staff: Annotated[Principal, requires(Permission.CUSTOMERS_WRITE)],
) -> Response:
    """Change name, email or phone (`null` clears it); send `If-Match` with the ETag you
    read to avoid lost updates."""
    return patch_customer(request, database, customer_id, body, staff)


def patch_customer(
    request: Request,
    database: DatabaseDep,
    customer_id: int,
    body: CustomerUpdate,
    caller: Principal,
) -> Response:
    """Apply a profile change under a row lock, honouring ``If-Match`` (staff and /api/me)."""
    with database.write() as session:
        customer = catalog.get_customer(session, customer_id, for_update=True)
        check_if_match(request, CustomerPublic.model_validate(customer))
        changes = catalog.CustomerChanges(
            name=body.name,
            email=str(body.email) if body.email is not None else None,
            phone=body.phone,
            clear_phone="phone" in body.model_fields_set and body.phone is None,
        )
        updated = catalog.update_customer(session, customer, changes, actor=actor_of(caller))
        public = CustomerPublic.model_validate(updated)
    return resource_response(request, public)


@router.delete("/{customer_id}", status_code=204, responses=problems(400, 404, 409))
def delete_customer(
    customer_id: IdPath,
    database: DatabaseDep,
    admin: Annotated[Principal, requires(Permission.CUSTOMERS_DELETE)],
) -> Response:
    """Delete a customer who has no orders (one with orders is kept: 409). Admins only."""
    with database.write() as session:
        catalog.delete_customer(session, customer_id, actor=actor_of(admin))
    return Response(status_code=204)


@router.post(
    "/{customer_id}/balance",
    response_model=BalancePublic,
    responses=problems(400, 404),
)
def adjust_balance(
    customer_id: IdPath,
    body: BalanceAdjust,
    database: DatabaseDep,
    admin: Annotated[Principal, requires(Permission.BALANCE_ADJUST)],
) -> Response:
    """Top up (positive amount) or correct (negative) a balance, with a reason. Admins only."""
    with database.write() as session:
        balance = catalog.adjust_balance(
            session, customer_id, body.amount, reason=body.reason, actor=actor_of(admin)
        )
    return json_response(BalancePublic(customer_id=customer_id, balance=balance))


@router.get(
    "/{customer_id}/ledger",
    response_model=list[LedgerEntryPublic],
    responses=problems(400, 404),
)
def list_customer_ledger(
    customer_id: IdPath,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _staff: Annotated[Principal, requires(Permission.CUSTOMERS_READ)],
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    """Every change to the customer's balance, newest first, with the balance after it."""
    return ledger_page(request, database, customer_id, page_limit(settings, limit), cursor)


def ledger_page(
    request: Request, database: Database, customer_id: int, limit: int, cursor: str | None
) -> Response:
    """A page of a customer's ledger (staff and /api/me)."""
    with database.read() as session:
        page = ledger.list_entries(session, customer_id, limit=limit, cursor=cursor)
    return page_response(
        request, page, [LedgerEntryPublic.model_validate(entry) for entry in page.items]
    )


@router.get(
    "/{customer_id}/orders",
    response_model=list[OrderPublic],
    responses=problems(400, 404),
)
def list_customer_orders(
    customer_id: IdPath,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _staff: Annotated[Principal, requires(Permission.ORDERS_READ)],
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    """A customer's orders, newest first (`[]` when they have none)."""
    with database.read() as session:
        order_service.ensure_customer_exists(session, customer_id)
        page = order_views.list_orders(
            session,
            order_views.OrderFilters(customer_id=customer_id),
            limit=page_limit(settings, limit),
            cursor=cursor,
        )
    return page_response(request, page, [order_document(view) for view in page.items])
