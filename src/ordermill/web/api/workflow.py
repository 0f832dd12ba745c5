"""The order workflow over HTTP: what may be done to an order, doing it, its timeline.

`GET /api/orders/{id}/actions` lists every action with whether it is allowed
and why not; `POST /api/orders/{id}/actions/{action}` takes it (each action
has its own body). Every action accepts an `Idempotency-Key`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy.orm import Session

from ordermill.db import Database
from ordermill.domain import workflow as rules
from ordermill.domain.access import Permission
from ordermill.services import carts, processing, timeline
from ordermill.services import workflow as flow_service
from ordermill.services.accounts import Principal
from ordermill.services.order_views import OrderView
from ordermill.services.timeline import Visibility
from ordermill.web.api import problems
from ordermill.web.auth import actor_of, requires
from ordermill.web.deps import DatabaseDep, IdempotencyKey, IdPath, SettingsDep
from ordermill.web.http import json_response, run_idempotent
from ordermill.web.present import actions_public, event_public, order_document, reorder_public
from ordermill.web.schemas import (
    ActionsPublic,
    CancelAction,
    EventPublic,
    FulfillAction,
    NoteCreate,
    OrderPublic,
    PayAction,
    ProcessAction,
    ReorderPublic,
    ReturnAction,
)

router = APIRouter(tags=["workflow"])
Reader = Annotated[Principal, requires(Permission.ORDERS_READ)]
Writer = Annotated[Principal, requires(Permission.ORDERS_WRITE)]
ACTION_ERRORS = problems(400, 404, 409, 422)


def take_action(
    database: Database,
    request: Request,
    key: str | None,
    payload: Any,
    caller: Principal,
    act: Callable[[Session], OrderView],
) -> Response:
    """Run one workflow action in a write transaction, once per Idempotency-Key."""

    def work(session: Session) -> Response:
        return json_response(order_document(act(session)))

    return run_idempotent(database, request, key, payload, work, owner=caller)


@router.get("/api/workflow", responses=problems())
def get_workflow(_anyone: Annotated[Principal, requires(Permission.PUBLIC)]) -> dict[str, Any]:
    """The order workflow as data: states, transitions with their effects, refusal reasons."""
    return rules.as_data()


@router.get(
    "/api/orders/{order_id}/actions",
    response_model=ActionsPublic,
    responses=problems(400, 404),
)
def list_order_actions(
    order_id: IdPath, database: DatabaseDep, settings: SettingsDep, _reader: Reader
) -> Response:
    """Every action with `allowed` and, when not, the reason code and a message."""
    with database.read() as session:
        view, verdicts = flow_service.actions(session, order_id, flow=settings.payment_flow)
    return json_response(actions_public(view, verdicts))


@router.post(
    "/api/orders/{order_id}/actions/process",
    response_model=OrderPublic,
    responses=ACTION_ERRORS,
)
def process_order_action(
    order_id: IdPath,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[ProcessAction | None, Body()] = None,
) -> Response:
    """Take the stock (shortage `strategy`) and charge the balance (flow `balance`,
    to `processed`) or wait for the money (flow `advance`, to `awaiting_payment`)."""
    options = body or ProcessAction()
    flow = options.flow or settings.payment_flow
    return take_action(
        database,
        request,
        idempotency_key,
        options.model_dump(mode="json"),
        writer,
        lambda session: processing.process_order(
            session, order_id, options.strategy, flow=flow, actor=actor_of(writer)
        ),
    )


@router.post(
    "/api/orders/{order_id}/actions/pay", response_model=OrderPublic, responses=ACTION_ERRORS
)
def pay_order(
    order_id: IdPath,
    body: PayAction,
    request: Request,
    database: DatabaseDep,
    writer: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record a payment; covered orders become `processed`, an overpayment is credited."""
    return take_action(
        database,
        request,
        idempotency_key,
        body.model_dump(mode="json"),
        writer,
        lambda session: flow_service.pay(
            session,
            order_id,
            amount=body.amount,
            method=body.method,
            reference=body.reference,
            actor=actor_of(writer),
        ),
    )


@router.post(
    "/api/orders/{order_id}/actions/fulfill", response_model=OrderPublic, responses=ACTION_ERRORS
)
def fulfill_order(
    order_id: IdPath,
    request: Request,
    database: DatabaseDep,
    writer: Writer,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[FulfillAction | None, Body()] = None,
) -> Response:
    """Mark a paid order shipped; again on a shipped order: success, first date kept."""
    options = body or FulfillAction()
    return take_action(
        database,
        request,
        idempotency_key,
        options.model_dump(mode="json"),
        writer,
        lambda session: flow_service.fulfill(
            session,
            order_id,
            carrier=options.carrier,
            tracking_number=options.tracking_number,
            actor=actor_of(writer),
        ),
    )


@router.post(
    "/api/orders/{order_id}/actions/deliver", response_model=OrderPublic, responses=ACTION_ERRORS
)
def deliver_order(
    order_id: IdPath,
    request: Request,
    database: DatabaseDep,
    writer: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Mark a shipped order delivered."""
    return take_action(
        database,
        request,
        idempotency_key,
        {},
        writer,
        lambda session: flow_service.deliver(session, order_id, actor=actor_of(writer)),
    )


@router.post(
    "/api/orders/{order_id}/actions/cancel", response_model=OrderPublic, responses=ACTION_ERRORS
)
def cancel_order(
    order_id: IdPath,
    body: CancelAction,
    request: Request,
    database: DatabaseDep,
    writer: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Cancel an order that has not shipped: stock goes back, payments are refunded."""
    return take_action(
        database,
        request,
        idempotency_key,
        body.model_dump(mode="json"),
        writer,
        lambda session: flow_service.cancel(
            session, order_id, reason=body.reason, actor=actor_of(writer)
        ),
    )


@router.post(
    "/api/orders/{order_id}/actions/return", response_model=OrderPublic, responses=ACTION_ERRORS
)
def return_order(
    order_id: IdPath,
    request: Request,
    database: DatabaseDep,
    writer: Writer,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[ReturnAction | None, Body()] = None,
) -> Response:
    """Take back a shipped order, all of it or some lines and quantities: refunded to
    the balance, restocked where asked."""
    options = body or ReturnAction()
    lines = (
        None
        if options.lines is None
        else [
            flow_service.ReturnLine(line.line_id, line.quantity, line.restock)
            for line in options.lines
        ]
    )
    return take_action(
        database,
        request,
        idempotency_key,
        options.model_dump(mode="json"),
        writer,
        lambda session: flow_service.return_order(
            session,
            order_id,
            lines=lines,
            restock=options.restock,
            reason=options.reason,
            actor=actor_of(writer),
        ),
    )


@router.get(
    "/api/orders/{order_id}/events",
    response_model=list[EventPublic],
    responses=problems(400, 404),
)
def list_order_events(order_id: IdPath, database: DatabaseDep, _reader: Reader) -> Response:
    """The order's timeline, oldest first, with time and actor; staff notes included."""
    with database.read() as session:
        events = timeline.list_events(session, order_id)
    return json_response([event_public(event) for event in events])


@router.post(
    "/api/orders/{order_id}/notes",
    status_code=201,
    response_model=EventPublic,
    responses=problems(400, 404),
)
def add_order_note(
    order_id: IdPath, body: NoteCreate, database: DatabaseDep, writer: Writer
) -> Response:
    """Add a note to the timeline: `staff` only, or visible to the `customer`."""
    with database.write() as session:
        event = timeline.add_note(
            session,
            order_id,
            body.text,
            visibility=Visibility(body.visibility),
            actor=actor_of(writer),
        )
    return json_response(event_public(event), 201)


@router.post(
    "/api/orders/{order_id}/reorder",
    response_model=ReorderPublic,
    responses=problems(400, 404),
)
def reorder(
    order_id: IdPath,
    database: DatabaseDep,
    caller: Annotated[Principal, requires(Permission.ORDERS_REORDER)],
) -> Response:
    """Put an order's lines back in its customer's cart at today's prices, reporting
    what is no longer sold. Customers may reorder their own orders."""
    with database.write() as session:
        result = carts.reorder(session, order_id, customer_id=caller.customer_id)
        return json_response(reorder_public(result))
