"""An order placed and processed at once, on PostgreSQL without a lock held across a
round trip to the client.

Placing and processing in one transaction under locks (``orders.place_order_to_process``
then ``processing.process_placed``) holds the customer's and the products' row locks
from the first statement to the commit: a round trip, and whatever Python runs in
between with the GIL to wait for. On products every order wants (a launch, a sale)
every order waits for those locks, so that time is what bounds the rate.

Here the order is decided the same way, by ``process_placed``, but from a read that
locks nothing (``decide``), and written with the commit (``write_at_commit``): the one
statement locks, checks that what was read still holds under the locks, and writes,
so the locks are held only while PostgreSQL runs it and commits. A decision that no
longer holds writes nothing; the caller then places and processes under locks, which
also gives every refusal its reason (a decision refused here is left to that path
too). ``decide`` declines, leaving it to that path, where the answer could turn on
exact figures: a shortage, a low-stock crossing, a plugin's transition hooks, SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ordermill import plugins
from ordermill.db import Database
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import OrdermillError
from ordermill.models import utcnow
from ordermill.services.audit import Actor
from ordermill.services.order_items import ItemRequest, merge_items
from ordermill.services.order_views import LineView, OrderView
from ordermill.services.orders import place_plan, snapshot_of
from ordermill.services.outbox import store_low_stock_default
from ordermill.services.plans import PlacedToProcess, PlacePlan, ProcessPlan
from ordermill.services.processing import process_placed
from ordermill.services.writers import postgres_place_processed as writer
from ordermill.services.writers.postgres_place_processed import StockGuard


@dataclass(frozen=True, slots=True)
class Decided:
    """An order decided from ``decide``'s read: its rows, and what must still hold."""

    order: OrderView  # as processed, with its placeholder for a number
    place: PlacePlan
    process: ProcessPlan
    line_ids: tuple[int, ...]
    balance: int
    guards: tuple[StockGuard, ...]


@dataclass(slots=True)
class Written:
    """What ``write_at_commit`` left for after the commit."""

    decided: Decided
    held: bool | None = field(default=None)  # None until committed

    @property
    def view(self) -> OrderView | None:
        """The numbered order once committed; ``None`` if the read no longer held."""
        if self.held is None:
            raise RuntimeError("an order written at commit is known once the commit is done")
        return self.decided.order if self.held else None


def decide(
    session: Session,
    *,
    customer_id: int,
    items: Iterable[ItemRequest],
    currency: str,
    strategy: Strategy,
    flow: PaymentFlow,
    shipping_address: str | None = None,
    note: str | None = None,
    extra: dict[str, Any] | None = None,
    actor: Actor,
) -> Decided | None:
    """Read without locks (``session`` needs no transaction: ``Database.lookup``) and
    decide the order placed and processed; ``None`` where only the path under locks
    gives the answer. Invalid items raise as placing them would."""
    wanted = merge_items(items)
    if session.get_bind().dialect.name != "postgresql" or _hooked():
        return None
    found = writer.read(session, customer_id, list(wanted))
    return _decide(
        session, found, wanted, customer_id=customer_id, currency=currency, strategy=strategy,
        flow=flow, shipping_address=shipping_address, note=note, extra=extra, actor=actor,
    )  # fmt: skip


async def decide_async(
    database: Database,
    session: Session,
    *,
    customer_id: int,
    items: Iterable[ItemRequest],
    currency: str,
    strategy: Strategy,
    flow: PaymentFlow,
    shipping_address: str | None = None,
    note: str | None = None,
    extra: dict[str, Any] | None = None,
    actor: Actor,
) -> Decided | None:
    """``decide`` from the event loop on PostgreSQL, for ``session`` of
    ``Database.last_writes`` (which reads nothing: the read goes through ``database``)."""
    wanted = merge_items(items)
    if _hooked():
        return None
    found = await writer.read_async(database, customer_id, list(wanted))
    return _decide(
        session, found, wanted, customer_id=customer_id, currency=currency, strategy=strategy,
        flow=flow, shipping_address=shipping_address, note=note, extra=extra, actor=actor,
    )  # fmt: skip


def _hooked() -> bool:
    """A plugin's transition hook must see the order once, under its locks."""
    return plugins.has("pre_transition") or plugins.has("post_transition")


def _decide(
    session: Session,
    found: writer.Read | None,
    wanted: dict[int, int],
    *,
    customer_id: int,
    currency: str,
    strategy: Strategy,
    flow: PaymentFlow,
    shipping_address: str | None,
    note: str | None,
    extra: dict[str, Any] | None,
    actor: Actor,
) -> Decided | None:
    """The order decided from what ``read`` found (``process_placed`` reads nothing)."""
    if found is None or any(
        pid not in found.products or not found.products[pid].active for pid in wanted
    ):
        return None
    catalog = found.products
    default = store_low_stock_default()
    guards = tuple(
        StockGuard(pid, _least(qty, catalog[pid].low_stock_threshold, default),
                   catalog[pid].name, catalog[pid].sku, catalog[pid].price)
        for pid, qty in sorted(wanted.items())
    )  # fmt: skip
    if any(catalog[guard.product_id].stock < guard.least for guard in guards):
        return None  # short, or crossing its low-stock threshold
    plan = place_plan(
        customer_id=customer_id, wanted=wanted, line_extra=None, currency=currency,
        shipping_address=shipping_address, note=note, extra=extra,
        now=utcnow(), actor=actor, snapshot=snapshot_of(wanted, catalog),
    )  # fmt: skip
    view = plan.placed(
        found.order_id,
        plan.placeholder,
        sum(catalog[line.product_id].price * line.quantity for line in plan.lines),
        [
            LineView(
                id=line_id,
                product_id=line.product_id,
                name=catalog[line.product_id].name,
                sku=catalog[line.product_id].sku,
                unit_price=catalog[line.product_id].price,
                quantity_ordered=line.quantity,
                quantity=line.quantity,
                line_total=catalog[line.product_id].price * line.quantity,
                extra=line.extra,
            )
            for line_id, line in zip(found.line_ids, plan.lines, strict=True)
        ],
    )
    placed = PlacedToProcess(
        view,
        found.balance,
        {pid: catalog[pid].stock for pid in wanted},
        {pid: catalog[pid].low_stock_threshold for pid in wanted},
    )
    planned: list[ProcessPlan] = []
    try:
        order = process_placed(
            session, placed, strategy, flow=flow, actor=actor, write=planned.append
        )
    except OrdermillError:
        return None  # refused: said under locks, with the figures of the moment
    (process,) = planned
    return Decided(order, plan, process, found.line_ids, found.balance, guards)


def _least(quantity: int, own: int | None, default: int) -> int:
    """The least stock for which taking ``quantity`` neither falls short nor crosses the
    product's low-stock threshold (its own, or the store's ``default``): the decision
    holds for any stock from there up."""
    threshold = default if own is None else own
    return quantity + max(threshold + 1, 0)


def write_at_commit(session: Session, decided: Decided) -> Written:
    """Queue the decided order's writes and its number for the commit of ``session``'s
    unit of work, of which they are the whole; after the commit, ``.view`` is the
    numbered order, or ``None`` when the read no longer held and nothing was written."""
    written = Written(decided)

    def done(number: str | None) -> None:
        written.held = number is not None
        if number is not None:
            decided.order.number = number

    writer.write_at_commit(
        session, decided.place, decided.process, order_id=decided.order.id,
        line_ids=decided.line_ids, balance=decided.balance, guards=decided.guards, done=done,
    )  # fmt: skip
    return written
