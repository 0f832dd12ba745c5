"""The order's journey after it is paid: Fulfill (from its page or the orders table),
Deliver, and Return (some lines and quantities, or all of them).

Fulfilling or delivering an order twice succeeds and changes nothing (the first
date is kept): the second click says so, with the date of the first.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ordermill.display import money, when
from ordermill.models import utcnow
from ordermill.services import workflow as flow_service
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages import order_forms as forms
from ordermill.web.pages.order_actions import Field, Outcome, Writer, again, perform
from ordermill.web.pages.order_forms import FormError
from ordermill.web.pages.order_page import FormState
from ordermill.web.pages.sessions import CsrfChecked

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)
MAX_SHIPPING_TEXT = 100  # the carrier's and the tracking number's columns


@router.post("/orders/{ref}/fulfill", dependencies=[CsrfChecked])
def fulfill(
    ref: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    carrier: Field = "",
    tracking_number: Field = "",
    back: Field = "",
) -> Response:
    """Mark the order shipped; from the orders table (``back``), return to it as it was."""
    form = FormState("fulfill", {"carrier": carrier, "tracking_number": tracking_number})
    try:
        shipper = forms.text(form.values, "carrier", limit=MAX_SHIPPING_TEXT)
        tracking = forms.text(form.values, "tracking_number", limit=MAX_SHIPPING_TEXT)
    except FormError as exc:
        form.errors[exc.field] = exc.message
        return again(request, database, settings, ref, form)
    zone = ZoneInfo(settings.timezone)

    def run(session: Session, order_id: int) -> Outcome:
        now = utcnow()
        view = flow_service.fulfill(
            session,
            order_id,
            carrier=shipper,
            tracking_number=tracking,
            now=now,
            actor=actor_of(writer),
        )
        target = f"/admin/orders/{view.ref}"
        if view.fulfilled != now:
            return Outcome(
                target,
                f"Order {view.ref} was already shipped on {when(view.fulfilled, zone)}; "
                "nothing changed.",
                changed=False,
            )
        said = f"Order {view.ref} marked as shipped"
        if shipper or tracking:
            said += f" ({', '.join(part for part in (shipper, tracking) if part)})"
        return Outcome(target, said + ".")

    return perform(request, database, settings, ref, run, form=form, back=forms.back_to(back))


@router.post("/orders/{ref}/deliver", dependencies=[CsrfChecked])
def deliver(
    ref: str, request: Request, database: DatabaseDep, settings: SettingsDep, writer: Writer
) -> Response:
    zone = ZoneInfo(settings.timezone)

    def run(session: Session, order_id: int) -> Outcome:
        now = utcnow()
        view = flow_service.deliver(session, order_id, now=now, actor=actor_of(writer))
        target = f"/admin/orders/{view.ref}"
        if view.delivered != now:
            return Outcome(
                target,
                f"Order {view.ref} was already delivered on {when(view.delivered, zone)}; "
                "nothing changed.",
                changed=False,
            )
        return Outcome(target, f"Order {view.ref} marked as delivered.")

    return perform(request, database, settings, ref, run)


@router.post("/orders/{ref}/return", dependencies=[CsrfChecked])
def return_order(
    ref: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    values: forms.Posted,
) -> Response:
    """Take back the units typed for each line, refunded to the balance, restocked if asked."""
    form = FormState("return", values)
    restock = values.get("restock") == "yes"
    try:
        lines = forms.return_lines(values, restock)
        reason = forms.text(values, "reason", limit=500)
    except FormError as exc:
        form.errors[exc.field] = exc.message
        return again(request, database, settings, ref, form)

    def run(session: Session, order_id: int) -> Outcome:
        view = flow_service.return_order(
            session, order_id, lines=lines, restock=restock, reason=reason, actor=actor_of(writer)
        )
        units = sum(line.quantity for line in lines)
        said = f"Return recorded on order {view.ref}: {units} unit(s) came back"
        said += ", back in stock." if restock else ", not put back in stock."
        refunded = money(view.refunded, view.currency)
        said += f" Refunded to the customer's balance so far: {refunded}."
        return Outcome(f"/admin/orders/{view.ref}", said)

    return perform(request, database, settings, ref, run, form=form)
