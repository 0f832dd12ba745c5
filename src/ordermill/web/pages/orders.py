"""/admin/orders: the orders table (filters, sorts, pages, Fulfill, bulk processing)
and /admin/orders/{ref}: one order's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.domain.access import Permission
from ordermill.domain.orders import OrderStatus
from ordermill.domain.workflow import Action, OrderFacts, check
from ordermill.errors import InvalidInput
from ordermill.services import order_listing
from ordermill.services.accounts import Principal
from ordermill.services.order_views import OrderView
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.order_filters import SORTS, STATUSES, TableQuery, select_orders
from ordermill.web.pages.order_page import STRATEGIES, order_path, render_order_page
from ordermill.web.pages.render import render
from ordermill.web.pages.sessions import page_requires

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)
Reader = Annotated[Principal, page_requires(Permission.ORDERS_READ)]


def can_fulfill(view: OrderView) -> bool:
    """Whether the table shows the order's Fulfill button: the workflow allows it now,
    and it isn't shipped yet (fulfilling again would change nothing)."""
    facts = OrderFacts(status=OrderStatus(view.status), total=view.total, paid=view.paid)
    verdict = check(Action.FULFILL, facts)
    return verdict.allowed and not verdict.repeat


@router.get("/orders")
def orders_table(
    request: Request, database: DatabaseDep, settings: SettingsDep, _reader: Reader
) -> Response:
    query = TableQuery.of(request)
    rows: list[dict[str, object]] = []
    next_url = None
    with database.read() as session:
        chosen = select_orders(session, query, settings.timezone)
        if not chosen.problems and not chosen.empty:
            try:
                page = order_listing.list_orders(
                    session,
                    chosen.filters,
                    sort=chosen.sort,
                    limit=settings.page_size_default,
                    cursor=chosen.cursor,
                )
            except InvalidInput:
                chosen.problems["cursor"] = (
                    "This page's link was changed or belongs to another sort; "
                    "start again from the first page."
                )
            else:
                names = order_listing.customer_names(
                    session, [view.customer_id for view in page.items]
                )
                rows = [
                    {
                        "order": view,
                        "path": order_path(view),
                        "customer": names.get(view.customer_id, ("", "")),
                        "items": sum(line.quantity_ordered for line in view.lines),
                        "fulfill": can_fulfill(view),
                    }
                    for view in page.items
                ]
                if page.next_cursor:
                    next_url = query.url(cursor=page.next_cursor)
    return render(
        request,
        "admin/orders.html",
        status_code=400 if chosen.problems else 200,
        query=query,
        problems=chosen.problems,
        notes=chosen.notes,
        rows=rows,
        next_url=next_url,
        first_url=query.url(cursor="") if query.cursor else None,
        back=query.url(cursor=query.cursor),
        statuses=STATUSES,
        sorts={sort.value: label for sort, label in SORTS.items()},
        strategies=STRATEGIES,
    )


@router.get("/orders/{ref}")
def order_page(
    ref: str, request: Request, database: DatabaseDep, settings: SettingsDep, _reader: Reader
) -> Response:
    return render_order_page(request, database, settings, ref)
