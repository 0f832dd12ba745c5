"""/api/orders: placing, reading, listing, processing and deleting orders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.domain.orders import OrderStatus
from ordermill.errors import InvalidInput
from ordermill.services import order_views, place_processed, processing
from ordermill.services import orders as order_service
from ordermill.services.accounts import Principal
from ordermill.services.order_items import ItemRequest
from ordermill.web.api import problems
from ordermill.web.auth import actor_of, requires
from ordermill.web.deps import (
    CursorQuery,
    DatabaseDep,
    DateTimeQuery,
    IdempotencyKey,
    IdPath,
    LimitQuery,
    OrderNumberPath,
    SettingsDep,
    date_time_query,
    page_limit,
)
from ordermill.web.http import json_response, page_response, resource_response, run_idempotent
from ordermill.web.present import order_document
from ordermill.web.schemas import OrderCreate, OrderProcess, OrderPublic

router = APIRouter(prefix="/api/orders", tags=["orders"])
Reader = Annotated[Principal, requires(Permission.ORDERS_READ)]
Writer = Annotated[Principal, requires(Permission.ORDERS_WRITE)]


@router.get("", response_model=list[OrderPublic], responses=problems(400))
def list_orders(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _reader: Reader,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
    status: OrderStatus | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    processed: bool | None = None,
    created_from: Annotated[DateTimeQuery, date_time_query("Inclusive lower bound")] = None,
    created_to: Annotated[DateTimeQuery, date_time_query("Exclusive upper bound")] = None,
) -> Response:
    """Orders with their lines, newest first, filtered; follow `Link` for the next page."""
    filters = order_views.OrderFilters(
        status=status.value if status is not None else None,
        customer_id=customer_id,
        processed=processed,
        created_from=_utc(created_from, "created_from"),
        created_to=_utc(created_to, "created_to"),
    )
    with database.lookup() as session:  # the page, then its lines
        page = order_views.list_orders(
            session, filters, limit=page_limit(settings, limit), cursor=cursor
        )
    return page_response(request, page, [order_document(view) for view in page.items])


def _utc(moment: datetime | None, field: str) -> datetime | None:
    """A filter timestamp in UTC (one without an offset is taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise InvalidInput(f"{field} is outside the range of dates", field=field) from None


@router.post(
    "", status_code=201, response_model=OrderPublic, responses=problems(400, 404, 409, 422)
)
async def create_order(
    body: OrderCreate,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Place an order; each line keeps the product's name, SKU and price of today.

    With `"process": true` it is processed in the same transaction.
    """
    if idempotency_key is None and not database.is_sqlite:
        # Units of work that are nothing but their last writes, sent with the commit:
        # run on the event loop, with no thread to hand them to and back.
        view = await (_place_processed if body.process else _place)(
            body, database, settings, writer
        )
        if view is not None:
            return _created(view)
    return await run_in_threadpool(
        _create_order, body, request, database, settings, writer, idempotency_key
    )


async def _place(
    body: OrderCreate, database: Database, settings: Settings, writer: Principal
) -> order_views.OrderView:
    async with database.last_writes() as session:
        pending = order_service.place_order_last_writes(
            session, customer_id=body.customer_id, items=_items(body),
            currency=settings.currency, shipping_address=body.shipping_address,
            note=body.note, extra=body.extra, actor=actor_of(writer),
        )  # fmt: skip
    if pending.refused:
        await run_in_threadpool(_explain, database, pending)
    return pending.view


async def _place_processed(
    body: OrderCreate, database: Database, settings: Settings, writer: Principal
) -> order_views.OrderView | None:
    """Decided from a read that locks nothing and written with the commit, under locks
    held for no round trip to the client; ``None`` when the read no longer holds, or the
    answer turns on exact figures: then it is placed under locks (``_create_order``).
    (SQLite's write lock is held from the first statement anyway.)"""
    async with database.last_writes() as session:
        decided = await place_processed.decide_async(
            database, session, customer_id=body.customer_id, items=_items(body),
            currency=settings.currency, strategy=body.strategy,
            flow=body.flow or settings.payment_flow, shipping_address=body.shipping_address,
            note=body.note, extra=body.extra, actor=actor_of(writer),
        )  # fmt: skip
        written = None if decided is None else place_processed.write_at_commit(session, decided)
    return None if written is None else written.view


def _explain(database: Database, pending: order_service.PendingOrder) -> None:
    with database.read() as session:
        pending.explain(session)


def _items(body: OrderCreate) -> list[ItemRequest]:
    return [ItemRequest(i.product_id, i.quantity) for i in body.items]


def _create_order(
    body: OrderCreate,
    request: Request,
    database: Database,
    settings: Settings,
    writer: Principal,
    idempotency_key: str | None,
) -> Response:
    """``create_order`` in a thread: with an idempotency key, on SQLite, or processed
    under locks when a decision from a read no longer held."""
    items = _items(body)
    actor = actor_of(writer)

    def place(session: Session, *, at_commit: bool = False) -> order_views.OrderView:
        """The order, unnumbered; processed in the same transaction if asked (its writes
        with the commit if ``at_commit``)."""
        if not body.process:
            return order_service.place_order(
                session, customer_id=body.customer_id, items=items, currency=settings.currency,
                shipping_address=body.shipping_address, note=body.note, extra=body.extra,
                actor=actor, numbered=False,
            )  # fmt: skip
        placed = order_service.place_order_to_process(
            session, customer_id=body.customer_id, items=items, currency=settings.currency,
            shipping_address=body.shipping_address, note=body.note, extra=body.extra,
            actor=actor,
        )  # fmt: skip
        return processing.process_placed(
            session, placed, body.strategy, flow=body.flow or settings.payment_flow,
            actor=actor, at_commit=at_commit,
        )  # fmt: skip

    if idempotency_key is None:
        # The last writes go with the commit (the processing's and the number, or the
        # whole order): one round trip on PostgreSQL, the year's counter and the
        # products locked for no round trip to the client. The answer is written from
        # the committed order.
        with database.write() as session:
            if body.process:
                order = place(session, at_commit=True)
                order_service.number_at_commit(session, order)
            else:
                pending = order_service.place_order_at_commit(
                    session, customer_id=body.customer_id, items=items,
                    currency=settings.currency, shipping_address=body.shipping_address,
                    note=body.note, extra=body.extra, actor=actor,
                )  # fmt: skip
        return _created(order if body.process else pending.view)

    def work(session: Session) -> Response:
        order = order_service.assign_number(session, place(session))  # last: see there
        return _created(order)

    payload = body.model_dump(mode="json")
    return run_idempotent(database, request, idempotency_key, payload, work, owner=writer)


def _created(order: order_views.OrderView) -> Response:
    return json_response(
        order_document(order), 201, headers={"Location": f"/api/orders/{order.id}"}
    )


@router.get("/by-number/{number}", response_model=OrderPublic, responses=problems(304, 400, 404))
def get_order_by_number(
    number: OrderNumberPath, request: Request, database: DatabaseDep, _reader: Reader
) -> Response:
    """One order by its number, such as `2026-00001`."""
    with database.read() as session:
        view = order_views.get_order_by_number(session, number)
    return resource_response(request, order_document(view))


@router.get("/{order_id}", response_model=OrderPublic, responses=problems(304, 400, 404))
def get_order(
    order_id: IdPath, request: Request, database: DatabaseDep, _reader: Reader
) -> Response:
    """One order with its lines, totals, number, status and dates."""
    with database.read() as session:
        view = order_views.get_order(session, order_id)
    return resource_response(request, order_document(view))


@router.put("/{order_id}", response_model=OrderPublic, responses=problems(400, 404, 409, 422))
def process_order(
    order_id: IdPath,
    body: OrderProcess,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Process the order when `process` is `true` (strategy `adjust`, `reject` or `ignore`).

    Any other value of `process` leaves the order as it is (200). A failed
    processing is a 409 whose `code` is the reason.
    """
    if body.process is not True:
        with database.read() as session:
            return json_response(order_document(order_views.get_order(session, order_id)))

    def process(session: Session, *, at_commit: bool = False) -> order_views.OrderView:
        return processing.process_order(
            session, order_id, body.strategy, flow=body.flow or settings.payment_flow,
            actor=actor_of(writer), at_commit=at_commit,
        )  # fmt: skip

    if idempotency_key is None:  # the writes go with the commit, as when placing
        with database.write() as session:
            view = process(session, at_commit=True)
        return json_response(order_document(view))

    def work(session: Session) -> Response:
        return json_response(order_document(process(session)))

    return run_idempotent(
        database, request, idempotency_key, body.model_dump(mode="json"), work, owner=writer
    )


@router.delete("/{order_id}", status_code=204, responses=problems(400, 404, 409))
def delete_order(order_id: IdPath, database: DatabaseDep, writer: Writer) -> Response:
    """Delete a pending order; a processed one is kept (409)."""
    with database.write() as session:
        order_service.delete_order(session, order_id, actor=actor_of(writer))
    return Response(status_code=204)
