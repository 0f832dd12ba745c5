"""The order workflow driven at random by a state machine, on SQLite and PostgreSQL.

Hypothesis places orders and processes, pays, fulfils, delivers, cancels and
returns them (and tops up balances and receives stock) in random order, with
random strategies, flows, amounts, repeated payment references and partial
returns. A plain Python model predicts the outcome of every action (success, or
the refusal and its reason) and the books after it; after every step the
invariants read the database:

(a) stock is conserved: stock + units held by live orders == units ever received;
(b) a balance is the sum of its ledger entries, and each entry's balance_after is
    the running sum;
(c) per order, 0 <= refunded <= paid == sum of payments less what was credited;
    cancelled orders are fully refunded, paid orders are paid in full;
(d) every status change the model observed follows an edge of the workflow table;
(e) money is conserved per customer: the ledger agrees with the orders' payments
    and refunds, and every balance is what the model predicts.

The database is shared by every example, so each example creates its own
products, customers and orders and looks only at those.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ordermill.db import Database
from ordermill.domain.orders import HOLDS_STOCK, OrderStatus, Strategy
from ordermill.domain.workflow import AUTOMATIC, TRANSITIONS, Action, PaymentFlow
from ordermill.errors import OrdermillError
from ordermill.services import catalog, ledger, processing
from ordermill.services import orders as order_service
from ordermill.services import workflow as flow_service
from ordermill.services.tables import customers, ledger_entries, order_lines, orders, payments
from ordermill.services.tables import products as products_table

S = OrderStatus
LIVE = frozenset(s.value for s in HOLDS_STOCK)
PRICES = (1_25, 3_00, 7_50)
BALANCES = (0, 0, 4_00, 25_00, 200_00)
REFERENCES = (None, None, "ref-a", "ref-b", "ref-c")
# What to return: None for the whole order, else (name the first line twice?, and per
# line of the order a quantity, 0 to leave it out, and whether to restock it).
ReturnChoice = tuple[bool, list[tuple[int, bool | None]]] | None
RETURN_ITEMS: st.SearchStrategy[ReturnChoice] = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from([False, False, False, False, True]),
        st.lists(
            st.tuples(st.integers(0, 3), st.sampled_from([None, True, False])),
            min_size=3,
            max_size=3,
        ),
    ),
)
AMOUNTS = st.one_of(st.none(), st.integers(0, 60_00))  # None: what is owed
AIM = st.integers(0, 4)  # 0: any order; otherwise one the action applies to


def _settled_targets(target: OrderStatus) -> set[str]:
    """``target`` and every state the automatic moves may carry it to."""
    reached = {target}
    changed = True
    while changed:
        changed = False
        for move in AUTOMATIC:
            if move.source in reached and move.target not in reached:
                reached.add(move.target)
                changed = True
    return {status.value for status in reached}


def legal_moves() -> dict[str, set[tuple[str, str]]]:
    """Per action, the (before, after) status pairs the workflow table allows."""
    moves: dict[str, set[tuple[str, str]]] = {}
    for action, transition in TRANSITIONS.items():
        edges = {(s.value, s.value) for s in transition.repeat_ok}
        for source in transition.sources:
            edges |= {(source.value, end) for end in _settled_targets(transition.target)}
        moves[action.value] = edges
    return moves


LEGAL = legal_moves()


# ---------------------------------------------------------------- the model


@dataclass
class MLine:
    id: int
    product_id: int
    unit_price: int
    ordered: int
    quantity: int
    returned: int = 0
    restocked: int = 0


@dataclass
class MOrder:
    id: int
    customer_id: int
    lines: list[MLine]
    status: str = S.PENDING.value
    total: int = 0
    paid: int = 0
    refunded: int = 0
    references: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Step:
    """One action on an order as observed in the database."""

    action: str
    before: str
    after: str
    refused: str | None  # the reason code, or None when it succeeded


def gate(action: Action, status: str) -> str | None:
    """The table's verdict on the status alone: a refusal code, "repeat" or None (go)."""
    transition = TRANSITIONS[action]
    current = OrderStatus(status)
    if current in transition.repeat_ok:
        return "repeat"
    if current not in transition.sources:
        return transition.refusals[current]
    return None


class WorkflowMachine(RuleBasedStateMachine):
    def __init__(self, database: Database) -> None:
        super().__init__()
        self.db = database
        self.tag = uuid.uuid4().hex[:10]
        self.stock: dict[int, int] = {}
        self.price: dict[int, int] = {}
        self.balance: dict[int, int] = {}
        self.orders: dict[int, MOrder] = {}
        self.order_ids: list[int] = []
        self.product_ids: list[int] = []
        self.customer_ids: list[int] = []
        self.history: dict[int, list[Step]] = defaultdict(list)

    # ------------------------------------------------------------ helpers

    def _run(self, call: Callable[[Session], object]) -> OrdermillError | None:
        try:
            with self.db.write() as session:
                call(session)
        except OrdermillError as exc:
            return exc
        return None

    def _pick_order(self, index: int, action: Action, aim: int) -> MOrder:
        """Mostly (``aim`` > 0) an order the action may be taken on, else any order."""
        pool = [self.orders[order_id] for order_id in self.order_ids]
        if aim:
            ready = [
                order
                for order in pool
                if gate(action, order.status) is None
                and (
                    action is not Action.RETURN
                    or any(ln.quantity > ln.returned for ln in order.lines)
                )
            ]
            pool = ready or pool
        return pool[index % len(pool)]

    def _db_status(self, order_id: int) -> str:
        with self.db.read() as session:
            return str(
                session.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar_one()
            )

    def _balance_in_db(self, customer_id: int) -> int:
        with self.db.read() as session:
            return int(
                session.execute(
                    select(customers.c.balance).where(customers.c.id == customer_id)
                ).scalar_one()
            )

    def _act(
        self,
        action: Action,
        order: MOrder,
        call: Callable[[Session], object],
        refusals: set[str],
        apply: Callable[[], None] | None,
    ) -> None:
        """Run ``call``; it must be refused with one of ``refusals`` or, when that is
        empty, succeed; on success the model is updated by ``apply``."""
        before = order.status
        balance_before = self._balance_in_db(order.customer_id)
        model_before = self.balance[order.customer_id]
        error = self._run(call)
        after = self._db_status(order.id)
        self.history[order.id].append(
            Step(action.value, before, after, error.code if error else None)
        )
        if refusals:
            assert error is not None, f"{action} on a {before} order succeeded; expected {refusals}"
            assert error.code in refusals, (action, before, error.code, error.message, refusals)
        else:
            assert error is None, f"{action} on a {before} order refused: {error and error.code}"
            if apply is not None:
                apply()
        assert after == order.status, (action, before, after, order.status)
        # The customer's balance moved by exactly what the model predicts.
        moved = self._balance_in_db(order.customer_id) - balance_before
        assert moved == self.balance[order.customer_id] - model_before, (action, before, moved)

    # ------------------------------------------------------------ setup

    @initialize(
        stocks=st.lists(st.integers(0, 8), min_size=3, max_size=3),
        balances=st.lists(st.sampled_from(BALANCES), min_size=2, max_size=3),
        first_orders=st.lists(
            st.tuples(
                st.integers(0, 2),
                st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3)), min_size=1, max_size=3),
            ),
            min_size=2,
            max_size=4,
        ),
    )
    def setup(
        self,
        stocks: list[int],
        balances: list[int],
        first_orders: list[tuple[int, list[tuple[int, int]]]],
    ) -> None:
        with self.db.write() as session:
            for n, (stock, price) in enumerate(zip(stocks, PRICES, strict=True)):
                product = catalog.create_product(
                    session,
                    name=f"Product {n}",
                    sku=f"SM-{self.tag}-{n}",
                    price=price,
                    stock=stock,
                )
                self.product_ids.append(product.id)
                self.stock[product.id] = stock
                self.price[product.id] = price
            for n, balance in enumerate(balances):
                customer = catalog.create_customer(
                    session,
                    name=f"Customer {n}",
                    email=f"sm-{self.tag}-{n}@example.com",
                    balance=balance,
                )
                self.customer_ids.append(customer.id)
                self.balance[customer.id] = balance
        for customer_index, items in first_orders:
            self.place_order(customer_index, items)

    # ------------------------------------------------------------ rules

    @rule(
        customer_index=st.integers(0, 2),
        items=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3)), min_size=1, max_size=3),
    )
    def place_order(self, customer_index: int, items: list[tuple[int, int]]) -> None:
        customer_id = self.customer_ids[customer_index % len(self.customer_ids)]
        wanted: dict[int, int] = {}
        for product_index, quantity in items:
            product_id = self.product_ids[product_index]
            wanted[product_id] = wanted.get(product_id, 0) + quantity
        with self.db.write() as session:
            view = order_service.place_order(
                session,
                customer_id=customer_id,
                items=[
                    order_service.ItemRequest(self.product_ids[index], qty) for index, qty in items
                ],
                currency="USD",
            )
        assert view.status == S.PENDING.value
        assert {ln.product_id: ln.quantity_ordered for ln in view.lines} == wanted
        lines = []
        for line in view.lines:
            assert line.product_id is not None
            assert line.unit_price == self.price[line.product_id]
            lines.append(
                MLine(
                    line.id, line.product_id, line.unit_price, line.quantity_ordered, line.quantity
                )
            )
        order = MOrder(view.id, customer_id, lines, total=view.total)
        assert order.total == sum(ln.ordered * ln.unit_price for ln in lines)
        self.orders[view.id] = order
        self.order_ids.append(view.id)

    @rule(
        index=st.integers(0, 50),
        aim=AIM,
        strategy=st.sampled_from(Strategy),
        flow=st.sampled_from(PaymentFlow),
    )
    def process(self, index: int, aim: int, strategy: Strategy, flow: PaymentFlow) -> None:
        self._process(self._pick_order(index, Action.PROCESS, aim), strategy, flow)

    def _process(self, order: MOrder, strategy: Strategy, flow: PaymentFlow) -> None:
        refusal = gate(Action.PROCESS, order.status)
        if refusal is None and flow is PaymentFlow.BALANCE and self.balance[order.customer_id] <= 0:
            refusal = "insufficient_balance"
        settled: dict[int, int] = {}
        if refusal is None:
            remaining = dict(self.stock)
            short = False
            for line in sorted(order.lines, key=lambda ln: ln.id):
                available = remaining[line.product_id]
                quantity = line.ordered
                if quantity > available:
                    short = True
                    quantity = available if strategy is Strategy.ADJUST else 0
                remaining[line.product_id] = available - quantity
                settled[line.id] = quantity
            if short and strategy is Strategy.REJECT:
                refusal = "insufficient_stock"

        def apply() -> None:
            for line in order.lines:
                line.quantity = settled[line.id]
                self.stock[line.product_id] -= line.quantity
            order.total = sum(ln.quantity * ln.unit_price for ln in order.lines)
            order.paid = 0
            if flow is PaymentFlow.BALANCE and order.total > 0:
                self.balance[order.customer_id] -= order.total
                order.paid = order.total
            order.status = (
                S.PROCESSED.value if order.paid >= order.total else S.AWAITING_PAYMENT.value
            )

        self._act(
            Action.PROCESS,
            order,
            lambda session: processing.process_order(session, order.id, strategy, flow=flow),
            {refusal} if refusal else set(),
            apply,
        )

    @rule(
        index=st.integers(0, 50),
        aim=AIM,
        amount=AMOUNTS,
        reference=st.sampled_from(REFERENCES),
    )
    def pay(self, index: int, aim: int, amount: int | None, reference: str | None) -> None:
        self._pay(self._pick_order(index, Action.PAY, aim), amount, reference)

    def _pay(self, order: MOrder, amount: int | None, reference: str | None) -> None:
        if amount is None:  # exactly what is still owed (at least 1)
            amount = max(order.total - order.paid, 1)
        refusals: set[str] = set()
        apply: Callable[[], None] | None = None
        if amount <= 0:
            refusals = {"validation_error"}
        elif reference is not None and reference in order.references:
            apply = None  # recorded already: a success that changes nothing
        else:
            refusal = gate(Action.PAY, order.status)
            if refusal is not None:
                refusals = {refusal}
            else:

                def apply() -> None:
                    applied = min(amount, max(order.total - order.paid, 0))
                    self.balance[order.customer_id] += amount - applied
                    order.paid += applied
                    if reference is not None:
                        order.references.add(reference)
                    if order.paid >= order.total:
                        order.status = S.PROCESSED.value

        self._act(
            Action.PAY,
            order,
            lambda session: flow_service.pay(
                session, order.id, amount=amount, method="transfer", reference=reference
            ),
            refusals,
            apply,
        )

    @rule(index=st.integers(0, 50), aim=AIM)
    def fulfill(self, index: int, aim: int) -> None:
        self._fulfill(self._pick_order(index, Action.FULFILL, aim))

    def _fulfill(self, order: MOrder) -> None:
        refusal = gate(Action.FULFILL, order.status)

        def apply() -> None:
            order.status = S.FULFILLED.value

        self._act(
            Action.FULFILL,
            order,
            lambda session: flow_service.fulfill(
                session, order.id, carrier="Post", tracking_number="T-1"
            ),
            {refusal} if refusal not in (None, "repeat") else set(),
            apply,
        )

    @rule(index=st.integers(0, 50), aim=AIM)
    def deliver(self, index: int, aim: int) -> None:
        self._deliver(self._pick_order(index, Action.DELIVER, aim))

    def _deliver(self, order: MOrder) -> None:
        refusal = gate(Action.DELIVER, order.status)

        def apply() -> None:
            order.status = S.DELIVERED.value

        self._act(
            Action.DELIVER,
            order,
            lambda session: flow_service.deliver(session, order.id),
            {refusal} if refusal not in (None, "repeat") else set(),
            apply,
        )

    @rule(index=st.integers(0, 50), aim=AIM)
    def cancel(self, index: int, aim: int) -> None:
        # Aimed less often than the others: a cancelled order goes no further.
        self._cancel(self._pick_order(index, Action.CANCEL, aim // 3))

    def _cancel(self, order: MOrder) -> None:
        refusal = gate(Action.CANCEL, order.status)

        def apply() -> None:
            if order.status in LIVE:
                for line in order.lines:
                    self.stock[line.product_id] += line.quantity - line.restocked
            self.balance[order.customer_id] += order.paid - order.refunded
            order.refunded = order.paid
            order.status = S.CANCELLED.value

        self._act(
            Action.CANCEL,
            order,
            lambda session: flow_service.cancel(session, order.id, reason="changed my mind"),
            {refusal} if refusal else set(),
            apply,
        )

    @rule(
        index=st.integers(0, 50),
        aim=AIM,
        items=RETURN_ITEMS,
        restock=st.booleans(),
    )
    def return_(
        self,
        index: int,
        aim: int,
        items: ReturnChoice,
        restock: bool,
    ) -> None:
        self._return(self._pick_order(index, Action.RETURN, aim), items, restock)

    def _return(self, order: MOrder, items: ReturnChoice, restock: bool) -> None:
        refusals: set[str] = set()
        wanted: list[tuple[MLine, int, bool | None]]
        request: list[flow_service.ReturnLine] | None
        if items is None:
            request = None
            wanted = [
                (ln, ln.quantity - ln.returned, None)
                for ln in order.lines
                if ln.quantity > ln.returned
            ]
        else:
            twice, per_line = items
            wanted = [
                (line, quantity, back)
                for line, (quantity, back) in zip(order.lines, per_line, strict=False)
                if quantity > 0
            ]
            if twice and wanted:
                wanted.append(wanted[0])
            request = [flow_service.ReturnLine(ln.id, qty, back) for ln, qty, back in wanted]
            if not wanted or len({ln.id for ln, _, _ in wanted}) != len(wanted):
                refusals.add("validation_error")  # no line, or a line listed twice
            elif any(qty > ln.quantity - ln.returned for ln, qty, _ in wanted):
                refusals.add("return_exceeds_quantity")
        refusal = gate(Action.RETURN, order.status)
        if refusal is None and sum(ln.quantity - ln.returned for ln in order.lines) <= 0:
            refusal = "nothing_to_return"
        if refusal is not None:
            refusals.add(refusal)

        def apply() -> None:
            refund = 0
            for line, quantity, back in wanted:
                restocked = quantity if (restock if back is None else back) else 0
                line.returned += quantity
                line.restocked += restocked
                self.stock[line.product_id] += restocked
                refund += quantity * line.unit_price
            refund = min(refund, order.paid - order.refunded)
            self.balance[order.customer_id] += max(refund, 0)
            order.refunded += max(refund, 0)
            order.status = S.RETURNED.value

        self._act(
            Action.RETURN,
            order,
            lambda session: flow_service.return_order(
                session, order.id, lines=request, restock=restock, reason="did not fit"
            ),
            refusals,
            apply,
        )

    @rule(
        index=st.integers(0, 50),
        strategy=st.sampled_from(Strategy),
        flow=st.sampled_from(PaymentFlow),
        amount=AMOUNTS,
        reference=st.sampled_from(REFERENCES),
        items=RETURN_ITEMS,
        restock=st.booleans(),
        deliver_first=st.booleans(),
        steps=st.integers(1, 4),
    )
    def advance(
        self,
        index: int,
        strategy: Strategy,
        flow: PaymentFlow,
        amount: int | None,
        reference: str | None,
        items: ReturnChoice,
        restock: bool,
        deliver_first: bool,
        steps: int,
    ) -> None:
        """Take an order a few steps along the happy path (process, pay, ship, return)."""
        moving = [
            order
            for order in (self.orders[order_id] for order_id in self.order_ids)
            if order.status != S.CANCELLED.value
            and (
                order.status != S.RETURNED.value
                or any(ln.quantity > ln.returned for ln in order.lines)
            )
        ]
        if not moving:
            return
        order = moving[index % len(moving)]
        for _ in range(steps):
            status = OrderStatus(order.status)
            if status is S.PENDING:
                self._process(order, strategy, flow)
            elif status is S.AWAITING_PAYMENT:
                self._pay(order, amount, reference)
            elif status is S.PROCESSED:
                self._fulfill(order)
            elif status is S.FULFILLED and deliver_first:
                self._deliver(order)
            elif status is not S.CANCELLED:
                self._return(order, items, restock)

    @rule(customer_index=st.integers(0, 2), amount=st.integers(-3_00, 30_00).filter(bool))
    def adjust_balance(self, customer_index: int, amount: int) -> None:
        customer_id = self.customer_ids[customer_index % len(self.customer_ids)]
        with self.db.write() as session:
            after = catalog.adjust_balance(session, customer_id, amount, reason="top-up")
        self.balance[customer_id] += amount
        assert after == self.balance[customer_id]

    @rule(product_index=st.integers(0, 2), units=st.integers(1, 3))
    def receive_stock(self, product_index: int, units: int) -> None:
        product_id = self.product_ids[product_index]
        with self.db.write() as session:
            product = catalog.get_product(session, product_id, for_update=True)
            catalog.update_product(
                session, product, catalog.ProductChanges(stock=product.stock + units)
            )
        self.stock[product_id] += units

    # ------------------------------------------------------------ invariants

    @invariant()
    def stock_is_conserved(self) -> None:
        with self.db.read() as session:
            shelves = {
                row.id: (row.stock, row.stock_received)
                for row in session.execute(
                    select(
                        products_table.c.id, products_table.c.stock, products_table.c.stock_received
                    ).where(products_table.c.id.in_(self.product_ids))
                )
            }
            held = dict(
                session.execute(
                    select(
                        order_lines.c.product_id,
                        func.sum(order_lines.c.quantity - order_lines.c.quantity_restocked),
                    )
                    .join(orders, orders.c.id == order_lines.c.order_id)
                    .where(
                        orders.c.status.in_(sorted(LIVE)),
                        order_lines.c.product_id.in_(self.product_ids),
                    )
                    .group_by(order_lines.c.product_id)
                ).all()
            )
        for product_id, (stock, received) in shelves.items():
            assert stock >= 0, (product_id, stock)
            assert stock + int(held.get(product_id, 0)) == received, (
                product_id,
                stock,
                held.get(product_id, 0),
                received,
            )
            assert stock == self.stock[product_id], (product_id, stock, self.stock[product_id])

    @invariant()
    def ledger_adds_up(self) -> None:
        with self.db.read() as session:
            balances = dict(
                session.execute(
                    select(customers.c.id, customers.c.balance).where(
                        customers.c.id.in_(self.customer_ids)
                    )
                ).all()
            )
            entries = session.execute(
                select(
                    ledger_entries.c.customer_id,
                    ledger_entries.c.kind,
                    ledger_entries.c.amount,
                    ledger_entries.c.balance_after,
                )
                .where(ledger_entries.c.customer_id.in_(self.customer_ids))
                .order_by(ledger_entries.c.id)
            ).all()
            drift = ledger.drift(session)
        assert drift == []
        running: dict[int, int] = dict.fromkeys(self.customer_ids, 0)
        for entry in entries:
            running[entry.customer_id] += entry.amount
            assert entry.balance_after == running[entry.customer_id], entry
        assert running == balances
        assert balances == self.balance

    @invariant()
    def payments_and_refunds_add_up(self) -> None:
        with self.db.read() as session:
            rows = session.execute(
                select(
                    orders.c.id, orders.c.status, orders.c.total, orders.c.paid, orders.c.refunded
                ).where(orders.c.id.in_(self.order_ids))
            ).all()
            received = dict(
                session.execute(
                    select(payments.c.order_id, func.sum(payments.c.amount - payments.c.credited))
                    .where(payments.c.order_id.in_(self.order_ids))
                    .group_by(payments.c.order_id)
                ).all()
            )
            lines = session.execute(
                select(
                    order_lines.c.id,
                    order_lines.c.order_id,
                    order_lines.c.quantity,
                    order_lines.c.line_total,
                    order_lines.c.unit_price,
                    order_lines.c.quantity_returned,
                    order_lines.c.quantity_restocked,
                ).where(order_lines.c.order_id.in_(self.order_ids))
            ).all()
        line_totals: dict[int, int] = defaultdict(int)
        for line in lines:
            assert line.line_total == line.quantity * line.unit_price, line
            assert 0 <= line.quantity_restocked <= line.quantity_returned <= line.quantity, line
            line_totals[line.order_id] += line.line_total
            model = next(ln for ln in self.orders[line.order_id].lines if ln.id == line.id)
            assert (line.quantity, line.quantity_returned, line.quantity_restocked) == (
                model.quantity,
                model.returned,
                model.restocked,
            ), line
        for row in rows:
            model_order = self.orders[row.id]
            assert 0 <= row.refunded <= row.paid, row
            assert row.paid == int(received.get(row.id, 0)), (row, received.get(row.id))
            assert row.total == line_totals[row.id], row
            if row.status == S.CANCELLED.value:
                assert row.refunded == row.paid, row
            if row.status in (S.PROCESSED, S.FULFILLED, S.DELIVERED, S.RETURNED):
                assert row.paid >= row.total, row
            assert (row.status, row.total, row.paid, row.refunded) == (
                model_order.status,
                model_order.total,
                model_order.paid,
                model_order.refunded,
            ), (row, model_order)

    @invariant()
    def status_history_follows_the_table(self) -> None:
        for order_id, steps in self.history.items():
            status = S.PENDING.value
            for step in steps:
                assert step.before == status, (order_id, steps)
                if step.refused is not None:
                    assert step.after == step.before, (order_id, step)  # a refusal moves nothing
                elif step.after != step.before or step.action != Action.PAY:
                    # (A payment whose reference was recorded already changes nothing,
                    # whatever the status.)
                    assert (step.before, step.after) in LEGAL[step.action], (order_id, step)
                status = step.after

    @invariant()
    def money_is_conserved_per_customer(self) -> None:
        with self.db.read() as session:
            by_kind: dict[tuple[int, str], int] = defaultdict(int)
            by_kind.update(
                ((row.customer_id, row.kind), int(row.total))
                for row in session.execute(
                    select(
                        ledger_entries.c.customer_id,
                        ledger_entries.c.kind,
                        func.sum(ledger_entries.c.amount).label("total"),
                    )
                    .where(ledger_entries.c.customer_id.in_(self.customer_ids))
                    .group_by(ledger_entries.c.customer_id, ledger_entries.c.kind)
                )
            )
            signs = session.execute(
                select(ledger_entries.c.kind, ledger_entries.c.amount).where(
                    ledger_entries.c.customer_id.in_(self.customer_ids)
                )
            ).all()
            money = {
                row.customer_id: row
                for row in session.execute(
                    select(
                        orders.c.customer_id,
                        func.coalesce(func.sum(orders.c.refunded), 0).label("refunded"),
                    )
                    .where(orders.c.customer_id.in_(self.customer_ids))
                    .group_by(orders.c.customer_id)
                )
            }
            pay_rows = session.execute(
                select(
                    orders.c.customer_id,
                    payments.c.method,
                    func.sum(payments.c.amount).label("amount"),
                    func.sum(payments.c.credited).label("credited"),
                )
                .join(orders, orders.c.id == payments.c.order_id)
                .where(orders.c.customer_id.in_(self.customer_ids))
                .group_by(orders.c.customer_id, payments.c.method)
            ).all()
            balances = dict(
                session.execute(
                    select(customers.c.id, customers.c.balance).where(
                        customers.c.id.in_(self.customer_ids)
                    )
                ).all()
            )
        for kind, amount in signs:
            if kind == ledger.EntryKind.CHARGE:
                assert amount < 0, (kind, amount)
            elif kind in (ledger.EntryKind.REFUND, ledger.EntryKind.CREDIT):
                assert amount > 0, (kind, amount)
        charged_from_balance: dict[int, int] = defaultdict(int)
        credited: dict[int, int] = defaultdict(int)
        for row in pay_rows:
            if row.method == "balance":
                charged_from_balance[row.customer_id] += int(row.amount)
            credited[row.customer_id] += int(row.credited)
        for customer_id in self.customer_ids:
            charges = -by_kind[customer_id, "charge"]
            refunds = by_kind[customer_id, "refund"]
            credits = by_kind[customer_id, "credit"]
            adjustments = by_kind[customer_id, "adjustment"]
            assert balances[customer_id] == adjustments + credits + refunds - charges
            # The ledger agrees with the orders: charges are the payments taken from the
            # balance, refunds what the orders refunded, credits the overpayments.
            assert charges == charged_from_balance[customer_id], customer_id
            refunded = int(money[customer_id].refunded) if customer_id in money else 0
            assert refunds == refunded, customer_id
            assert credits == credited[customer_id], customer_id


@pytest.mark.slow
def test_random_workflows_keep_stock_money_and_statuses_consistent(database: Database) -> None:
    run_state_machine_as_test(
        lambda: WorkflowMachine(database),
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
