"""The forms on a customer's order page: Order again, and Cancel.

Both look the order up by its number and the customer in the same write transaction
as the change (another customer's order: the 404 page, nothing changed), call the
service ``/api/me`` calls, and go through ``once``: the same form sent twice does its
work once. A cancel the workflow refuses now (the store took the payment meanwhile,
say) comes back to the order page with the reason in words.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ordermill.display import money
from ordermill.errors import Code, InvalidInput, NotFound, OrdermillError
from ordermill.services import carts, order_views
from ordermill.services import workflow as flow_service
from ordermill.services.carts import Reordered
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.form_checks import check
from ordermill.web.pages.render import explain, redirect
from ordermill.web.pages.sessions import CsrfChecked
from ordermill.web.pages.shop.checkout import Field, Me, customer_of
from ordermill.web.pages.shop.my_orders import order_page, order_path
from ordermill.web.pages.shop.once import KEY_FIELD, submit_once
from ordermill.web.pages.shop.order_words import CANCEL_REFUSALS
from ordermill.web.schemas import CustomerCancel

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
DEFAULT_REASON = "cancelled by the customer"  # as the API's
NAMES_LISTED = 4  # a message names a few products, then says how many more
NAME_LENGTH = 40  # and shortens long names: it travels in a cookie


def said(exc: OrdermillError) -> str:
    """A refusal in words; a damaged form says so in its own."""
    return exc.message if exc.detail.get("field") == KEY_FIELD else explain(exc)


def _short(name: str) -> str:
    return name if len(name) <= NAME_LENGTH else name[: NAME_LENGTH - 1].rstrip() + "…"


def listing(names: list[str]) -> str:
    """A few names, then how many more: "A, B, C, D and 3 more"."""
    shown = ", ".join(names[:NAMES_LISTED])
    rest = len(names) - NAMES_LISTED
    return f"{shown} and {rest} more" if rest > 0 else shown


def reorder_messages(number: str, result: Reordered) -> tuple[str | None, str | None]:
    """What a reorder did, in words: (what was added, what is gone or short)."""
    in_cart = {item.product_id: item for item in result.cart.items}
    added = []
    short = []
    for line in result.added:
        item = in_cart.get(line["product_id"])
        name = _short(item.name if item else line["sku"])
        added.append(f"{name} ({line['quantity']})")
        if item is not None and item.quantity > item.available:
            left = f"only {item.available} left" if item.available > 0 else "sold out"
            short.append(f"{name} ({left})")
    ok = None
    if added:
        ok = f"Added to your cart from order {number}, at today's prices: {listing(added)}."
    problems = []
    gone = [_short(line["name"]) for line in result.unavailable]
    if gone:
        problems.append(f"No longer sold, so not added: {listing(gone)}.")
    if short:
        problems.append(f"Not enough in stock for what is in your cart: {listing(short)}.")
    return ok, " ".join(problems) or None


@router.post("/account/orders/{number}/reorder", dependencies=[CsrfChecked])
def reorder(
    request: Request, database: DatabaseDep, me: Me, number: str, form_key: Field = ""
) -> Response:
    """Put the order's products in the cart again, at today's prices; then the cart."""
    customer_id = customer_of(me)

    def work(session: Session) -> Response:
        view = order_views.get_customer_order(session, number, customer_id)
        result = carts.reorder(session, view.id, customer_id=customer_id)
        added, problems = reorder_messages(view.number, result)
        if added is None:
            nothing = "Nothing was added to your cart. "
            return redirect(request, order_path(view.number), error=nothing + (problems or ""))
        return redirect(request, "/cart", ok=added, error=problems)

    replayed = "This form was sent already, so nothing was added to your cart twice."
    try:
        return submit_once(request, database, form_key, {}, work, owner=me, replayed=replayed)
    except NotFound:
        raise
    except OrdermillError as exc:
        return redirect(request, order_path(number), error=said(exc))


@router.post("/account/orders/{number}/cancel", dependencies=[CsrfChecked])
def cancel(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Me,
    number: str,
    reason: Field = "",
    form_key: Field = "",
) -> Response:
    """Cancel the order while the workflow lets its customer; what was paid is refunded."""
    customer_id = customer_of(me)
    values = {"reason": reason}

    def again(errors: dict[str, str]) -> HTMLResponse:
        return order_page(
            request, database, settings, me, number, values=values, errors=errors, status_code=400
        )

    body, errors = check(CustomerCancel, {"reason": reason.strip() or None})
    if body is None:
        return again(errors)
    why = body.reason or DEFAULT_REASON

    def work(session: Session) -> Response:
        view = order_views.get_customer_order(session, number, customer_id)
        after = flow_service.cancel(
            session, view.id, reason=why, actor=actor_of(me), customer_id=customer_id
        )
        said = f"Order {after.number} is cancelled."
        if after.refunded:
            said += f" {money(after.refunded, after.currency)} went back to your store balance."
        return redirect(request, order_path(after.number), ok=said)

    payload: dict[str, Any] = body.model_dump(mode="json")
    try:
        return submit_once(
            request,
            database,
            form_key,
            payload,
            work,
            owner=me,
            replayed=f"Order {number} is cancelled.",
        )
    except NotFound:
        raise
    except InvalidInput as exc:
        if exc.detail.get("field") == "reason":
            return again({"reason": explain(exc)})
        return redirect(request, order_path(number), error=said(exc))
    except OrdermillError as exc:
        if exc.code == Code.ALREADY_CANCELLED:
            told = f"Order {number} is cancelled already; nothing changed."
        else:
            words = CANCEL_REFUSALS.get(exc.code) or explain(exc)
            told = f"Order {number} was not cancelled: {words}"
        return redirect(request, order_path(number), error=told)
