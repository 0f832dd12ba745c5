"""/api/customers/{id}/cart: a customer's cart and checkout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy.orm import Session

from ordermill.domain.access import Permission
from ordermill.services import carts
from ordermill.services.accounts import Principal
from ordermill.web.api import problems
from ordermill.web.auth import actor_of, requires
from ordermill.web.deps import DatabaseDep, IdempotencyKey, IdPath, SettingsDep
from ordermill.web.http import json_response, run_idempotent
from ordermill.web.present import cart_public, order_document
from ordermill.web.schemas import CartItemSet, CartPublic, CheckoutRequest, OrderPublic

router = APIRouter(prefix="/api/customers/{customer_id}/cart", tags=["carts"])
Staff = Annotated[Principal, requires(Permission.CARTS_MANAGE)]


@router.get("", response_model=CartPublic, responses=problems(400, 404))
def get_customer_cart(customer_id: IdPath, database: DatabaseDep, _staff: Staff) -> Response:
    """The cart at today's prices, with the stock available for each item."""
    with database.read() as session:
        return json_response(cart_public(carts.get_cart(session, customer_id)))


@router.put("/items/{product_id}", response_model=CartPublic, responses=problems(400, 404, 409))
def set_customer_cart_item(
    customer_id: IdPath,
    product_id: IdPath,
    body: CartItemSet,
    database: DatabaseDep,
    _staff: Staff,
) -> Response:
    """Set how many of a product are in the cart (`{"quantity": 0}` removes it)."""
    with database.write() as session:
        cart = carts.set_cart_item(session, customer_id, product_id, body.quantity)
        return json_response(cart_public(cart))


@router.delete("/items/{product_id}", response_model=CartPublic, responses=problems(400, 404))
def remove_customer_cart_item(
    customer_id: IdPath, product_id: IdPath, database: DatabaseDep, _staff: Staff
) -> Response:
    """Take a product out of the cart."""
    with database.write() as session:
        return json_response(cart_public(carts.remove_cart_item(session, customer_id, product_id)))


@router.delete("", status_code=204, responses=problems(400, 404))
def clear_customer_cart(customer_id: IdPath, database: DatabaseDep, _staff: Staff) -> Response:
    """Empty the cart."""
    with database.write() as session:
        carts.clear_cart(session, customer_id)
    return Response(status_code=204)


@router.post(
    "/checkout",
    status_code=201,
    response_model=OrderPublic,
    responses=problems(400, 404, 409, 422),
)
def check_out_customer_cart(
    customer_id: IdPath,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    staff: Staff,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[CheckoutRequest | None, Body()] = None,
) -> Response:
    """Turn the cart into an order and empty it, in one transaction.

    With `"process": true` the new order is processed in the same transaction.
    """
    options = body or CheckoutRequest()

    def work(session: Session) -> Response:
        order = carts.checkout(
            session,
            customer_id,
            currency=settings.currency,
            shipping_address=options.shipping_address,
            note=options.note,
            process=options.process,
            strategy=options.strategy,
            flow=options.flow or settings.payment_flow,
            actor=actor_of(staff),
        )
        return json_response(
            order_document(order), 201, headers={"Location": f"/api/orders/{order.id}"}
        )

    payload = options.model_dump(mode="json")
    return run_idempotent(database, request, idempotency_key, payload, work, owner=staff)
