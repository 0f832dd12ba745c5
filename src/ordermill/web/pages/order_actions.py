"""The order page's forms: Process, Mark as Paid, Fulfill, Deliver, Cancel, Return,
Delete and notes.

Each POST checks its CSRF token before anything else, calls the service the API
calls in one write transaction, and redirects back to the order's page with what
happened, or why not in words (``explain``): a second click on an order someone
else just changed lands on the page as they left it, with the reason. A wrong
field shows the page again with the message next to it (400), nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.display import money
from ordermill.domain.access import Permission
from ordermill.domain.orders import OrderStatus, Strategy
from ordermill.errors import Code, InvalidInput, NotFound, OrdermillError
from ordermill.services import order_details, order_views, processing, timeline
from ordermill.services import orders as order_service
from ordermill.services import workflow as flow_service
from ordermill.services.accounts import Principal
from ordermill.services.timeline import Visibility
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages import order_forms as forms
from ordermill.web.pages.order_forms import FormError
from ordermill.web.pages.order_page import PAYMENT_METHODS, FormState, render_order_page
from ordermill.web.pages.render import explain, redirect
from ordermill.web.pages.sessions import CsrfChecked, page_requires

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)
Writer = Annotated[Principal, page_requires(Permission.ORDERS_WRITE)]
Field = Annotated[str, Form()]
MAX_NOTE = 2000  # as the API takes


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where an action sends staff, and what it tells them."""

    target: str
    message: str
    changed: bool = True  # False: nothing to do (shown as an error, so it is noticed)


Run = Callable[[Session, int], Outcome]


def page_of(ref: str) -> str:
    """The order's page, by what the URL named it (an id or a number, checked by now)."""
    return f"/admin/orders/{quote(ref.strip(), safe='')}"


def perform(
    request: Request,
    database: Database,
    settings: Settings,
    ref: str,
    run: Run,
    *,
    form: FormState | None = None,
    back: str | None = None,
) -> Response:
    """``run`` on the order ``ref`` names, in one write transaction; then back to its page
    (or to ``back``) with what happened, or why not."""
    try:
        with database.write() as session:
            outcome = run(session, order_views.resolve_order_id(session, ref))
    except NotFound as exc:
        said = f"{exc.message} It may have been deleted meanwhile."
        return redirect(request, back or "/admin/orders", error=said)
    except InvalidInput as exc:
        field = exc.detail.get("field")
        if field == "order":
            raise  # the URL names no order: the 400 page
        if form is not None and isinstance(field, str) and back is None:
            form.errors[field] = explain(exc)
            return again(request, database, settings, ref, form)
        return redirect(request, back or page_of(ref), error=explain(exc))
    except OrdermillError as exc:
        return redirect(request, back or page_of(ref), error=refusal(exc))
    if not outcome.changed:
        return redirect(request, back or outcome.target, error=outcome.message)
    return redirect(request, back or outcome.target, ok=outcome.message)


def refusal(exc: OrdermillError) -> str:
    """Why not, in words: the service's message and what its code means; for a shortage,
    what staff can do instead (the catalogue's meaning speaks of the API's fields)."""
    if exc.code == Code.INSUFFICIENT_STOCK:
        return f"{exc.message}. Choose Adjust or Ignore to process what is in stock."
    return explain(exc)


def again(
    request: Request, database: Database, settings: Settings, ref: str, form: FormState
) -> Response:
    """The order's page with the form sent back, its wrong field marked (400)."""
    return render_order_page(request, database, settings, ref, status_code=400, form=form)


# ---------------------------------------------------------------- process, pay


@router.post("/orders/{ref}/process", dependencies=[CsrfChecked])
def process(
    ref: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    strategy: Field = Strategy.ADJUST.value,
) -> Response:
    form = FormState("process", {"strategy": strategy})
    if strategy not in {s.value for s in Strategy}:
        form.errors["strategy"] = "Choose what to do when stock is short: adjust, reject or ignore."
        return again(request, database, settings, ref, form)
    chosen = Strategy(strategy)

    def run(session: Session, order_id: int) -> Outcome:
        view = processing.process_order(
            session, order_id, chosen, flow=settings.payment_flow, actor=actor_of(writer)
        )
        total = money(view.total, view.currency)
        if view.status == OrderStatus.AWAITING_PAYMENT:
            said = f"Order {view.ref} processed: its stock is held until {total} is paid."
        else:
            said = f"Order {view.ref} processed: {total} charged to the customer's balance."
        changed = [
            f"{line.sku} {line.quantity} of {line.quantity_ordered}"
            for line in view.lines
            if line.quantity != line.quantity_ordered
        ]
        if changed:
            said += f" Quantities changed to what was in stock: {', '.join(changed)}."
        return Outcome(f"/admin/orders/{view.ref}", said)

    return perform(request, database, settings, ref, run, form=form)


@router.post("/orders/{ref}/pay", dependencies=[CsrfChecked])
def pay(
    ref: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    amount: Field = "",
    method: Field = "",
    reference: Field = "",
) -> Response:
    form = FormState("pay", {"amount": amount, "method": method, "reference": reference})
    try:
        received = forms.amount(form.values)
        if method not in PAYMENT_METHODS:
            raise FormError("method", "Choose how the money was paid from the list.")
        code = forms.text(form.values, "reference", limit=flow_service.MAX_REFERENCE)
    except FormError as exc:
        form.errors[exc.field] = exc.message
        return again(request, database, settings, ref, form)

    def run(session: Session, order_id: int) -> Outcome:
        seen = code is not None and order_details.has_payment_reference(session, order_id, code)
        view = flow_service.pay(
            session,
            order_id,
            amount=received,
            method=method,
            reference=code,
            actor=actor_of(writer),
        )
        target = f"/admin/orders/{view.ref}"
        if seen:
            return Outcome(
                target,
                f"A payment with the reference {code} is already recorded on order "
                f"{view.ref}; nothing changed.",
                changed=False,
            )
        said = f"Payment of {money(received, view.currency)} recorded on order {view.ref}."
        if view.status == OrderStatus.PROCESSED:
            said += " The order is paid in full."
        else:
            said += f" Still due: {money(view.balance_due, view.currency)}."
        credited = order_details.payments_of(session, order_id)[-1].credited
        if credited:
            said += (
                f" {money(credited, view.currency)} over the total went to the customer's balance."
            )
        return Outcome(target, said)

    return perform(request, database, settings, ref, run, form=form)


# ---------------------------------------------------------------- cancel, delete, notes


@router.post("/orders/{ref}/cancel", dependencies=[CsrfChecked])
def cancel(
    ref: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    reason: Field = "",
) -> Response:
    form = FormState("cancel", {"reason": reason})
    try:
        why = forms.text(
            form.values, "reason", limit=500, required="Say why the order is cancelled."
        )
    except FormError as exc:
        form.errors[exc.field] = exc.message
        return again(request, database, settings, ref, form)
    assert why is not None

    def run(session: Session, order_id: int) -> Outcome:
        view = flow_service.cancel(session, order_id, reason=why, actor=actor_of(writer))
        said = f"Order {view.ref} cancelled; its stock is back on the shelves."
        if view.refunded:
            said += f" {money(view.refunded, view.currency)} refunded to the customer's balance."
        return Outcome(f"/admin/orders/{view.ref}", said)

    return perform(request, database, settings, ref, run, form=form)


@router.post("/orders/{ref}/delete", dependencies=[CsrfChecked])
def delete(
    ref: str, request: Request, database: DatabaseDep, settings: SettingsDep, writer: Writer
) -> Response:
    """Delete a pending order; the service refuses any other, however the POST was made."""

    def run(session: Session, order_id: int) -> Outcome:
        number = order_views.get_order(session, order_id).ref
        order_service.delete_order(session, order_id, actor=actor_of(writer))
        return Outcome("/admin/orders", f"Order {number} deleted.")

    return perform(request, database, settings, ref, run)


@router.post("/orders/{ref}/notes", dependencies=[CsrfChecked])
def add_note(
    ref: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    text: Field = "",
    visibility: Field = Visibility.STAFF.value,
) -> Response:
    form = FormState("note", {"text": text, "visibility": visibility})
    try:
        said = forms.text(form.values, "text", limit=MAX_NOTE, required="Type the note first.")
        if visibility not in {v.value for v in Visibility}:
            raise FormError("visibility", "Choose who sees the note: staff, or the customer too.")
    except FormError as exc:
        form.errors[exc.field] = exc.message
        return again(request, database, settings, ref, form)
    assert said is not None

    def run(session: Session, order_id: int) -> Outcome:
        timeline.add_note(
            session, order_id, said, visibility=Visibility(visibility), actor=actor_of(writer)
        )
        view = order_views.get_order(session, order_id)
        seen = "staff only" if visibility == Visibility.STAFF else "staff and the customer"
        return Outcome(f"/admin/orders/{view.ref}#timeline", f"Note added ({seen} see it).")

    return perform(request, database, settings, ref, run, form=form)
