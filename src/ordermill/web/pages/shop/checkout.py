"""/checkout and /orders/{number}/thank-you: the customer turns their cart into an order.

The checkout page shows the cart at today's prices, the total and the store balance,
with the shipping address of the customer's last order filled in. **Purchase Now**
calls ``services.carts.checkout``, the function ``POST /api/me/cart/checkout`` calls,
in one transaction: the order is created and the cart emptied, or nothing happens.
The form carries a key made when the page was rendered (``once``), so a double click
or a resubmitted form places one order and every answer leads to its thank-you page;
a second tab checking out the same cart finds it empty and says so.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.errors import Code, OrdermillError, kind_of
from ordermill.services import carts, catalog, order_views
from ordermill.services.accounts import Principal
from ordermill.services.carts import CartView
from ordermill.web.account_schemas import MeCheckout
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages.form_checks import FORM, check
from ordermill.web.pages.render import explain, redirect, render
from ordermill.web.pages.sessions import CUSTOMER, CsrfChecked, page_requires
from ordermill.web.pages.shop.once import KEY_FIELD, new_form_key, submit_once
from ordermill.web.pages.shop.order_words import next_steps, status_words

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Me = Annotated[Principal, page_requires(Permission.SELF_SERVICE, CUSTOMER)]
# A form field; its length is checked by the API's schema and said next to the field.
Field = Annotated[str, Form()]
FIELDS = ("shipping_address", "note")
CART_EMPTY = (
    "Your cart is empty, so nothing was ordered. If you just placed an order from it "
    "(in another tab, perhaps), you will find it in My Orders."
)
KEY_USED = (
    "This checkout form was sent before with other details, and its order was placed "
    "then: see My Orders. To order again, check your cart and send this new form."
)


def customer_of(me: Principal) -> int:
    assert me.customer_id is not None  # SELF_SERVICE is a customer's permission
    return me.customer_id


def thank_you_path(number: str) -> str:
    return f"/orders/{number}/thank-you"


def problems_of(cart: CartView) -> dict[int, str]:
    """What would stop each line of the cart from being ordered now, by product id."""
    found = {}
    for item in cart.items:
        if not item.active:
            found[item.product_id] = "No longer sold: take it out of your cart."
        elif item.available <= 0:
            found[item.product_id] = "Sold out."
        elif item.quantity > item.available:
            found[item.product_id] = f"Only {item.available} left."
    return found


def _names(cart: CartView, product_ids: list[Any]) -> str:
    by_id = {item.product_id: item.name for item in cart.items}
    return ", ".join(by_id.get(pid, f"product {pid}") for pid in product_ids)


def refusal(exc: OrdermillError, cart: CartView) -> str:
    """Why the cart could not be ordered, naming its products (``cart``: as it is now,
    the checkout having changed nothing)."""
    if exc.code == Code.CART_EMPTY:
        return CART_EMPTY
    if exc.code == Code.INSUFFICIENT_STOCK:
        by_id = {item.product_id: item.name for item in cart.items}
        short = []
        for line in exc.detail.get("short_lines", []):
            name = by_id.get(line["product_id"], f"product {line['product_id']}")
            left, wanted = line["available"], line["ordered"]
            if left <= 0:
                short.append(f"{name} is sold out (your cart has {wanted})")
            else:
                verb = "is" if left == 1 else "are"
                short.append(f"only {left} of {name} {verb} left (your cart has {wanted})")
        said = "; ".join(short)
        return (
            f"Not enough stock: {said[:1].upper()}{said[1:]}. Nothing was ordered: change "
            "the quantities in your cart, then check out again."
        )
    if exc.code == Code.PRODUCT_INACTIVE:
        return (
            f"No longer sold: {_names(cart, exc.detail.get('product_ids', []))}. Nothing was "
            "ordered: take them out of your cart, then check out again."
        )
    if exc.code == Code.PRODUCT_NOT_FOUND:
        return (
            f"No longer in the catalogue: {_names(cart, exc.detail.get('product_ids', []))}. "
            "Nothing was ordered: check your cart, then check out again."
        )
    if exc.code == Code.IDEMPOTENCY_KEY_REUSED:
        return KEY_USED
    if exc.detail.get("field") == KEY_FIELD:
        return exc.message
    return explain(exc)


def checkout_page(
    request: Request,
    database: Database,
    settings: Settings,
    me: Principal,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    form_key: str | None = None,
) -> HTMLResponse:
    """The checkout page; ``values`` and ``errors``: the form sent back, what is wrong."""
    customer_id = customer_of(me)
    with database.read() as session:
        cart = carts.get_cart(session, customer_id)
        balance = catalog.get_customer(session, customer_id).balance
        last_address = order_views.last_shipping_address(session, customer_id)
    return render(
        request,
        "shop/checkout.html",
        status_code=status_code,
        cart=cart,
        problems=problems_of(cart),
        currency=settings.currency,
        balance=balance,
        flow=settings.payment_flow.value,
        values=values or {"shipping_address": last_address or "", "note": ""},
        errors=errors or {},
        form_key=form_key or new_form_key(),
    )


@router.get("/checkout")
def checkout_form(
    request: Request, database: DatabaseDep, settings: SettingsDep, me: Me
) -> Response:
    """The order summary and the form that places the order."""
    return checkout_page(request, database, settings, me)


@router.post("/checkout", dependencies=[CsrfChecked])
def purchase(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Me,
    shipping_address: Field = "",
    note: Field = "",
    form_key: Field = "",
) -> Response:
    """Place the order from the cart and empty it, once per form; then its thank-you page."""
    values = {"shipping_address": shipping_address, "note": note}

    def again(errors: dict[str, str], status: int, key: str | None = form_key) -> Response:
        return checkout_page(
            request,
            database,
            settings,
            me,
            values=values,
            errors=errors,
            status_code=status,
            form_key=key,
        )

    body, errors = check(
        MeCheckout, {name: value.strip() or None for name, value in values.items()}
    )
    if body is None:
        return again(errors, 400)

    def work(session: Session) -> Response:
        order = carts.checkout(
            session,
            customer_of(me),
            currency=settings.currency,
            shipping_address=body.shipping_address,
            note=body.note,
            actor=actor_of(me),
        )
        return redirect(request, thank_you_path(order.number))

    payload = body.model_dump(mode="json")
    try:
        return submit_once(request, database, form_key, payload, work, owner=me)
    except OrdermillError as exc:
        with database.read() as session:
            cart = carts.get_cart(session, customer_of(me))
        # A key used with other details already placed its order: a new form, a new key.
        fresh = exc.code == Code.IDEMPOTENCY_KEY_REUSED or exc.detail.get("field") == KEY_FIELD
        key = None if fresh else form_key
        field = exc.detail.get("field")
        where = field if field in FIELDS else FORM
        return again({where: refusal(exc, cart)}, kind_of(exc).status, key)


@router.get("/orders/{number}/thank-you")
def thank_you(
    request: Request, database: DatabaseDep, settings: SettingsDep, me: Me, number: str
) -> Response:
    """The order just placed: what was ordered and what happens next."""
    with database.read() as session:
        view = order_views.get_customer_order(session, number, customer_of(me))
    return render(
        request,
        "shop/thank_you.html",
        order=view,
        status=status_words(view.status),
        next_steps=next_steps(view, settings.payment_flow),
    )
