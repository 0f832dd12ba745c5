"""/cart: the signed-in customer's cart, and the forms that fill it.

``POST /cart/items`` is the catalogue's Add to cart (it adds to what the cart
holds and goes back to the page the form was on); ``POST /cart/items/{id}`` sets a
line's quantity and ``/remove`` takes it out. The rules are the service's
(``services.carts``): never more than the stock, nothing out of stock or no
longer sold. Someone not signed in who presses a button logs in first and comes
back to the page they were on, not to the form's address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.errors import Code, OrdermillError
from ordermill.services import carts
from ordermill.services.accounts import Principal
from ordermill.services.carts import CartItemView, CartLine
from ordermill.services.order_items import MAX_QUANTITY
from ordermill.web.deps import DatabaseDep, IdPath, SettingsDep
from ordermill.web.pages.form_checks import check, whole_number
from ordermill.web.pages.render import redirect, render
from ordermill.web.pages.sessions import (
    CUSTOMER,
    CsrfChecked,
    LoginRequired,
    page_requires,
    principal_of,
    safe_next,
)
from ordermill.web.schemas import CartItemSet, OrderItemIn

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Shopper = Annotated[Principal, page_requires(Permission.SELF_SERVICE, CUSTOMER)]
NumberField = Annotated[str, Form(max_length=20)]
NextField = Annotated[str | None, Form(max_length=2000)]

CART = "/cart"
CATALOGUE = "/"
TIMES = "\N{MULTIPLICATION SIGN}"  # "Added 2 (times) Tea"; ruff takes the sign for an x
NOT_IN_CATALOGUE = "That product is not in the catalogue."
WRONG_QUANTITY = f"Choose a quantity from 1 to {MAX_QUANTITY:,}."
WRONG_NEW_QUANTITY = f"Choose a quantity from 0 to {MAX_QUANTITY:,} (0 removes the product)."


def came_from(target: str | None, fallback: str = CATALOGUE) -> str:
    """The page a form was sent from: a path on this site, else ``fallback``."""
    back = safe_next(target, CUSTOMER)
    return back if target and back == target else fallback


def sign_in_first(fallback: str) -> Any:
    """For a form post: someone not signed in logs in, then comes back to the page the
    form was on (its ``next`` field, else ``fallback``), a page they can open."""

    def check_signed_in(request: Request, database: DatabaseDep, next: NextField = None) -> None:
        if principal_of(request, database, CUSTOMER).is_anonymous:
            raise LoginRequired(CUSTOMER, came_from(next, fallback))

    return Depends(check_signed_in)


def customer_id_of(me: Principal) -> int:
    assert me.customer_id is not None  # SELF_SERVICE is a customer's permission
    return me.customer_id


def line_problem(item: CartItemView) -> str | None:
    """What stops a line from being ordered as it is now, in words (None: nothing)."""
    if not item.active:
        return "No longer sold: remove it to check out."
    if item.available <= 0:
        return "Out of stock now: remove it to check out."
    if item.quantity > item.available:
        return f"Only {item.available} left: lower the quantity to check out."
    return None


@router.get(CART)
def cart_page(
    request: Request, database: DatabaseDep, settings: SettingsDep, me: Shopper
) -> Response:
    """The cart at today's prices, each line with a form to change it."""
    with database.read() as session:
        cart = carts.get_cart(session, customer_id_of(me))
    return render(
        request,
        "shop/cart.html",
        cart=cart,
        problems={item.product_id: line_problem(item) for item in cart.items},
        currency=settings.currency,
    )


@router.post("/cart/items", dependencies=[CsrfChecked, sign_in_first(CATALOGUE)])
def add_to_cart(
    request: Request,
    database: DatabaseDep,
    me: Shopper,
    product_id: NumberField = "",
    quantity: NumberField = "",
    next: NextField = None,
) -> Response:
    """Add to cart: the form's quantity joins what the cart holds; back to the form's page."""
    back = came_from(next)
    body, errors = check(
        OrderItemIn, {"product_id": whole_number(product_id), "quantity": whole_number(quantity)}
    )
    if body is None:
        wrong = NOT_IN_CATALOGUE if "product_id" in errors else WRONG_QUANTITY
        return redirect(request, back, error=wrong)
    return _change(
        request,
        database,
        back,
        lambda session: carts.add_to_cart(
            session, customer_id_of(me), body.product_id, body.quantity
        ),
        adding=True,
    )


@router.post("/cart/items/{product_id}", dependencies=[CsrfChecked, sign_in_first(CART)])
def set_quantity(
    product_id: IdPath,
    request: Request,
    database: DatabaseDep,
    me: Shopper,
    quantity: NumberField = "",
) -> Response:
    """Make a line hold this many (0 removes it), as far as the stock goes."""
    body, _errors = check(CartItemSet, {"quantity": whole_number(quantity)})
    if body is None:
        return redirect(request, CART, error=WRONG_NEW_QUANTITY)
    return _change(
        request,
        database,
        CART,
        lambda session: carts.set_cart_item_within_stock(
            session, customer_id_of(me), product_id, body.quantity
        ),
    )


@router.post("/cart/items/{product_id}/remove", dependencies=[CsrfChecked, sign_in_first(CART)])
def remove(product_id: IdPath, request: Request, database: DatabaseDep, me: Shopper) -> Response:
    """Take a product out of the cart."""
    return _change(
        request,
        database,
        CART,
        lambda session: carts.set_cart_item_within_stock(
            session, customer_id_of(me), product_id, 0
        ),
    )


def _change(
    request: Request,
    database: Database,
    back: str,
    change: Callable[[Session], CartLine],
    *,
    adding: bool = False,
) -> Response:
    """Make the change in one transaction; back to ``back`` saying what happened or why not."""
    try:
        with database.write() as session:
            line = change(session)
    except OrdermillError as exc:
        gone = exc.code == Code.PRODUCT_NOT_FOUND
        return redirect(request, back, error=NOT_IN_CATALOGUE if gone else exc.message)
    ok, short = said(line, adding=adding)
    return redirect(request, back, ok=ok, error=short)


def said(line: CartLine, *, adding: bool) -> tuple[str | None, str | None]:
    """What the customer is told: what changed, and whether the stock held it back."""
    short = None
    if line.capped:
        short = f"Only {line.stock} left of {line.name}: your cart holds {line.quantity}."
    if adding:
        added = f"Added {line.added} {TIMES} {line.name} to your cart." if line.added > 0 else None
        return added, short
    if line.quantity == 0:
        if line.before == 0:
            return f"{line.name} was not in your cart.", None
        return f"Removed {line.name} from your cart.", None
    if short:
        return None, short
    return f"Your cart holds {line.quantity} {TIMES} {line.name}.", None
