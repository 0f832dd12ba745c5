"""/account/orders: the customer's orders, one order's page, and its invoice.

An order is looked up by its number and the customer together
(``order_views.get_customer_order``): another customer's order is the same 404 page as a
number no order has. The order page shows what the customer may do with it
(``workflow.actions`` for a customer: cancel, or why not) and **Order again**; their
forms post to ``my_order_forms``. The invoice is the back office's
(``documents/invoice.html``), there once the order is paid, a 409 page before.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.workflow import Action
from ordermill.services import documents, order_details, order_views, timeline
from ordermill.services import workflow as flow_service
from ordermill.services.accounts import Principal
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.documents import INVOICE, document_context, refused_page
from ordermill.web.pages.render import render
from ordermill.web.pages.shop.checkout import Me, customer_of
from ordermill.web.pages.shop.once import new_form_key
from ordermill.web.pages.shop.order_words import (
    PAYMENT_METHODS,
    cancel_refusal,
    history,
    moments,
    next_steps,
    status_words,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Cursor = Annotated[str | None, Query(max_length=200)]


def order_path(number: str) -> str:
    return f"/account/orders/{quote(number, safe='')}"


@router.get("/account/orders")
def my_orders(
    request: Request, database: DatabaseDep, settings: SettingsDep, me: Me, cursor: Cursor = None
) -> Response:
    """The customer's orders, newest first, a page at a time."""
    with database.read() as session:
        page = order_views.list_orders(
            session,
            order_views.OrderFilters(customer_id=customer_of(me)),
            limit=settings.page_size_default,
            cursor=cursor,
        )
    rows = [
        {
            "order": view,
            "path": order_path(view.number),
            "status": status_words(view.status),
            "units": sum(line.quantity_ordered for line in view.lines),
        }
        for view in page.items
    ]
    return render(
        request,
        "shop/orders.html",
        rows=rows,
        first_page=cursor is None,
        next_url=page.next_cursor
        and f"{request.url.path}?{urlencode({'cursor': page.next_cursor})}",
    )


def order_page(
    request: Request,
    database: Database,
    settings: Settings,
    me: Principal,
    number: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """One of the customer's orders, with the cancel form sent back when ``errors``."""
    customer_id = customer_of(me)
    with database.read() as session:
        view = order_views.get_customer_order(session, number, customer_id)
        _, verdicts = flow_service.actions(
            session, view.id, flow=settings.payment_flow, customer_id=customer_id
        )
        payments = order_details.payments_of(session, view.id)
        events = timeline.list_events(session, view.id, customer_id=customer_id)
    cancel = next(verdict for verdict in verdicts if verdict.action is Action.CANCEL)
    return render(
        request,
        "shop/order.html",
        status_code=status_code,
        order=view,
        path_of_order=order_path(view.number),
        status=status_words(view.status),
        next_steps=next_steps(view, settings.payment_flow),
        moments=moments(view),
        payments=payments,
        methods=PAYMENT_METHODS,
        timeline=history(events, view),
        can_cancel=cancel.allowed,
        why_not_cancel=None if cancel.allowed else cancel_refusal(cancel.reason),
        invoice_ready=documents.invoice_ready(view),
        values=values or {"reason": ""},
        errors=errors or {},
        cancel_key=new_form_key(),
        reorder_key=new_form_key(),
    )


@router.get("/account/orders/{number}")
def my_order(
    request: Request, database: DatabaseDep, settings: SettingsDep, me: Me, number: str
) -> Response:
    """One of the customer's orders: lines, totals, status, payments and history."""
    return order_page(request, database, settings, me, number)


@router.get("/account/orders/{number}/invoice")
def my_invoice(request: Request, database: DatabaseDep, me: Me, number: str) -> Response:
    """The order's invoice as the store prints it, once the order is paid."""
    with database.read() as session:
        view = order_views.get_customer_order(session, number, customer_of(me))
        document = documents.document_of(session, view)
    back = order_path(view.number)
    refused = refused_page(request, document, INVOICE, back)
    if refused is not None:
        return refused
    return render(
        request, "shop/invoice.html", kind=INVOICE, back=back, **document_context(request, document)
    )
