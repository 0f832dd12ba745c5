"""The order workflow: states, actions, their guards and effects, as one table of data.

Nothing else changes an order's status. ``TRANSITIONS`` says, for every action,
the states it starts from, where it leads, what it does, and for every other
state the reason code it is refused with; ``AUTOMATIC`` holds the moves the
store makes by itself (an order whose payments cover its total is processed).
The services apply the effects; the API, the CLI and the diagram read the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ordermill.domain.orders import OrderStatus
from ordermill.errors import CATALOGUE, Code, Conflict

S = OrderStatus


class Action(StrEnum):
    PROCESS = "process"
    PAY = "pay"
    FULFILL = "fulfill"
    DELIVER = "deliver"
    CANCEL = "cancel"
    RETURN = "return"


class PaymentFlow(StrEnum):
    """How an order is paid for when it is processed."""

    BALANCE = "balance"  # charged to the customer's store balance at once
    ADVANCE = "advance"  # paid in advance (bank transfer…): stock is held until paid


class Effect(StrEnum):
    """What a transition does besides changing the status (applied by the services)."""

    TAKE_STOCK = "take stock (shortage strategy)"
    CHARGE_BALANCE = "charge the balance (flow balance)"
    RECORD_PAYMENT = "record the payment (a reference counts once)"
    CREDIT_OVERPAYMENT = "credit an overpayment to the balance"
    SET_FULFILLED = "set fulfilled date, carrier and tracking"
    SET_DELIVERED = "set delivered date"
    RESTOCK = "put stock back"
    RESTOCK_ASKED = "put returned stock back when asked"
    REFUND = "refund what was paid to the balance"
    REFUND_RETURNED = "refund returned lines to the balance"


# Every reason an action can be refused with; what each means to a person is in the catalogue.
REASONS: dict[Code, str] = {
    code: CATALOGUE[code].meaning
    for code in (
        Code.ALREADY_PROCESSED,
        Code.ALREADY_PAID,
        Code.ALREADY_FULFILLED,
        Code.ALREADY_DELIVERED,
        Code.ALREADY_CANCELLED,
        Code.ALREADY_RETURNED,
        Code.NOT_PROCESSED,
        Code.NOT_PAID,
        Code.NOT_FULFILLED,
        Code.INSUFFICIENT_BALANCE,
        Code.NOTHING_TO_RETURN,
        Code.NOT_CANCELLABLE_BY_CUSTOMER,
    )
}


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the guards look at: the order, its customer's balance, and the request's flow."""

    status: OrderStatus
    total: int = 0
    paid: int = 0
    balance: int = 0
    returnable: int = 0  # units shipped and not returned yet
    flow: PaymentFlow = PaymentFlow.BALANCE


Guard = Callable[[OrderFacts], Code | None]


def _positive_balance_for_flow_balance(facts: OrderFacts) -> Code | None:
    if facts.flow is PaymentFlow.BALANCE and facts.balance <= 0:
        return Code.INSUFFICIENT_BALANCE
    return None


def _something_left_to_return(facts: OrderFacts) -> Code | None:
    return None if facts.returnable > 0 else Code.NOTHING_TO_RETURN


def is_fully_paid(facts: OrderFacts) -> bool:
    return facts.paid >= facts.total


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    label: str
    sources: frozenset[OrderStatus]
    target: OrderStatus
    refusals: Mapping[OrderStatus, Code]  # every state that is not a source, with its reason
    effects: tuple[Effect, ...] = ()
    guards: tuple[Guard, ...] = ()
    # States where repeating the action succeeds and changes nothing (fulfil twice).
    repeat_ok: frozenset[OrderStatus] = frozenset()
    # States from which a customer may take the action on their own order.
    customer_sources: frozenset[OrderStatus] = frozenset()
    note: str = ""  # shown on the diagram's edge


@dataclass(frozen=True, slots=True)
class Automatic:
    """A move the store makes by itself right after a transition, when ``when`` holds."""

    source: OrderStatus
    target: OrderStatus
    label: str
    when: Callable[[OrderFacts], bool] = field(repr=False)


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(
            Action.PROCESS,
            "Process",
            sources=frozenset({S.PENDING}),
            target=S.AWAITING_PAYMENT,
            effects=(Effect.TAKE_STOCK, Effect.CHARGE_BALANCE),
            guards=(_positive_balance_for_flow_balance,),
            note="flow balance pays at once",
            refusals={
                S.AWAITING_PAYMENT: Code.ALREADY_PROCESSED,
                S.PROCESSED: Code.ALREADY_PROCESSED,
                S.FULFILLED: Code.ALREADY_PROCESSED,
                S.DELIVERED: Code.ALREADY_PROCESSED,
                S.CANCELLED: Code.ALREADY_CANCELLED,
                S.RETURNED: Code.ALREADY_PROCESSED,
            },
        ),
        Transition(
            Action.PAY,
            "Record payment",
            sources=frozenset({S.AWAITING_PAYMENT}),
            target=S.AWAITING_PAYMENT,
            effects=(Effect.RECORD_PAYMENT, Effect.CREDIT_OVERPAYMENT),
            refusals={
                S.PENDING: Code.NOT_PROCESSED,
                S.PROCESSED: Code.ALREADY_PAID,
                S.FULFILLED: Code.ALREADY_PAID,
                S.DELIVERED: Code.ALREADY_PAID,
                S.CANCELLED: Code.ALREADY_CANCELLED,
                S.RETURNED: Code.ALREADY_PAID,
            },
        ),
        Transition(
            Action.FULFILL,
            "Mark shipped",
            sources=frozenset({S.PROCESSED}),
            target=S.FULFILLED,
            effects=(Effect.SET_FULFILLED,),
            repeat_ok=frozenset({S.FULFILLED}),
            refusals={
                S.PENDING: Code.NOT_PROCESSED,
                S.AWAITING_PAYMENT: Code.NOT_PAID,
                S.DELIVERED: Code.ALREADY_DELIVERED,
                S.CANCELLED: Code.ALREADY_CANCELLED,
                S.RETURNED: Code.ALREADY_RETURNED,
            },
        ),
        Transition(
            Action.DELIVER,
            "Mark delivered",
            sources=frozenset({S.FULFILLED}),
            target=S.DELIVERED,
            effects=(Effect.SET_DELIVERED,),
            repeat_ok=frozenset({S.DELIVERED}),
            refusals={
                S.PENDING: Code.NOT_PROCESSED,
                S.AWAITING_PAYMENT: Code.NOT_PAID,
                S.PROCESSED: Code.NOT_FULFILLED,
                S.CANCELLED: Code.ALREADY_CANCELLED,
                S.RETURNED: Code.ALREADY_RETURNED,
            },
        ),
        Transition(
            Action.CANCEL,
            "Cancel",
            sources=frozenset({S.PENDING, S.AWAITING_PAYMENT, S.PROCESSED}),
            target=S.CANCELLED,
            effects=(Effect.RESTOCK, Effect.REFUND),
            customer_sources=frozenset({S.PENDING, S.AWAITING_PAYMENT}),
            refusals={
                S.FULFILLED: Code.ALREADY_FULFILLED,
                S.DELIVERED: Code.ALREADY_DELIVERED,
                S.CANCELLED: Code.ALREADY_CANCELLED,
                S.RETURNED: Code.ALREADY_RETURNED,
            },
        ),
        Transition(
            Action.RETURN,
            "Return",
            sources=frozenset({S.FULFILLED, S.DELIVERED, S.RETURNED}),
            target=S.RETURNED,
            effects=(Effect.REFUND_RETURNED, Effect.RESTOCK_ASKED),
            guards=(_something_left_to_return,),
            refusals={
                S.PENDING: Code.NOT_PROCESSED,
                S.AWAITING_PAYMENT: Code.NOT_PAID,
                S.PROCESSED: Code.NOT_FULFILLED,
                S.CANCELLED: Code.ALREADY_CANCELLED,
            },
        ),
    )
}

AUTOMATIC: tuple[Automatic, ...] = (
    Automatic(S.AWAITING_PAYMENT, S.PROCESSED, "fully paid", is_fully_paid),
)


class TransitionRefused(Conflict):
    """An action the order's state or guards don't allow; ``code`` is the reason."""


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    allowed: bool
    reason: Code | None = None
    repeat: bool = False  # allowed, and taking it again changes nothing

    @property
    def message(self) -> str | None:
        return REASONS[self.reason] if self.reason else None


def check(action: Action, facts: OrderFacts, *, by_customer: bool = False) -> Verdict:
    """Whether ``action`` may be taken now, and if not, why."""
    transition = TRANSITIONS[action]
    if facts.status in transition.repeat_ok:
        return Verdict(action, True, repeat=True)
    if facts.status not in transition.sources:
        return Verdict(action, False, transition.refusals[facts.status])
    if by_customer and facts.status not in transition.customer_sources:
        return Verdict(action, False, Code.NOT_CANCELLABLE_BY_CUSTOMER)
    for guard in transition.guards:
        reason = guard(facts)
        if reason is not None:
            return Verdict(action, False, reason)
    return Verdict(action, True)


def available_actions(
    facts: OrderFacts, actions: Iterable[Action] = tuple(Action), *, by_customer: bool = False
) -> list[Verdict]:
    """Every action with whether it is allowed now: what the back office's buttons show."""
    return [check(action, facts, by_customer=by_customer) for action in actions]


def refused(
    action: Action, status: OrderStatus, reason: Code, order_ref: int | str
) -> TransitionRefused:
    """The 409 for ``action`` refused with ``reason`` on an order in ``status``."""
    return TransitionRefused(
        f"Can't {action.value} order {order_ref}: {REASONS[reason]}",
        code=reason,
        action=action.value,
        order_status=status.value,
    )


def require(action: Action, facts: OrderFacts, order_ref: int | str, **kw: bool) -> Verdict:
    """``check``, raising ``TransitionRefused`` (409) with the reason when not allowed."""
    verdict = check(action, facts, **kw)
    if not verdict.allowed:
        assert verdict.reason is not None
        raise refused(action, facts.status, verdict.reason, order_ref)
    return verdict


def settle(status: OrderStatus, facts: OrderFacts) -> OrderStatus:
    """The state after the automatic moves that apply to ``status``."""
    for move in AUTOMATIC:
        if status is move.source and move.when(facts):
            status = move.target
    return status


# ---------------------------------------------------------------- the diagram


def as_data() -> dict[str, object]:
    """States and transitions for ``GET /api/workflow`` and the diagram."""
    return {
        "states": [status.value for status in OrderStatus],
        "initial": OrderStatus.PENDING.value,
        "final": [S.DELIVERED.value, S.CANCELLED.value, S.RETURNED.value],
        "transitions": [
            {
                "action": t.action.value,
                "label": t.label,
                "from": sorted(s.value for s in t.sources),
                "to": t.target.value,
                "effects": [e.value for e in t.effects],
                "note": t.note or None,
                "repeat_ok": sorted(s.value for s in t.repeat_ok),
                "customer_may_from": sorted(s.value for s in t.customer_sources),
                "refused": {s.value: reason for s, reason in t.refusals.items()},
            }
            for t in TRANSITIONS.values()
        ],
        "automatic": [
            {"from": m.source.value, "to": m.target.value, "when": m.label} for m in AUTOMATIC
        ],
        "reasons": dict(REASONS),
    }


def to_dot() -> str:
    """The workflow in Graphviz's DOT language."""
    lines = [
        "digraph ordermill_workflow {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#f5f5f5", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  start [shape=point, width=0.15, label=""];',
        f"  start -> {S.PENDING.value};",
    ]
    for status in OrderStatus:
        shape = ", peripheries=2" if status in (S.DELIVERED, S.CANCELLED, S.RETURNED) else ""
        lines.append(f'  {status.value} [label="{status.value}"{shape}];')
    for t in TRANSITIONS.values():
        label = f"{t.action.value}\\n({t.note})" if t.note else t.action.value
        for source in sorted(t.sources):
            lines.append(f'  {source.value} -> {t.target.value} [label="{label}"];')
        for source in sorted(t.repeat_ok):
            lines.append(
                f'  {source.value} -> {source.value} [label="{t.action.value} (again: no change)",'
                " style=dashed];"
            )
    for m in AUTOMATIC:
        lines.append(
            f'  {m.source.value} -> {m.target.value} [label="{m.label} (automatic)", style=bold];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
