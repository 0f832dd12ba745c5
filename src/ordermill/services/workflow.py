"""The actions on one order: pay, fulfil, deliver, cancel, return, expire; and what can
be done with an order now.

Each action claims the order (``transitions.claim``: the order, its lines and its
customer, locked in the one lock order every writer uses), decides its effects,
and hands them to ``transitions.transition``, the routine every status change goes
through: the workflow's guard, the plugins' hooks, the writes with their timeline
event and audit entry. A refusal raises before the first write, so nothing changes.
Processing is ``processing``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from ordermill.domain.orders import HOLDS_STOCK, OrderStatus
from ordermill.domain.workflow import (
    Action,
    OrderFacts,
    PaymentFlow,
    Verdict,
    available_actions,
    settle,
)
from ordermill.errors import Code, Conflict, InvalidInput
from ordermill.models import utcnow
from ordermill.services import ledger
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.ledger import EntryKind
from ordermill.services.order_views import LineView, OrderView
from ordermill.services.tables import order_lines, orders, payments, products
from ordermill.services.transitions import Change, Claimed, claim, transition

MAX_METHOD = 40
MAX_REFERENCE = 200


def _set_order(session: Session, order_id: int, **values: Any) -> None:
    session.execute(update(orders).where(orders.c.id == order_id).values(**values))


_put_back_stock = (
    update(products)
    .where(products.c.id == bindparam("pid"))
    .values(stock=products.c.stock + bindparam("qty"), updated=bindparam("now"))
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
) -> None:
    """Give ``amount`` back to the customer's balance."""
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


def _restock(session: Session, units: dict[int, int], now: datetime) -> None:
    """Put units back on the shelves, in product id order like every writer."""
    if units:
        session.execute(
            _put_back_stock,
            [{"pid": pid, "qty": qty, "now": now} for pid, qty in sorted(units.items())],
        )


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
    claimed = claim(session, order_id)
    view = claimed.view
    if reference is not None:
        seen = session.execute(
            select(payments.c.id).where(
                payments.c.order_id == order_id, payments.c.reference == reference
            )
        ).first()
        if seen is not None:
            return view

    def decide(_: Claimed) -> Change:
        applied = min(amount, max(view.total - view.paid, 0))
        credited = amount - applied
        paid = view.paid + applied
        status = settle(
            OrderStatus.AWAITING_PAYMENT,
            OrderFacts(OrderStatus.AWAITING_PAYMENT, total=view.total, paid=paid),
        )

        def write() -> None:
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
            _set_order(session, order_id, paid=paid, status=status.value)

        detail = {
            "amount": amount,
            "method": method,
            "reference": reference,
            "credited": credited,
            "fully_paid": status is OrderStatus.PROCESSED,
        }
        view.paid = paid
        view.status = status.value
        return Change(view, [("payment", detail)], detail, write)

    payload = {"amount": amount, "method": method, "reference": reference}
    return transition(
        session, claimed, Action.PAY, actor=actor, now=now, decide=decide, payload=payload
    )


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
    claimed = claim(session, order_id, lock_customer=False)
    view = claimed.view

    def decide(_: Claimed) -> Change:
        status = OrderStatus.FULFILLED.value

        def write() -> None:
            _set_order(
                session,
                order_id,
                status=status,
                fulfilled=now,
                carrier=carrier,
                tracking_number=tracking_number,
            )

        detail = {"carrier": carrier, "tracking_number": tracking_number}
        view.status, view.fulfilled = status, now
        view.carrier, view.tracking_number = carrier, tracking_number
        return Change(view, [("fulfilled", detail)], detail, write)

    payload = {"carrier": carrier, "tracking_number": tracking_number}
    return transition(
        session, claimed, Action.FULFILL, actor=actor, now=now, decide=decide, payload=payload
    )


def deliver(
    session: Session, order_id: int, *, now: datetime | None = None, actor: Actor = SYSTEM
) -> OrderView:
    """Mark a shipped order delivered (again: no change)."""
    moment = now or utcnow()
    claimed = claim(session, order_id, lock_customer=False)
    view = claimed.view

    def decide(_: Claimed) -> Change:
        def write() -> None:
            _set_order(session, order_id, status=OrderStatus.DELIVERED.value, delivered=moment)

        view.status, view.delivered = OrderStatus.DELIVERED.value, moment
        return Change(view, [("delivered", {})], None, write)

    return transition(
        session, claimed, Action.DELIVER, actor=actor, now=moment, decide=decide, payload={}
    )


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
    claimed = claim(session, order_id, customer_id=customer_id)
    view = claimed.view
    if only_from is not None and claimed.status is not only_from:
        return view

    def decide(_: Claimed) -> Change:
        units: dict[int, int] = {}
        if claimed.status in HOLDS_STOCK:
            for line in view.lines:
                back = line.quantity - line.quantity_restocked
                if line.product_id is not None and back > 0:
                    units[line.product_id] = units.get(line.product_id, 0) + back
        refund = max(view.paid - view.refunded, 0)
        refunded = view.refunded + refund

        def write() -> None:
            _restock(session, units, now)
            _refund(session, view, refund, f"order {view.ref} cancelled", actor, now)
            _set_order(
                session,
                order_id,
                status=OrderStatus.CANCELLED.value,
                cancelled=now,
                cancel_reason=reason,
                refunded=refunded,
            )

        detail = {"reason": reason, "restocked": sum(units.values()), "refunded": refund}
        view.status, view.cancelled, view.cancel_reason = OrderStatus.CANCELLED.value, now, reason
        view.refunded = refunded
        return Change(view, [("cancelled", detail)], detail, write)

    return transition(
        session,
        claimed,
        Action.CANCEL,
        actor=actor,
        now=now,
        decide=decide,
        payload={"reason": reason},
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
    claimed = claim(session, order_id)
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

    def decide(_: Claimed) -> Change:
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
        refunded = view.refunded + refund

        def write() -> None:
            _restock(session, units, now)
            session.execute(_return_line, changes)
            _refund(session, view, refund, f"return of order {view.ref}", actor, now)
            _set_order(session, order_id, status=OrderStatus.RETURNED.value, refunded=refunded)

        detail = {
            "reason": reason,
            "lines": [
                {"line_id": c["lid"], "quantity": c["qty"], "restocked": c["restocked"]}
                for c in changes
            ],
            "refunded": refund,
        }
        view.status, view.refunded = OrderStatus.RETURNED.value, refunded
        return Change(view, [("returned", detail)], detail, write)

    payload = {
        "lines": [{"line_id": w.line_id, "quantity": w.quantity} for w in wanted],
        "restock": restock,
        "reason": reason,
    }
    return transition(
        session, claimed, Action.RETURN, actor=actor, now=now, decide=decide, payload=payload
    )


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
    claimed = claim(session, order_id, lock=False, customer_id=customer_id)
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
