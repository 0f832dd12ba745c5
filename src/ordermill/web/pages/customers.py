"""/admin/customers: the customers with a search, and one customer's page.

A customer's page shows their balance, the ledger of every change to it and their
orders, each list a page at a time. The forms (new, edit, balance) are in
``customer_forms``. Permissions are the API's for the same reads
(``web/api/customers.py``): customers:read, and orders:read for their orders.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.domain.access import Permission, allows
from ordermill.errors import InvalidInput
from ordermill.services import catalog, ledger, order_views
from ordermill.services.accounts import Principal
from ordermill.web.deps import DatabaseDep, IdPath, SettingsDep
from ordermill.web.pages.render import render
from ordermill.web.pages.sessions import page_requires
from ordermill.web.schemas import CustomerPublic

router = APIRouter(
    prefix="/admin/customers", include_in_schema=False, default_response_class=HTMLResponse
)
Reader = Annotated[Principal, page_requires(Permission.CUSTOMERS_READ)]
Cursor = Annotated[str | None, Query(max_length=200)]
# The search box; longer than any name or email (the service says so in words).
Search = Annotated[str | None, Query(max_length=1000)]
PAGE_SIZE = 50


def page_url(path: str, **params: str | None) -> str:
    """``path`` with the query ``params`` that have a value."""
    kept = {name: value for name, value in params.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path


@router.get("")
def customers_page(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    staff: Reader,
    q: Search = None,
    cursor: Cursor = None,
) -> Response:
    """The customers by id, or those whose name or email holds ``q``."""
    error = None
    try:
        with database.read() as session:
            page = catalog.list_customers(session, limit=PAGE_SIZE, cursor=cursor, search=q)
            customers = [CustomerPublic.model_validate(found) for found in page.items]
    except InvalidInput as exc:
        error, customers, next_url = exc.message, [], None
    else:
        next_url = page.next_cursor and page_url(request.url.path, q=q, cursor=page.next_cursor)
    return render(
        request,
        "admin/customers.html",
        status_code=400 if error else 200,
        customers=customers,
        q=q or "",
        error=error,
        next_url=next_url,
        currency=settings.currency,
        can_create=allows(staff.role, Permission.CUSTOMERS_WRITE),
    )


@router.get("/{customer_id}")
def customer_page(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    customer_id: IdPath,
    staff: Reader,
    ledger_cursor: Cursor = None,
    orders_cursor: Cursor = None,
) -> Response:
    """One customer: details, balance, ledger and orders (unknown: 404 page)."""
    sees_orders = allows(staff.role, Permission.ORDERS_READ)
    with database.read() as session:
        customer = CustomerPublic.model_validate(catalog.get_customer(session, customer_id))
        entries = ledger.list_entries(
            session, customer_id, limit=PAGE_SIZE // 2, cursor=ledger_cursor
        )
        orders = (
            order_views.list_orders(
                session,
                order_views.OrderFilters(customer_id=customer_id),
                limit=PAGE_SIZE // 2,
                cursor=orders_cursor,
            )
            if sees_orders
            else None
        )
    path = request.url.path
    return render(
        request,
        "admin/customer.html",
        customer=customer,
        currency=settings.currency,
        entries=entries.items,
        ledger_next=entries.next_cursor
        and page_url(path, ledger_cursor=entries.next_cursor, orders_cursor=orders_cursor),
        orders=orders.items if orders else None,
        orders_next=orders
        and orders.next_cursor
        and page_url(path, ledger_cursor=ledger_cursor, orders_cursor=orders.next_cursor),
        can_edit=allows(staff.role, Permission.CUSTOMERS_WRITE),
        can_adjust=allows(staff.role, Permission.BALANCE_ADJUST),
    )
