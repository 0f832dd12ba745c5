"""The order workflow's use cases: process, pay, fulfil, deliver, cancel, return, expire.

Every status change goes through ``_transition``: it locks the order (and the
customer when money may move) in the one lock order every writer uses (order,
customer, then products by id), asks ``ordermill.domain.workflow`` whether the
action is allowed, runs the plugins' hooks, applies the effects and records
them on the timeline, the ledger and the audit log, all in the caller's
transaction. A refusal raises before the first write, so nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from ordermill import plugins
from ordermill.domain.orders import (
    DEFAULT_STRATEGY,
    HOLDS_STOCK,
    LineToProcess,
    OrderStatus,
    Strategy,
    plan_processing,
)
from ordermill.domain.workflow import (
    Action,
    OrderFacts,
    PaymentFlow,
    Verdict,
    available_actions,
    check,
    refused,
    require,
    settle,
)
from ordermill.errors import Code, Conflict, InvalidInput, OrdermillError, order_not_found
from ordermill.models import utcnow
from ordermill.services import audit, ledger, timeline
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.ledger import EntryKind
from ordermill.services.order_views import (
    LineView,
    OrderView,
    load_order_with_balance,
    load_orders,
)
from ordermill.services.tables import (
    customers,
    ledger_entries,
    order_lines,
    orders,
    payments,
    products,
)

MAX_METHOD = 40
MAX_REFERENCE = 200


@dataclass(slots=True)
class _Claimed:
    view: OrderView
    balance: int

    @property
    def status(self) -> OrderStatus:
        return OrderStatus(self.view.status)

    def facts(self, flow: PaymentFlow = PaymentFlow.BALANCE) -> OrderFacts:
        return OrderFacts(
            status=self.status,
            total=self.view.total,
            paid=self.view.paid,
            balance=self.balance,
            returnable=sum(ln.quantity - ln.quantity_returned for ln in self.view.lines),
            flow=flow,
        )


def _claim(
    session: Session,
    order_id: int,
    *,
    lock: bool = True,
    lock_customer: bool = True,
    customer_id: int | None = None,
) -> _Claimed:
    """The order, its lines and its customer's balance in one statement, locked for a change.

    The lines are locked with the order (every order has at least one): a statement
    that waited for the lock then reads them as the transaction before it left them,
    not as they were when it started (PostgreSQL re-reads only the rows it locks).
    ``customer_id`` restricts the lookup to that customer's orders (another's is not found).
    """
    loaded = load_order_with_balance(session, order_id, lock=lock, lock_customer=lock_customer)
    if loaded is None or (customer_id is not None and loaded[0].customer_id != customer_id):
        raise order_not_found(order_id)
    return _Claimed(*loaded)


def _transition(
    session: Session,
    claimed: _Claimed,
    action: Action,
    payload: dict[str, Any],
    actor: Actor,
    apply: Callable[[], OrderView],
    *,
    flow: PaymentFlow = PaymentFlow.BALANCE,
    by_customer: bool = False,
) -> OrderView:
    """Check, run the hooks around ``apply``, and return the order as it is after."""
    view = claimed.view
    verdict = require(action, claimed.facts(flow), view.ref, by_customer=by_customer)
    if verdict.repeat:  # fulfil a fulfilled order: a success that changes nothing
        return view
    previous = view.status
    plugins.call(
        "pre_transition",
        order=replace(view),
        action=action.value,
        payload=payload,
        actor=actor.label,
    )
    if not plugins.has("post_transition"):
        return apply()
    # A post hook may still veto: its savepoint undoes this order's writes and only
    # them, so a batch sharing the transaction keeps its other orders.
    with session.begin_nested():
        after = apply()
        plugins.call(
            "post_transition",
            order=after,
            action=action.value,
            previous_status=previous,
            actor=actor.label,
        )
    return after


def _set_order(session: Session, order_id: int, **values: Any) -> None:
    session.execute(update(orders).where(orders.c.id == order_id).values(**values))


_take_stock = (
    update(products)
    .where(products.c.id == bindparam("pid"), products.c.stock >= bindparam("qty"))
    .values(stock=products.c.stock - bindparam("qty"), updated=bindparam("now"))
)
_put_back_stock = (
    update(products)
    .where(products.c.id == bindparam("pid"))
    .values(stock=products.c.stock + bindparam("qty"))
)
_mark_processed = (
    update(orders)
    .where(orders.c.id == bindparam("oid"))
    .values(
        status=bindparam("st"),
        processed=bindparam("now"),
        strategy=bindparam("strat"),
        total=bindparam("tot"),
        payment_flow=bindparam("flw"),
        paid=bindparam("pd"),
    )
)
_charge = (
    update(customers)
    .where(customers.c.id == bindparam("cid"))
    .values(balance=customers.c.balance - bindparam("amt"), updated=bindparam("now"))
)
_settle_line = (
    update(order_lines)
    .where(order_lines.c.id == bindparam("lid"))
    .values(quantity=bindparam("qty"), line_total=bindparam("total"))
)
_return_line = (
    update(order_lines)
    .where(order_lines.c.id == bindparam("lid"))
    .values(
        quantity_returned=order_lines.c.quantity_returned + bindparam("qty"),
        quantity_restocked=order_lines.c.quantity_restocked + bindparam("restocked"),
    )
)


def _refund(
    session: Session, view: OrderView, amount: int, reason: str, actor: Actor, now: datetime
) -> int:
    """Give ``amount`` back to the customer's balance; returns the order's new refunded total."""
    if amount > 0:
        ledger.post(
            session,
            view.customer_id,
            EntryKind.REFUND,
            amount,
            actor=actor,
            order_id=view.id,
            reason=reason,
            now=now,
        )
    return view.refunded + amount


def _restock(session: Session, units: dict[int, int]) -> None:
    """Put units back on the shelves, in product id order like every writer."""
    if units:
        session.execute(
            _put_back_stock, [{"pid": pid, "qty": qty} for pid, qty in sorted(units.items())]
        )


# ---------------------------------------------------------------- process


def process_order(
    session: Session,
    order_id: int,
    strategy: Strategy = DEFAULT_STRATEGY,
    *,
    flow: PaymentFlow = PaymentFlow.BALANCE,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> OrderView:
    """Process a pending order: settle the lines against the stock and take it; then,
    with flow ``balance``, charge the total to the customer's balance (``processed``),
    or with flow ``advance`` wait for the payment (``awaiting_payment``).
    """
    outcome = process_orders(session, [order_id], strategy, flow=flow, now=now, actor=actor)
    result = outcome[order_id]
    if isinstance(result, OrdermillError):
        raise result
    return result


def process_orders(
    session: Session,
    order_ids: Sequence[int],
    strategy: Strategy = DEFAULT_STRATEGY,
    *,
    flow: PaymentFlow = PaymentFlow.BALANCE,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> dict[int, OrderView | OrdermillError]:
    """Process several orders at once, set-based: the processed order, or why not, per id.

    Locks are taken phase by phase, each in id order (the orders, then their
    customers, then their products), so batches and single orders never deadlock.
    Orders are settled one after another in id order against the stock and the
    balances left by the ones before; a refused order writes nothing, and the
    writes of the others go out in one statement per table.
    """
    now = now or utcnow()
    ids = sorted(set(order_ids))
    if plugins.has("post_transition"):
        # A post hook may veto after the writes: one savepoint per order keeps the others.
        results: dict[int, OrderView | OrdermillError] = {}
        for order_id in ids:
            try:
                with session.begin_nested():
                    results.update(_process_set(session, [order_id], strategy, flow, now, actor))
            except OrdermillError as exc:
                results[order_id] = exc
        return results
    return _process_set(session, ids, strategy, flow, now, actor)


def _process_set(
    session: Session,
    ids: list[int],
    strategy: Strategy,
    flow: PaymentFlow,
    now: datetime,
    actor: Actor,
) -> dict[int, OrderView | OrdermillError]:
    results: dict[int, OrderView | OrdermillError] = {}
    claims = _claim_many(session, ids)
    balances = {claim.view.customer_id: claim.balance for claim in claims.values()}
    candidates: list[_Claimed] = []
    for order_id in ids:
        claim = claims.get(order_id)
        if claim is None:
            results[order_id] = order_not_found(order_id)
            continue
        verdict = check(Action.PROCESS, claim.facts(flow))
        if not verdict.allowed:
            results[order_id] = _refusal(Action.PROCESS, claim, verdict)
            continue
        candidates.append(claim)

    product_ids = sorted(
        {
            line.product_id
            for claim in candidates
            for line in claim.view.lines
            if line.product_id is not None
        }
    )
    stock = _lock_by_id(session, products.c.stock, product_ids)

    taken: dict[int, int] = {}
    settled_lines: list[dict[str, Any]] = []
    order_rows: list[dict[str, Any]] = []
    charges: dict[int, int] = {}
    ledger_rows: list[dict[str, Any]] = []
    payment_rows: list[dict[str, Any]] = []
    events: list[tuple[int, str, dict[str, Any]]] = []
    audits: list[tuple[int, dict[str, Any] | None]] = []
    for claim in candidates:
        view = claim.view
        customer_id = view.customer_id
        # The guards again, now against the balance the orders before this one left.
        facts = replace(claim.facts(flow), balance=balances[customer_id])
        verdict = check(Action.PROCESS, facts)
        if not verdict.allowed:
            results[view.id] = _refusal(Action.PROCESS, claim, verdict)
            continue
        lines = [
            LineToProcess(ln.id, ln.product_id, ln.quantity_ordered, ln.unit_price)
            for ln in view.lines
        ]
        try:
            plugins.call(
                "pre_transition",
                order=replace(view),
                action=Action.PROCESS.value,
                payload={"strategy": strategy.value, "flow": flow.value},
                actor=actor.label,
            )
            plan = plan_processing(lines=lines, stock=stock, strategy=strategy)
        except OrdermillError as exc:
            results[view.id] = exc
            continue
        for product_id, quantity in plan.stock_taken.items():
            stock[product_id] -= quantity
            taken[product_id] = taken.get(product_id, 0) + quantity
        adjusted = [line for line in plan.lines if line.adjusted]
        settled_lines.extend(
            {"lid": ln.line_id, "qty": ln.quantity, "total": ln.line_total} for ln in adjusted
        )
        total = plan.total
        paid = 0
        events.append(
            (
                view.id,
                "processed",
                {
                    "strategy": strategy.value,
                    "flow": flow.value,
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
        )
        if flow is PaymentFlow.BALANCE and total > 0:
            balances[customer_id] -= total
            charges[customer_id] = charges.get(customer_id, 0) + total
            ledger_rows.append(
                {
                    "customer_id": customer_id,
                    "at": now,
                    "kind": EntryKind.CHARGE.value,
                    "amount": -total,
                    "balance_after": balances[customer_id],
                    "order_id": view.id,
                    "reason": f"order {view.ref}",
                    "actor": actor.label,
                }
            )
            payment_rows.append(
                {
                    "order_id": view.id,
                    "at": now,
                    "amount": total,
                    "credited": 0,
                    "method": "balance",
                    "reference": None,
                    "actor": actor.label,
                }
            )
            paid = total
            events.append(
                (view.id, "payment", {"amount": total, "method": "balance", "credited": 0})
            )
        status = settle(
            OrderStatus.AWAITING_PAYMENT,
            OrderFacts(OrderStatus.AWAITING_PAYMENT, total=total, paid=paid),
        )
        order_rows.append({"oid": view.id, "st": status.value, "tot": total, "pd": paid})
        audits.append(
            (
                view.id,
                {
                    "strategy": strategy.value,
                    "flow": flow.value,
                    "total": total,
                    "customer_id": customer_id,
                },
            )
        )
        settled = {ln.line_id: ln for ln in plan.lines}
        for line in view.lines:
            line.quantity = settled[line.id].quantity
            line.line_total = settled[line.id].line_total
        view.status = status.value
        view.processed = now
        view.strategy = strategy.value
        view.total = total
        view.payment_flow = flow.value
        view.paid = paid
        results[view.id] = view

    writes = _Writes(
        taken, settled_lines, order_rows, charges, ledger_rows, payment_rows, events, audits
    )
    if session.get_bind().dialect.name == "postgresql":
        _write_processed_pg(session, writes, now, strategy, flow, actor)
    else:
        _write_processed(session, writes, now, strategy, flow, actor)
    for result in results.values():
        if isinstance(result, OrderView):
            plugins.call(
                "post_transition",
                order=result,
                action=Action.PROCESS.value,
                previous_status=OrderStatus.PENDING.value,
                actor=actor.label,
            )
    return results


@dataclass(frozen=True, slots=True)
class _Writes:
    """What processing a set of orders writes, gathered before anything is written."""

    taken: dict[int, int]  # product id -> units
    settled_lines: list[dict[str, Any]]  # lid, qty, total
    order_rows: list[dict[str, Any]]  # oid, st, tot, pd
    charges: dict[int, int]  # customer id -> amount
    ledger_rows: list[dict[str, Any]]
    payment_rows: list[dict[str, Any]]
    events: list[tuple[int, str, dict[str, Any]]]
    audits: list[tuple[int, dict[str, Any] | None]]


def _write_processed(
    session: Session,
    w: _Writes,
    now: datetime,
    strategy: Strategy,
    flow: PaymentFlow,
    actor: Actor,
) -> None:
    """The writes as Core statements, one ``executemany`` per table (SQLite)."""
    if w.taken:
        rows = [{"pid": pid, "qty": qty, "now": now} for pid, qty in sorted(w.taken.items())]
        if session.execute(_take_stock, rows).rowcount != len(rows):  # type: ignore[attr-defined]
            raise RuntimeError("stock changed under a lock while processing orders")
    if w.settled_lines:
        session.execute(_settle_line, w.settled_lines)
    if w.order_rows:
        same = {"now": now, "strat": strategy.value, "flw": flow.value}
        session.execute(_mark_processed, [{**row, **same} for row in w.order_rows])
    if w.charges:
        rows = [{"cid": cid, "amt": amt, "now": now} for cid, amt in sorted(w.charges.items())]
        session.execute(_charge, rows)
        session.execute(insert(ledger_entries), w.ledger_rows)
        session.execute(insert(payments), w.payment_rows)
    if w.events:
        timeline.record_many(session, w.events, actor, now=now)
    audit.record_many(session, actor, "order.processed", "order", w.audits)


# On PostgreSQL every write of a set of processed orders is one statement: data-modifying
# CTEs over arrays of values (``unnest``), instead of about eight statements, each
# pipelined once per row. The rows are already locked, so the CTEs can't race. Each
# ``= ANY(array)`` keeps an index scan when the driver reuses a generic plan, which
# can't see how few rows the arrays hold.
_PROCESSED_PG = text(
    """
WITH stock AS (
    UPDATE products AS p SET stock = p.stock - v.qty, updated = :now
    FROM unnest(CAST(:pid AS integer[]), CAST(:qty AS integer[])) AS v(pid, qty)
    WHERE p.id = v.pid AND p.stock >= v.qty AND p.id = ANY(CAST(:pid AS integer[]))
    RETURNING p.id
), settled AS (
    UPDATE order_lines AS l SET quantity = v.qty, line_total = v.total
    FROM unnest(CAST(:lid AS integer[]), CAST(:lqty AS integer[]), CAST(:ltotal AS bigint[]))
        AS v(lid, qty, total)
    WHERE l.id = v.lid AND l.id = ANY(CAST(:lid AS integer[]))
), marked AS (
    UPDATE orders AS o SET status = v.st, processed = :now, strategy = :strat,
        payment_flow = :flw, total = v.tot, paid = v.pd
    FROM unnest(CAST(:oid AS integer[]), CAST(:st AS text[]), CAST(:tot AS bigint[]),
        CAST(:pd AS bigint[])) AS v(oid, st, tot, pd)
    WHERE o.id = v.oid AND o.id = ANY(CAST(:oid AS integer[]))
), charged AS (
    UPDATE customers AS c SET balance = c.balance - v.amt, updated = :now
    FROM unnest(CAST(:cid AS integer[]), CAST(:amt AS bigint[])) AS v(cid, amt)
    WHERE c.id = v.cid AND c.id = ANY(CAST(:cid AS integer[]))
), entries AS (
    INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id, reason,
        actor)
    SELECT v.cid, :now, 'charge', v.amount, v.after, v.oid, v.reason, :actor
    FROM unnest(CAST(:lg_cid AS integer[]), CAST(:lg_amount AS bigint[]),
        CAST(:lg_after AS bigint[]), CAST(:lg_oid AS integer[]), CAST(:lg_reason AS text[]))
        AS v(cid, amount, after, oid, reason)
), paid AS (
    INSERT INTO payments (order_id, at, amount, credited, method, reference, actor)
    SELECT v.oid, :now, v.amount, 0, 'balance', NULL, :actor
    FROM unnest(CAST(:p_oid AS integer[]), CAST(:p_amount AS bigint[])) AS v(oid, amount)
), timeline AS (
    INSERT INTO order_events (order_id, at, kind, actor, visibility, detail)
    SELECT v.oid, :now, v.kind, :actor, 'customer', CAST(v.detail AS jsonb)
    FROM unnest(CAST(:e_oid AS integer[]), CAST(:e_kind AS text[]), CAST(:e_detail AS text[]))
        AS v(oid, kind, detail)
), audited AS (
    INSERT INTO audit_log (at, actor, user_id, token_id, action, entity, entity_id, detail)
    SELECT :now, :actor, CAST(:uid AS integer), CAST(:tid AS integer), 'order.processed',
        'order', v.oid, CAST(v.detail AS jsonb)
    FROM unnest(CAST(:a_oid AS integer[]), CAST(:a_detail AS text[])) AS v(oid, detail)
)
SELECT count(*) FROM stock
"""
)


def _write_processed_pg(
    session: Session,
    w: _Writes,
    now: datetime,
    strategy: Strategy,
    flow: PaymentFlow,
    actor: Actor,
) -> None:
    taken = sorted(w.taken.items())
    charges = sorted(w.charges.items())
    params: dict[str, Any] = {
        "now": now,
        "strat": strategy.value,
        "flw": flow.value,
        "actor": actor.label,
        "uid": actor.user_id,
        "tid": actor.token_id,
        "pid": [pid for pid, _ in taken],
        "qty": [qty for _, qty in taken],
        "lid": [row["lid"] for row in w.settled_lines],
        "lqty": [row["qty"] for row in w.settled_lines],
        "ltotal": [row["total"] for row in w.settled_lines],
        "oid": [row["oid"] for row in w.order_rows],
        "st": [row["st"] for row in w.order_rows],
        "tot": [row["tot"] for row in w.order_rows],
        "pd": [row["pd"] for row in w.order_rows],
        "cid": [cid for cid, _ in charges],
        "amt": [amt for _, amt in charges],
        "lg_cid": [row["customer_id"] for row in w.ledger_rows],
        "lg_amount": [row["amount"] for row in w.ledger_rows],
        "lg_after": [row["balance_after"] for row in w.ledger_rows],
        "lg_oid": [row["order_id"] for row in w.ledger_rows],
        "lg_reason": [row["reason"] for row in w.ledger_rows],
        "p_oid": [row["order_id"] for row in w.payment_rows],
        "p_amount": [row["amount"] for row in w.payment_rows],
        "e_oid": [oid for oid, _, _ in w.events],
        "e_kind": [kind for _, kind, _ in w.events],
        "e_detail": [json.dumps(detail) for _, _, detail in w.events],
        "a_oid": [oid for oid, _ in w.audits],
        "a_detail": [json.dumps(detail or {}) for _, detail in w.audits],
    }
    if session.execute(_PROCESSED_PG, params).scalar_one() != len(taken):
        raise RuntimeError("stock changed under a lock while processing orders")


def _refusal(action: Action, claim: _Claimed, verdict: Verdict) -> OrdermillError:
    assert verdict.reason is not None
    return refused(action, claim.status, verdict.reason, claim.view.ref)


def _lock_by_id(session: Session, column: Any, ids: list[int]) -> dict[int, int]:
    """Lock the rows of ``column``'s table with these ids, in id order, reading ``column``."""
    if not ids:
        return {}
    table = column.table
    locked = session.execute(
        select(table.c.id, column)
        .where(table.c.id.in_(ids))
        .order_by(table.c.id)
        .with_for_update(key_share=True)
    )
    return {int(row[0]): int(row[1]) for row in locked}


def _claim_many(session: Session, ids: list[int]) -> dict[int, _Claimed]:
    """Lock and read several orders with their lines, then their customers, each in id
    order (one order: both in one statement)."""
    if len(ids) == 1:
        try:
            return {ids[0]: _claim(session, ids[0])}
        except OrdermillError:
            return {}
    views = load_orders(session, ids, lock=True)
    customer_ids = sorted({view.customer_id for view in views.values()})
    balances = _lock_by_id(session, customers.c.balance, customer_ids)
    return {
        order_id: _Claimed(view, int(balances[view.customer_id]))
        for order_id, view in views.items()
    }


# ---------------------------------------------------------------- pay


def pay(
    session: Session,
    order_id: int,
    *,
    amount: int,
    method: str,
    reference: str | None = None,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> OrderView:
    """Record a payment on an order awaiting payment.

    The same reference twice is recorded once (the second call changes nothing).
    When payments cover the total the order is processed; an overpayment is
    credited to the customer's balance.
    """
    if amount <= 0:
        raise InvalidInput("amount must be greater than 0", field="amount")
    method = method.strip()
    if not method or len(method) > MAX_METHOD:
        raise InvalidInput(f"method must be 1 to {MAX_METHOD} characters", field="method")
    if reference is not None and not (0 < len(reference.strip()) <= MAX_REFERENCE):
        raise InvalidInput(f"reference must be 1 to {MAX_REFERENCE} characters", field="reference")
    reference = reference.strip() if reference is not None else None
    now = now or utcnow()
    claimed = _claim(session, order_id)
    view = claimed.view
    if reference is not None:
        seen = session.execute(
            select(payments.c.id).where(
                payments.c.order_id == order_id, payments.c.reference == reference
            )
        ).first()
        if seen is not None:
            return view

    def apply() -> OrderView:
        applied = min(amount, max(view.total - view.paid, 0))
        credited = amount - applied
        session.execute(
            insert(payments).values(
                order_id=order_id,
                at=now,
                amount=amount,
                credited=credited,
                method=method,
                reference=reference,
                actor=actor.label,
            )
        )
        if credited:
            ledger.post(
                session,
                view.customer_id,
                EntryKind.CREDIT,
                credited,
                actor=actor,
                order_id=order_id,
                reason=f"overpayment of order {view.ref}",
                now=now,
            )
        paid = view.paid + applied
        status = settle(
            OrderStatus.AWAITING_PAYMENT,
            OrderFacts(OrderStatus.AWAITING_PAYMENT, total=view.total, paid=paid),
        )
        _set_order(session, order_id, paid=paid, status=status.value)
        detail = {
            "amount": amount,
            "method": method,
            "reference": reference,
            "credited": credited,
            "fully_paid": status is OrderStatus.PROCESSED,
        }
        timeline.record(session, order_id, "payment", actor, detail, now=now)
        audit.record(session, actor, "order.paid", "order", order_id, detail)
        view.paid = paid
        view.status = status.value
        return view

    payload = {"amount": amount, "method": method, "reference": reference}
    return _transition(session, claimed, Action.PAY, payload, actor, apply)


# ---------------------------------------------------------------- fulfil, deliver


def fulfill(
    session: Session,
    order_id: int,
    *,
    carrier: str | None = None,
    tracking_number: str | None = None,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> OrderView:
    """Mark a paid order shipped. Fulfilling it again succeeds and keeps the first date."""
    now = now or utcnow()
    claimed = _claim(session, order_id, lock_customer=False)
    view = claimed.view

    def apply() -> OrderView:
        status = OrderStatus.FULFILLED.value
        _set_order(
            session,
            order_id,
            status=status,
            fulfilled=now,
            carrier=carrier,
            tracking_number=tracking_number,
        )
        detail = {"carrier": carrier, "tracking_number": tracking_number}
        timeline.record(session, order_id, "fulfilled", actor, detail, now=now)
        audit.record(session, actor, "order.fulfilled", "order", order_id, detail)
        view.status, view.fulfilled = status, now
        view.carrier, view.tracking_number = carrier, tracking_number
        return view

    payload = {"carrier": carrier, "tracking_number": tracking_number}
    return _transition(session, claimed, Action.FULFILL, payload, actor, apply)


def deliver(
    session: Session, order_id: int, *, now: datetime | None = None, actor: Actor = SYSTEM
) -> OrderView:
    """Mark a shipped order delivered (again: no change)."""
    now = now or utcnow()
    claimed = _claim(session, order_id, lock_customer=False)
    view = claimed.view

    def apply() -> OrderView:
        _set_order(session, order_id, status=OrderStatus.DELIVERED.value, delivered=now)
        timeline.record(session, order_id, "delivered", actor, {}, now=now)
        audit.record(session, actor, "order.delivered", "order", order_id)
        view.status, view.delivered = OrderStatus.DELIVERED.value, now
        return view

    return _transition(session, claimed, Action.DELIVER, {}, actor, apply)


# ---------------------------------------------------------------- cancel


def cancel(
    session: Session,
    order_id: int,
    *,
    reason: str,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
    customer_id: int | None = None,
    only_from: OrderStatus | None = None,
) -> OrderView:
    """Cancel an order that has not shipped: its stock goes back to the shelves and what
    was paid is refunded to the customer's balance.

    ``customer_id`` is a customer cancelling their own order (only before it is paid).
    With ``only_from``, an order in any other state is returned unchanged.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a reason is required", field="reason")
    now = now or utcnow()
    claimed = _claim(session, order_id, customer_id=customer_id)
    view = claimed.view
    if only_from is not None and claimed.status is not only_from:
        return view

    def apply() -> OrderView:
        units: dict[int, int] = {}
        if claimed.status in HOLDS_STOCK:
            for line in view.lines:
                back = line.quantity - line.quantity_restocked
                if line.product_id is not None and back > 0:
                    units[line.product_id] = units.get(line.product_id, 0) + back
        _restock(session, units)
        refund = max(view.paid - view.refunded, 0)
        refunded = _refund(session, view, refund, f"order {view.ref} cancelled", actor, now)
        _set_order(
            session,
            order_id,
            status=OrderStatus.CANCELLED.value,
            cancelled=now,
            cancel_reason=reason,
            refunded=refunded,
        )
        detail = {"reason": reason, "restocked": sum(units.values()), "refunded": refund}
        timeline.record(session, order_id, "cancelled", actor, detail, now=now)
        audit.record(session, actor, "order.cancelled", "order", order_id, detail)
        view.status, view.cancelled, view.cancel_reason = OrderStatus.CANCELLED.value, now, reason
        view.refunded = refunded
        return view

    return _transition(
        session,
        claimed,
        Action.CANCEL,
        {"reason": reason},
        actor,
        apply,
        by_customer=customer_id is not None,
    )


# ---------------------------------------------------------------- return


@dataclass(frozen=True, slots=True)
class ReturnLine:
    line_id: int
    quantity: int
    restock: bool | None = None  # None: the request's default


def return_order(
    session: Session,
    order_id: int,
    *,
    lines: Sequence[ReturnLine] | None = None,
    restock: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> OrderView:
    """Take back a shipped order, whole (``lines`` None) or some lines and quantities.

    Returned units are refunded to the customer's balance at the price paid, and
    put back in stock where asked.
    """
    now = now or utcnow()
    claimed = _claim(session, order_id)
    view = claimed.view
    by_id = {line.id: line for line in view.lines}
    if lines is None:
        wanted = [
            ReturnLine(ln.id, ln.quantity - ln.quantity_returned)
            for ln in view.lines
            if ln.quantity > ln.quantity_returned
        ]
    else:
        wanted = _check_return_lines(lines, by_id)

    def apply() -> OrderView:
        units: dict[int, int] = {}
        changes = []
        refund = 0
        for item in wanted:
            line = by_id[item.line_id]
            back = restock if item.restock is None else item.restock
            product_id = line.product_id
            restocked = item.quantity if back and product_id is not None else 0
            if restocked and product_id is not None:
                units[product_id] = units.get(product_id, 0) + restocked
            changes.append({"lid": line.id, "qty": item.quantity, "restocked": restocked})
            refund += item.quantity * line.unit_price
            line.quantity_returned += item.quantity
            line.quantity_restocked += restocked
        refund = max(min(refund, view.paid - view.refunded), 0)
        _restock(session, units)
        session.execute(_return_line, changes)
        refunded = _refund(session, view, refund, f"return of order {view.ref}", actor, now)
        _set_order(session, order_id, status=OrderStatus.RETURNED.value, refunded=refunded)
        detail = {
            "reason": reason,
            "lines": [
                {"line_id": c["lid"], "quantity": c["qty"], "restocked": c["restocked"]}
                for c in changes
            ],
            "refunded": refund,
        }
        timeline.record(session, order_id, "returned", actor, detail, now=now)
        audit.record(session, actor, "order.returned", "order", order_id, detail)
        view.status, view.refunded = OrderStatus.RETURNED.value, refunded
        return view

    payload = {
        "lines": [{"line_id": w.line_id, "quantity": w.quantity} for w in wanted],
        "restock": restock,
        "reason": reason,
    }
    return _transition(session, claimed, Action.RETURN, payload, actor, apply)


def _check_return_lines(
    lines: Iterable[ReturnLine], by_id: dict[int, LineView]
) -> list[ReturnLine]:
    merged: dict[int, ReturnLine] = {}
    for item in lines:
        if item.line_id not in by_id:
            raise InvalidInput(f"line {item.line_id} is not a line of this order", field="lines")
        if item.quantity <= 0:
            raise InvalidInput("quantity must be at least 1", field="lines")
        if item.line_id in merged:
            raise InvalidInput(f"line {item.line_id} is listed twice", field="lines")
        merged[item.line_id] = item
    if not merged:
        raise InvalidInput(
            "name at least one line, or leave lines out to return all", field="lines"
        )
    for item in merged.values():
        line = by_id[item.line_id]
        left = line.quantity - line.quantity_returned
        if item.quantity > left:
            raise Conflict(
                f"Line {line.id} ({line.sku}) has {left} unit(s) left to return, "
                f"not {item.quantity}.",
                code=Code.RETURN_EXCEEDS_QUANTITY,
                line_id=line.id,
                returnable=left,
            )
    return list(merged.values())


# ---------------------------------------------------------------- reading


def actions(
    session: Session,
    order_id: int,
    *,
    flow: PaymentFlow = PaymentFlow.BALANCE,
    customer_id: int | None = None,
) -> tuple[OrderView, list[Verdict]]:
    """The order and every action with whether it is allowed now, and why not.

    For a customer (``customer_id``) only the actions they may take themselves.
    """
    claimed = _claim(session, order_id, lock=False, customer_id=customer_id)
    facts = claimed.facts(flow)
    if customer_id is not None:
        return claimed.view, available_actions(facts, (Action.CANCEL,), by_customer=True)
    return claimed.view, available_actions(facts)


# ---------------------------------------------------------------- expiry


@dataclass(frozen=True, slots=True)
class Expired:
    order_id: int
    number: str
    processed: datetime | None
    units: int  # stock released


def expirable(
    session: Session, cutoff: datetime, *, after_id: int = 0, limit: int = 500
) -> list[Expired]:
    """Orders awaiting payment since before ``cutoff``, oldest id first."""
    rows = session.execute(
        select(orders.c.id, orders.c.number, orders.c.processed)
        .where(
            orders.c.status == OrderStatus.AWAITING_PAYMENT.value,
            orders.c.processed < cutoff,
            orders.c.id > after_id,
        )
        .order_by(orders.c.id)
        .limit(limit)
    ).all()
    if not rows:
        return []
    held: dict[int, int] = {row.id: 0 for row in rows}
    for order_id, quantity, restocked in session.execute(
        select(
            order_lines.c.order_id, order_lines.c.quantity, order_lines.c.quantity_restocked
        ).where(order_lines.c.order_id.in_(list(held)), order_lines.c.product_id.is_not(None))
    ):
        held[order_id] += quantity - restocked
    return [Expired(row.id, row.number, row.processed, held[row.id]) for row in rows]


def expire(
    session: Session, order_id: int, *, reason: str, actor: Actor = SYSTEM
) -> OrderView | None:
    """Cancel one order still awaiting payment; ``None`` when it no longer is (paid meanwhile)."""
    view = cancel(
        session, order_id, reason=reason, actor=actor, only_from=OrderStatus.AWAITING_PAYMENT
    )
    return view if view.status == OrderStatus.CANCELLED.value else None
