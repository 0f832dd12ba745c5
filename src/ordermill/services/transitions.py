"""The one way an order's status changes, for one order or a set of them.

``apply`` runs every transition, processing in bulk included: the workflow's
guard (``ordermill.domain.workflow``), the plugins' ``pre_transition`` hook, the
action's decision, the writes with their timeline events and audit entries (one
set of writes for the whole set), then ``post_transition``. ``one_at_a_time``
adds the savepoint a ``post_transition`` hook needs to veto one order's change
without losing the others'. ``journal`` is where every change is recorded: the
rows it returns are written with the change, in its transaction.

Locks are taken in the one order every writer uses: order, customer, then
products by id. A refusal is decided before the first write, so it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ordermill import plugins
from ordermill.domain.events import for_transition
from ordermill.domain.orders import OrderStatus
from ordermill.domain.workflow import Action, OrderFacts, PaymentFlow, check, refused
from ordermill.errors import OrdermillError, order_not_found
from ordermill.services.audit import Actor
from ordermill.services.order_views import OrderView, load_order_with_balance
from ordermill.services.plans import AuditRow, EventRow, Journal, OutboxRow
from ordermill.services.writers.core import write_journal


@dataclass(slots=True)
class Claimed:
    """An order read under its lock, with its customer's balance, ready for a change."""

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


def claim(
    session: Session,
    order_id: int,
    *,
    lock: bool = True,
    lock_customer: bool = True,
    customer_id: int | None = None,
) -> Claimed:
    """The order, its lines and its customer's balance in one statement, locked for a change.

    ``customer_id`` restricts the lookup to that customer's orders (another's is not found).
    """
    loaded = load_order_with_balance(session, order_id, lock=lock, lock_customer=lock_customer)
    if loaded is None or (customer_id is not None and loaded[0].customer_id != customer_id):
        raise order_not_found(order_id)
    return Claimed(*loaded)


def lock_by_id(session: Session, column: Any, ids: Sequence[int]) -> dict[int, int]:
    """Lock the rows of ``column``'s table with these ids, in id order, reading ``column``."""
    if not ids:
        return {}
    table = column.table
    locked = session.execute(
        select(table.c.id, column)
        .where(table.c.id.in_(list(ids)))
        .order_by(table.c.id)
        .with_for_update(key_share=True)
    )
    return {int(row[0]): int(row[1]) for row in locked}


# ---------------------------------------------------------------- what a change records


@dataclass(slots=True)
class Change:
    """One order's decided transition: the order after it, its timeline events and the
    detail of its audit entry, and (for the actions on one order) its own writes."""

    after: OrderView
    events: list[tuple[str, dict[str, Any]]]  # (kind, detail), shown to the customer
    audit: dict[str, Any] | None = None
    write: Callable[[], None] | None = field(default=None, repr=False)


# The audit log's name for each action.
AUDIT_ACTIONS: dict[Action, str] = {
    Action.PROCESS: "order.processed",
    Action.PAY: "order.paid",
    Action.FULFILL: "order.fulfilled",
    Action.DELIVER: "order.delivered",
    Action.CANCEL: "order.cancelled",
    Action.RETURN: "order.returned",
}


def journal(action: Action, changes: Sequence[Change]) -> Journal:
    """The timeline events, audit entries and outbox events of a set of transitions.

    Every status change is recorded through here, whichever writer writes it (the
    Core ``writers.core.write_journal``, or a writer's statement for a whole plan), so
    every change leaves its notification behind in its own transaction. An outbox
    event carries the details of the change's timeline events (carrier and tracking,
    the refund, the strategy).
    """
    return Journal(
        AUDIT_ACTIONS[action],
        tuple(
            EventRow(change.after.id, kind, detail)
            for change in changes
            for kind, detail in change.events
        ),
        tuple(AuditRow(change.after.id, change.audit or {}) for change in changes),
        tuple(
            OutboxRow(
                for_transition(action, OrderStatus(change.after.status)).value,
                change.after.id,
                {key: value for _kind, detail in change.events for key, value in detail.items()},
            )
            for change in changes
        ),
    )


# ---------------------------------------------------------------- the routine

Results = dict[int, OrderView | OrdermillError]


def apply(
    session: Session,
    action: Action,
    claims: Sequence[Claimed],
    *,
    actor: Actor,
    now: datetime,
    decide: Callable[[Claimed], Change],
    payload: Callable[[Claimed], dict[str, Any]],
    facts: Callable[[Claimed], OrderFacts] | None = None,
    write: Callable[[Sequence[Change], Journal], None] | None = None,
    by_customer: bool = False,
) -> Results:
    """Take ``action`` on each claimed order, in order: the order after it, or why not.

    Per order: the guard (on ``facts``, by default the claimed order's), the
    ``pre_transition`` hook, then ``decide``; a refusal, a veto or a decision that
    raises leaves that order out. Then one set of writes for all the others with
    their journal (``write``, by default each change's own writes then the journal's
    rows), and the ``post_transition`` hooks. An order in a state where the action
    changes nothing (fulfil twice) comes back as it is, without hooks or writes.
    """
    results: Results = {}
    changes: list[tuple[OrderStatus, Change]] = []
    for claimed in claims:
        view = claimed.view
        verdict = check(
            action, facts(claimed) if facts else claimed.facts(), by_customer=by_customer
        )
        if not verdict.allowed:
            assert verdict.reason is not None
            results[view.id] = refused(action, claimed.status, verdict.reason, view.ref)
            continue
        if verdict.repeat:
            results[view.id] = view
            continue
        previous = claimed.status
        try:
            plugins.call(
                "pre_transition",
                order=replace(view),
                action=action.value,
                payload=payload(claimed),
                actor=actor.label,
            )
            change = decide(claimed)
        except OrdermillError as exc:
            results[view.id] = exc
            continue
        changes.append((previous, change))
        results[view.id] = change.after
    if changes:
        decided = [change for _, change in changes]
        entries = journal(action, decided)
        if write is None:
            for change in decided:
                if change.write is not None:
                    change.write()
            write_journal(session, entries, actor, now)
        else:
            write(decided, entries)
    for previous, change in changes:
        plugins.call(
            "post_transition",
            order=change.after,
            action=action.value,
            previous_status=previous.value,
            actor=actor.label,
        )
    return results


def one_at_a_time(
    session: Session, ids: Sequence[int], run: Callable[[list[int]], Results]
) -> Results:
    """``run`` over all ``ids`` at once or, when a plugin's ``post_transition`` hook may
    veto after the writes, over one order at a time, each in a savepoint that its veto
    rolls back: a batch sharing the transaction keeps its other orders."""
    if not plugins.has("post_transition"):
        return run(list(ids))
    results: Results = {}
    for order_id in ids:
        try:
            with session.begin_nested():
                results.update(run([order_id]))
        except OrdermillError as exc:
            results[order_id] = exc
    return results


def transition(
    session: Session,
    claimed: Claimed,
    action: Action,
    *,
    actor: Actor,
    now: datetime,
    decide: Callable[[Claimed], Change],
    payload: dict[str, Any],
    flow: PaymentFlow = PaymentFlow.BALANCE,
    by_customer: bool = False,
) -> OrderView:
    """``apply`` to one order, raising why not: the actions on one order."""
    order_id = claimed.view.id

    def run(_: list[int]) -> Results:
        return apply(
            session,
            action,
            [claimed],
            actor=actor,
            now=now,
            decide=decide,
            payload=lambda _claimed: payload,
            facts=lambda c: c.facts(flow),
            by_customer=by_customer,
        )

    result = one_at_a_time(session, [order_id], run)[order_id]
    if isinstance(result, OrdermillError):
        raise result
    return result
