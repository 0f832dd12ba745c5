"""/api/me: a signed-in customer's own profile, cart, checkout and orders.

Everything here is scoped to the caller's customer id; another customer's order
is simply not found (404), so ids reveal nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy.orm import Session

from ordermill.domain.access import Permission
from ordermill.errors import order_not_found
from ordermill.services import carts, catalog, order_views, timeline, workflow
from ordermill.services.accounts import Principal
from ordermill.web.account_schemas import MeCheckout
from ordermill.web.api import problems
from ordermill.web.api.customers import ledger_page, patch_customer
from ordermill.web.auth import actor_of, requires
from ordermill.web.deps import (
    CursorQuery,
    DatabaseDep,
    IdempotencyKey,
    IdPath,
    LimitQuery,
    SettingsDep,
    page_limit,
)
from ordermill.web.http import (
    json_response,
    page_response,
    resource_response,
    run_idempotent,
)
from ordermill.web.present import actions_public, cart_public, event_public, order_document
from ordermill.web.schemas import (
    ActionsPublic,
    CartItemSet,
    CartPublic,
    CustomerCancel,
    CustomerPublic,
    CustomerUpdate,
    EventPublic,
    LedgerEntryPublic,
    OrderPublic,
)

router = APIRouter(prefix="/api/me", tags=["me"])
Me = Annotated[Principal, requires(Permission.SELF_SERVICE)]


def _customer_id(me: Principal) -> int:
    assert me.customer_id is not None  # SELF_SERVICE is a customer's permission
    return me.customer_id


@router.get("", response_model=CustomerPublic, responses=problems(304))
def get_my_profile(request: Request, database: DatabaseDep, me: Me) -> Response:
    """Your profile and store balance."""
    with database.read() as session:
        public = CustomerPublic.model_validate(catalog.get_customer(session, _customer_id(me)))
    return resource_response(request, public)


@router.patch("", response_model=CustomerPublic, responses=problems(400, 409, 412))
def update_my_profile(
    body: CustomerUpdate, request: Request, database: DatabaseDep, me: Me
) -> Response:
    """Change your name, email or phone (not your balance); `phone: null` clears it."""
    return patch_customer(request, database, _customer_id(me), body, me)


@router.get("/cart", response_model=CartPublic, responses=problems())
def get_my_cart(database: DatabaseDep, me: Me) -> Response:
    """Your cart at today's prices."""
    with database.read() as session:
        return json_response(cart_public(carts.get_cart(session, _customer_id(me))))


@router.put(
    "/cart/items/{product_id}",
    response_model=CartPublic,
    responses=problems(400, 404, 409),
)
def set_my_cart_item(
    product_id: IdPath, body: CartItemSet, database: DatabaseDep, me: Me
) -> Response:
    """Set how many of a product are in your cart (0 removes it)."""
    with database.write() as session:
        cart = carts.set_cart_item(session, _customer_id(me), product_id, body.quantity)
        return json_response(cart_public(cart))


@router.delete("/cart/items/{product_id}", response_model=CartPublic, responses=problems(400, 404))
def remove_my_cart_item(product_id: IdPath, database: DatabaseDep, me: Me) -> Response:
    """Take a product out of your cart."""
    with database.write() as session:
        return json_response(
            cart_public(carts.remove_cart_item(session, _customer_id(me), product_id))
        )


@router.delete("/cart", status_code=204, responses=problems())
def clear_my_cart(database: DatabaseDep, me: Me) -> Response:
    """Empty your cart."""
    with database.write() as session:
        carts.clear_cart(session, _customer_id(me))
    return Response(status_code=204)


@router.post(
    "/cart/checkout",
    status_code=201,
    response_model=OrderPublic,
    responses=problems(400, 404, 409, 422),
)
def check_out_my_cart(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Me,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[MeCheckout | None, Body()] = None,
) -> Response:
    """Place an order from your cart and empty it."""
    options = body or MeCheckout()

    def work(session: Session) -> Response:
        order = carts.checkout(
            session,
            _customer_id(me),
            currency=settings.currency,
            shipping_address=options.shipping_address,
            note=options.note,
            actor=actor_of(me),
        )
        return json_response(
            order_document(order), 201, headers={"Location": f"/api/me/orders/{order.id}"}
        )

    payload = options.model_dump(mode="json")
    return run_idempotent(database, request, idempotency_key, payload, work, owner=me)


@router.get("/orders", response_model=list[OrderPublic], responses=problems(400))
def list_my_orders(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Me,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    """Your orders, newest first."""
    with database.lookup() as session:  # the page, then its lines
        page = order_views.list_orders(
            session,
            order_views.OrderFilters(customer_id=_customer_id(me)),
            limit=page_limit(settings, limit),
            cursor=cursor,
        )
    return page_response(request, page, [order_document(view) for view in page.items])


@router.get("/orders/{order_id}", response_model=OrderPublic, responses=problems(304, 400, 404))
def get_my_order(order_id: IdPath, request: Request, database: DatabaseDep, me: Me) -> Response:
    """One of your orders (another customer's is not found)."""
    with database.read() as session:
        view = order_views.get_order(session, order_id)
    if view.customer_id != me.customer_id:
        raise order_not_found(order_id)
    return resource_response(request, order_document(view))


@router.get(
    "/orders/{order_id}/actions",
    response_model=ActionsPublic,
    responses=problems(400, 404),
)
def list_my_order_actions(order_id: IdPath, database: DatabaseDep, me: Me) -> Response:
    """What you may do with your order yourself (cancel it before it is paid), and why not."""
    with database.read() as session:
        view, verdicts = workflow.actions(session, order_id, customer_id=_customer_id(me))
    return json_response(actions_public(view, verdicts))


@router.post(
    "/orders/{order_id}/actions/cancel",
    response_model=OrderPublic,
    responses=problems(400, 404, 409, 422),
)
def cancel_my_order(
    order_id: IdPath,
    request: Request,
    database: DatabaseDep,
    me: Me,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[CustomerCancel | None, Body()] = None,
) -> Response:
    """Cancel your order while it is `pending` or `awaiting_payment`; money paid is
    refunded to your balance."""
    options = body or CustomerCancel()
    reason = options.reason or "cancelled by the customer"

    def work(session: Session) -> Response:
        view = workflow.cancel(
            session, order_id, reason=reason, actor=actor_of(me), customer_id=_customer_id(me)
        )
        return json_response(order_document(view))

    payload = options.model_dump(mode="json")
    return run_idempotent(database, request, idempotency_key, payload, work, owner=me)


@router.get(
    "/orders/{order_id}/events",
    response_model=list[EventPublic],
    responses=problems(400, 404),
)
def list_my_order_events(order_id: IdPath, database: DatabaseDep, me: Me) -> Response:
    """Your order's timeline (without the store's internal notes)."""
    with database.read() as session:
        events = timeline.list_events(session, order_id, customer_id=_customer_id(me))
    return json_response([event_public(event) for event in events])


@router.get("/ledger", response_model=list[LedgerEntryPublic], responses=problems(400))
def list_my_ledger(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Me,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    """Your store balance's history, newest first."""
    return ledger_page(request, database, _customer_id(me), page_limit(settings, limit), cursor)
