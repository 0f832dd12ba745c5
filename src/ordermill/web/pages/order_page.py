"""One order's page: everything about it, and the actions the workflow allows now.

Read in one transaction: the order and its verdicts (``services.workflow.actions``,
the same the API's ``GET /api/orders/{id}/actions`` answers), its customer, its
payments, its timeline with the messages sent about it, and the stock of its
products now. The action forms post to ``order_actions``; when one of them comes
back with a wrong field, the page is shown again with the message next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.money import format_amount
from ordermill.domain.orders import OrderStatus, Strategy
from ordermill.domain.workflow import Action, PaymentFlow, Verdict
from ordermill.services import catalog, order_details, order_views, timeline
from ordermill.services import workflow as flow_service
from ordermill.services.order_views import OrderView
from ordermill.web.pages.order_timeline import MESSAGE_STATES, entries
from ordermill.web.pages.render import render

# The actions as staff say them, in the order the page shows them.
LABELS = {
    Action.PROCESS: "Process",
    Action.PAY: "Mark as Paid",
    Action.FULFILL: "Fulfill",
    Action.DELIVER: "Deliver",
    Action.CANCEL: "Cancel",
    Action.RETURN: "Return",
}
STRATEGIES = {
    Strategy.ADJUST: "Adjust: sell what is in stock",
    Strategy.REJECT: "Reject: don't process the order",
    Strategy.IGNORE: "Ignore: leave out the short lines",
}
PAYMENT_METHODS = {
    "bank_transfer": "Bank transfer",
    "card": "Card",
    "cash": "Cash",
    "cheque": "Cheque",
    "other": "Other",
}
FLOWS = {
    PaymentFlow.BALANCE: "charged to the customer's balance at once",
    PaymentFlow.ADVANCE: "paid in advance: the stock is held until the money arrives",
}
DELETE_REFUSED = (
    "Only a pending order can be deleted; once processed, an order is kept for the books."
)


@dataclass(frozen=True, slots=True)
class Panel:
    """One action on the page: its form when allowed now, else why not in words."""

    action: str
    label: str
    allowed: bool
    reason: str | None = None  # why not
    # Allowed, but done already (taking it again changes nothing): what and when.
    done: str | None = None
    done_on: datetime | None = None


@dataclass(slots=True)
class FormState:
    """A form sent back with wrong fields: which form, what was typed, what is wrong."""

    action: str
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def order_path(view: OrderView) -> str:
    return f"/admin/orders/{view.ref}"


def panels(view: OrderView, verdicts: list[Verdict]) -> list[Panel]:
    out = []
    for verdict in verdicts:
        done, done_on = None, None
        if verdict.repeat and verdict.action is Action.FULFILL:
            done, done_on = "shipped", view.fulfilled
        elif verdict.repeat:
            done, done_on = "delivered", view.delivered
        out.append(
            Panel(
                verdict.action.value,
                LABELS[verdict.action],
                verdict.allowed and not verdict.repeat,
                verdict.message,
                done,
                done_on,
            )
        )
    deletable = view.status == OrderStatus.PENDING
    out.append(Panel("delete", "Delete", deletable, None if deletable else DELETE_REFUSED))
    return out


def documents(view: OrderView) -> dict[str, bool]:
    """Which printable documents the order has now: an invoice once it is paid, a
    delivery note once it is processed (and not cancelled)."""
    return {
        "invoice": view.is_fully_paid,
        "delivery_note": view.processed is not None and view.status != OrderStatus.CANCELLED,
    }


def render_order_page(
    request: Request,
    database: Database,
    settings: Settings,
    ref: str,
    *,
    status_code: int = 200,
    form: FormState | None = None,
) -> HTMLResponse:
    """The order's page (``ref``: its id or number); a NotFound becomes the 404 page."""
    with database.read() as session:
        order_id = order_views.resolve_order_id(session, ref)
        view, verdicts = flow_service.actions(session, order_id, flow=settings.payment_flow)
        customer = catalog.get_customer(session, view.customer_id)
        payments = order_details.payments_of(session, order_id)
        events = timeline.list_events(session, order_id)
        stock = order_details.stock_now(session, [line.product_id for line in view.lines])
        buyer = {
            "id": customer.id,
            "name": customer.name,
            "email": customer.email,
            "balance": customer.balance,
        }
    return render(
        request,
        "admin/order.html",
        status_code=status_code,
        order=view,
        path_of_order=order_path(view),
        panels=panels(view, verdicts),
        documents=documents(view),
        payments=payments,
        timeline=entries(events, view.currency, {line.id: line.sku for line in view.lines}),
        stock=stock,
        states=MESSAGE_STATES,
        strategies=STRATEGIES,
        methods=PAYMENT_METHODS,
        flow=FLOWS[settings.payment_flow],
        amount_due=format_amount(view.balance_due),
        form=form or FormState(""),
        customer=buyer,
    )
