"""Processing orders: settling their lines against the stock, taking it, and charging
the balance (flow ``balance``) or waiting for the payment (flow ``advance``).

A hot path, set-based: a batch of orders is claimed in a few statements, decided
one after another in id order (each against the stock and balances the ones before
it left) through ``transitions.apply``, and written as one ``ProcessPlan`` by the
database's writer: one statement on PostgreSQL, one ``executemany`` per table on SQLite.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ordermill import plugins
from ordermill.domain.orders import (
    DEFAULT_STRATEGY,
    LineToProcess,
    OrderStatus,
    Strategy,
    plan_processing,
)
from ordermill.domain.workflow import Action, OrderFacts, PaymentFlow, check, settle
from ordermill.errors import OrdermillError, order_not_found
from ordermill.models import utcnow
from ordermill.services import outbox
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.ledger import EntryKind
from ordermill.services.order_views import OrderView, load_orders
from ordermill.services.plans import (
    BALANCE_METHOD,
    BalanceCharge,
    Journal,
    LedgerRow,
    LineAdjustment,
    OrderProcessed,
    PaymentRow,
    PlacedToProcess,
    ProcessPlan,
    StockTake,
)
from ordermill.services.tables import customers, one_of, products
from ordermill.services.transitions import (
    Change,
    Claimed,
    Results,
    apply,
    claim,
    lock_by_id,
    one_at_a_time,
)
from ordermill.services.writers import writer_for


def process_order(
    session: Session,
    order_id: int,
    strategy: Strategy = DEFAULT_STRATEGY,
    *,
    flow: PaymentFlow = PaymentFlow.BALANCE,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
    at_commit: bool = False,
) -> OrderView:
    """Process a pending order: settle the lines against the stock and take it; then,
    with flow ``balance``, charge the total to the customer's balance (``processed``),
    or with flow ``advance`` wait for the payment (``awaiting_payment``).

    With ``at_commit`` the writes go with the commit of the caller's unit of work (one
    round trip with it on PostgreSQL, see ``final_writes``): the caller writes nothing
    after it but other last writes.
    """
    outcome = process_orders(
        session, [order_id], strategy, flow=flow, now=now, actor=actor, at_commit=at_commit
    )
    return _the_one(outcome, order_id)


def process_orders(
    session: Session,
    order_ids: Sequence[int],
    strategy: Strategy = DEFAULT_STRATEGY,
    *,
    flow: PaymentFlow = PaymentFlow.BALANCE,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
    at_commit: bool = False,
) -> dict[int, OrderView | OrdermillError]:
    """Process several orders at once, set-based: the processed order, or why not, per id.

    Locks are taken phase by phase, each in id order (the orders, then their
    customers, then their products), so batches and single orders never deadlock.
    Orders are settled one after another in id order against the stock and the
    balances left by the ones before; a refused order writes nothing, and the
    writes of the others go out together.
    """
    moment = now or utcnow()
    ids = sorted(set(order_ids))
    # A post_transition hook sees the writes, in a savepoint: they can't wait for the commit.
    at_commit = at_commit and not plugins.has("post_transition")
    return one_at_a_time(
        session,
        ids,
        lambda batch: _process_set(session, batch, strategy, flow, moment, actor, at_commit),
    )


def process_placed(
    session: Session,
    placed: PlacedToProcess,
    strategy: Strategy = DEFAULT_STRATEGY,
    *,
    flow: PaymentFlow = PaymentFlow.BALANCE,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
    at_commit: bool = False,
    write: Callable[[ProcessPlan], None] | None = None,
) -> OrderView:
    """``process_order`` for an order placed in the same transaction by
    ``orders.place_order_to_process``, which locked and read what processing needs: it
    is decided and written without reading anything again.

    With ``write`` the decision's writes go to it as one plan instead of the session's
    writer (``place_processed`` writes them with the order's own).
    """
    moment = now or utcnow()
    order = placed.order
    claims = {order.id: Claimed(order, placed.balance)}
    at_commit = at_commit and not plugins.has("post_transition")
    outcome = one_at_a_time(
        session,
        [order.id],
        lambda batch: _settle(
            session, batch, claims, dict(placed.stock), dict(placed.thresholds),
            strategy, flow, moment, actor, at_commit, write,
        ),
    )  # fmt: skip
    return _the_one(outcome, order.id)


def _the_one(outcome: Results, order_id: int) -> OrderView:
    """The processed order, or raise why not."""
    result = outcome[order_id]
    if isinstance(result, OrdermillError):
        raise result
    return result


def _process_set(
    session: Session,
    ids: list[int],
    strategy: Strategy,
    flow: PaymentFlow,
    now: datetime,
    actor: Actor,
    at_commit: bool = False,
) -> Results:
    claims = _claim_many(session, ids)
    # Only orders the workflow lets through lock their products.
    product_ids = sorted(
        {
            line.product_id
            for claimed in _processable(claims, ids, flow)
            for line in claimed.view.lines
            if line.product_id is not None
        }
    )
    stock, thresholds = _lock_products(session, product_ids)
    return _settle(session, ids, claims, stock, thresholds, strategy, flow, now, actor, at_commit)


def _processable(claims: dict[int, Claimed], ids: list[int], flow: PaymentFlow) -> list[Claimed]:
    return [
        claims[order_id]
        for order_id in ids
        if order_id in claims and check(Action.PROCESS, claims[order_id].facts(flow)).allowed
    ]


def _settle(
    session: Session,
    ids: list[int],
    claims: dict[int, Claimed],
    stock: dict[int, int],
    thresholds: dict[int, int | None],
    strategy: Strategy,
    flow: PaymentFlow,
    now: datetime,
    actor: Actor,
    at_commit: bool,
    write: Callable[[ProcessPlan], None] | None = None,
) -> Results:
    """Decide the claimed orders in id order against the locked stock and balances, and
    write the ones that go through together (to ``write`` if given)."""
    results: Results = {
        order_id: order_not_found(order_id) for order_id in ids if order_id not in claims
    }
    batch = _Batch(
        at_commit=at_commit,
        strategy=strategy,
        flow=flow,
        now=now,
        actor=actor,
        stock=stock,
        balances={claimed.view.customer_id: claimed.balance for claimed in claims.values()},
        thresholds=thresholds,
    )
    payload = {"strategy": strategy.value, "flow": flow.value}
    results.update(
        apply(
            session,
            Action.PROCESS,
            [claims[order_id] for order_id in ids if order_id in claims],
            actor=actor,
            now=now,
            decide=batch.decide,
            payload=lambda _claimed: payload,
            # The guards again, against the balance the orders before this one left.
            facts=lambda c: replace(c.facts(flow), balance=batch.balances[c.view.customer_id]),
            write=lambda _changes, entries: (write or batch.writer(session))(batch.plan(entries)),
        )
    )
    return {order_id: results[order_id] for order_id in ids}


def _claim_many(session: Session, ids: list[int]) -> dict[int, Claimed]:
    """Lock and read several orders with their lines, then their customers, each in id
    order (one order: both in one statement)."""
    if len(ids) == 1:
        try:
            return {ids[0]: claim(session, ids[0])}
        except OrdermillError:
            return {}
    views = load_orders(session, ids, lock=True)
    customer_ids = sorted({view.customer_id for view in views.values()})
    balances = lock_by_id(session, customers.c.balance, customer_ids)
    return {
        order_id: Claimed(view, int(balances[view.customer_id])) for order_id, view in views.items()
    }


def _lock_products(
    session: Session, product_ids: list[int]
) -> tuple[dict[int, int], dict[int, int | None]]:
    """Lock the products in id order: their stock, and their low-stock thresholds."""
    if not product_ids:
        return {}, {}
    lock = _lock_products_statement(session.get_bind().dialect.name)
    rows = session.execute(lock, {"ids": product_ids}).all()
    return {row[0]: row[1] for row in rows}, {row[0]: row[2] for row in rows}


@functools.cache
def _lock_products_statement(dialect: str) -> Select[Any]:
    return (
        select(products.c.id, products.c.stock, products.c.low_stock_threshold)
        .where(one_of(dialect, products.c.id, "ids"))
        .order_by(products.c.id)
        .with_for_update(key_share=True)
    )


@dataclass(slots=True)
class _Batch:
    """A set of orders being processed: what the ones decided so far left and will write."""

    strategy: Strategy
    flow: PaymentFlow
    now: datetime
    actor: Actor
    stock: dict[int, int]  # product id -> units left
    balances: dict[int, int]  # customer id -> balance left
    thresholds: dict[int, int | None]  # product id -> its own low-stock threshold
    at_commit: bool = False  # the writes go with the unit of work's commit
    initial: dict[int, int] = field(default_factory=dict)  # product id -> stock when locked
    taken: dict[int, int] = field(default_factory=dict)  # product id -> units
    adjusted: list[LineAdjustment] = field(default_factory=list)
    orders: list[OrderProcessed] = field(default_factory=list)
    charges: dict[int, int] = field(default_factory=dict)  # customer id -> amount
    ledger: list[LedgerRow] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.initial = dict(self.stock)

    def decide(self, claimed: Claimed) -> Change:
        """Settle one order against what is left; raises when the strategy refuses it."""
        view = claimed.view
        customer_id = view.customer_id
        lines = [
            LineToProcess(ln.id, ln.product_id, ln.quantity_ordered, ln.unit_price)
            for ln in view.lines
        ]
        plan = plan_processing(lines=lines, stock=self.stock, strategy=self.strategy)
        for product_id, quantity in plan.stock_taken.items():
            self.stock[product_id] -= quantity
            self.taken[product_id] = self.taken.get(product_id, 0) + quantity
        adjusted = [line for line in plan.lines if line.adjusted]
        self.adjusted.extend(
            LineAdjustment(ln.line_id, ln.quantity, ln.line_total) for ln in adjusted
        )
        total = plan.total
        paid = 0
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "processed",
                {
                    "strategy": self.strategy.value,
                    "flow": self.flow.value,
                    "total": total,
                    "adjustments": [
                        {
                            "line_id": ln.line_id,
                            "ordered": ln.quantity_ordered,
                            "processed": ln.quantity,
                        }
                        for ln in adjusted
                    ],
                },
            )
        ]
        if self.flow is PaymentFlow.BALANCE and total > 0:
            self.balances[customer_id] -= total
            self.charges[customer_id] = self.charges.get(customer_id, 0) + total
            self.ledger.append(
                LedgerRow(
                    customer_id,
                    EntryKind.CHARGE,
                    -total,
                    self.balances[customer_id],
                    view.id,
                    f"order {view.ref}",
                )
            )
            self.payments.append(PaymentRow(view.id, total, 0, BALANCE_METHOD, None))
            paid = total
            events.append(("payment", {"amount": total, "method": BALANCE_METHOD, "credited": 0}))
        status = settle(
            OrderStatus.AWAITING_PAYMENT,
            OrderFacts(OrderStatus.AWAITING_PAYMENT, total=total, paid=paid),
        )
        self.orders.append(OrderProcessed(view.id, status, total, paid))
        settled = {ln.line_id: ln for ln in plan.lines}
        for line in view.lines:
            line.quantity = settled[line.id].quantity
            line.line_total = settled[line.id].line_total
        view.status = status.value
        view.processed = self.now
        view.strategy = self.strategy.value
        view.total = total
        view.payment_flow = self.flow.value
        view.paid = paid
        audit = {
            "strategy": self.strategy.value,
            "flow": self.flow.value,
            "total": total,
            "customer_id": customer_id,
        }
        return Change(view, events, audit)

    def writer(self, session: Session) -> Callable[[ProcessPlan], None]:
        """What writes a plan: the session's writer (with its commit if ``at_commit``)."""
        return functools.partial(
            writer_for(session).write_processed, session, at_commit=self.at_commit
        )

    def plan(self, journal: Journal) -> ProcessPlan:
        """Everything decided, with the journal's rows, as one set of writes."""
        return ProcessPlan(
            now=self.now,
            actor=self.actor,
            strategy=self.strategy,
            flow=self.flow,
            stock_takes=tuple(StockTake(pid, qty) for pid, qty in sorted(self.taken.items())),
            line_adjustments=tuple(self.adjusted),
            orders=tuple(self.orders),
            charges=tuple(BalanceCharge(cid, amt) for cid, amt in sorted(self.charges.items())),
            ledger=tuple(self.ledger),
            payments=tuple(self.payments),
            journal=replace(
                journal,
                outbox=journal.outbox
                + tuple(
                    outbox.low_stock(
                        self.initial,
                        {pid: self.stock[pid] for pid in self.taken},
                        self.thresholds,
                        outbox.store_low_stock_default(),
                    )
                ),
            ),
        )
