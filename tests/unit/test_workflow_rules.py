"""The order workflow as a table: which action is allowed in which state, and why not.

The expected table below is written out in full from the spec, not derived from
``TRANSITIONS``, so a change to the table that the spec does not make fails here.
"""

from __future__ import annotations

import json

import pytest

from ordermill.domain.orders import OrderStatus
from ordermill.domain.workflow import (
    AUTOMATIC,
    REASONS,
    TRANSITIONS,
    Action,
    OrderFacts,
    PaymentFlow,
    TransitionRefused,
    Verdict,
    as_data,
    available_actions,
    check,
    require,
    settle,
    to_dot,
)
from ordermill.errors import Conflict
from ordermill.web.problems import status_for

S = OrderStatus
A = Action
OK = "allowed"
AGAIN = "allowed again, no change"

# (action, state) -> OK, AGAIN, or the reason code it is refused with.
# Facts that satisfy every guard: the guards have their own tests further down.
EXPECTED: dict[tuple[Action, OrderStatus], str] = {
    # process: only a pending order
    (A.PROCESS, S.PENDING): OK,
    (A.PROCESS, S.AWAITING_PAYMENT): "already_processed",
    (A.PROCESS, S.PROCESSED): "already_processed",
    (A.PROCESS, S.FULFILLED): "already_processed",
    (A.PROCESS, S.DELIVERED): "already_processed",
    (A.PROCESS, S.CANCELLED): "already_cancelled",
    (A.PROCESS, S.RETURNED): "already_processed",
    # pay: only an order awaiting payment
    (A.PAY, S.PENDING): "not_processed",
    (A.PAY, S.AWAITING_PAYMENT): OK,
    (A.PAY, S.PROCESSED): "already_paid",
    (A.PAY, S.FULFILLED): "already_paid",
    (A.PAY, S.DELIVERED): "already_paid",
    (A.PAY, S.CANCELLED): "already_cancelled",
    (A.PAY, S.RETURNED): "already_paid",
    # fulfill: a paid order; again on a fulfilled one changes nothing
    (A.FULFILL, S.PENDING): "not_processed",
    (A.FULFILL, S.AWAITING_PAYMENT): "not_paid",
    (A.FULFILL, S.PROCESSED): OK,
    (A.FULFILL, S.FULFILLED): AGAIN,
    (A.FULFILL, S.DELIVERED): "already_delivered",
    (A.FULFILL, S.CANCELLED): "already_cancelled",
    (A.FULFILL, S.RETURNED): "already_returned",
    # deliver: a shipped order; again on a delivered one changes nothing
    (A.DELIVER, S.PENDING): "not_processed",
    (A.DELIVER, S.AWAITING_PAYMENT): "not_paid",
    (A.DELIVER, S.PROCESSED): "not_fulfilled",
    (A.DELIVER, S.FULFILLED): OK,
    (A.DELIVER, S.DELIVERED): AGAIN,
    (A.DELIVER, S.CANCELLED): "already_cancelled",
    (A.DELIVER, S.RETURNED): "already_returned",
    # cancel: anything not shipped yet
    (A.CANCEL, S.PENDING): OK,
    (A.CANCEL, S.AWAITING_PAYMENT): OK,
    (A.CANCEL, S.PROCESSED): OK,
    (A.CANCEL, S.FULFILLED): "already_fulfilled",
    (A.CANCEL, S.DELIVERED): "already_delivered",
    (A.CANCEL, S.CANCELLED): "already_cancelled",
    (A.CANCEL, S.RETURNED): "already_returned",
    # return: a shipped order, again while units are left
    (A.RETURN, S.PENDING): "not_processed",
    (A.RETURN, S.AWAITING_PAYMENT): "not_paid",
    (A.RETURN, S.PROCESSED): "not_fulfilled",
    (A.RETURN, S.FULFILLED): OK,
    (A.RETURN, S.DELIVERED): OK,
    (A.RETURN, S.CANCELLED): "already_cancelled",
    (A.RETURN, S.RETURNED): OK,
}

# Where each action leads when it is allowed (before the automatic moves).
EXPECTED_TARGET = {
    A.PROCESS: S.AWAITING_PAYMENT,
    A.PAY: S.AWAITING_PAYMENT,
    A.FULFILL: S.FULFILLED,
    A.DELIVER: S.DELIVERED,
    A.CANCEL: S.CANCELLED,
    A.RETURN: S.RETURNED,
}

GUARD_REASONS = {"insufficient_balance", "nothing_to_return", "not_cancellable_by_customer"}


def facts(status: OrderStatus, **changes: object) -> OrderFacts:
    """Facts that pass every guard unless changed: a positive balance, units to return."""
    values: dict[str, object] = {
        "total": 30_00,
        "paid": 0,
        "balance": 100_00,
        "returnable": 3,
        "flow": PaymentFlow.BALANCE,
    }
    values.update(changes)
    return OrderFacts(status, **values)  # type: ignore[arg-type]


def outcome(verdict: Verdict) -> str:
    if verdict.allowed:
        return AGAIN if verdict.repeat else OK
    assert verdict.reason is not None
    return verdict.reason


# ---------------------------------------------------------------- the table, pair by pair


def test_the_expected_table_covers_every_action_in_every_state() -> None:
    assert len(EXPECTED) == len(Action) * len(OrderStatus) == 42
    assert set(EXPECTED) == {(a, s) for a in Action for s in OrderStatus}


@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [(a, s, e) for (a, s), e in EXPECTED.items()],
    ids=[f"{a.value}-{s.value}" for a, s in EXPECTED],
)
def test_each_action_in_each_state_is_allowed_or_refused_with_its_reason(
    action: Action, status: OrderStatus, expected: str
) -> None:
    verdict = check(action, facts(status))

    assert verdict.action is action
    assert outcome(verdict) == expected
    if verdict.allowed:
        assert verdict.reason is None
        assert verdict.message is None
    else:
        assert verdict.message == REASONS[expected]


@pytest.mark.parametrize("action", list(Action))
def test_each_action_leads_to_its_target_state(action: Action) -> None:
    assert TRANSITIONS[action].target is EXPECTED_TARGET[action]


@pytest.mark.parametrize("action", list(Action))
def test_every_state_is_a_source_a_repeat_or_a_refusal_of_each_action_exactly_once(
    action: Action,
) -> None:
    t = TRANSITIONS[action]
    parts = [set(t.sources), set(t.repeat_ok), set(t.refusals)]

    assert set().union(*parts) == set(OrderStatus)
    assert sum(len(p) for p in parts) == len(OrderStatus)


def test_every_refusal_in_the_table_has_a_message_for_people() -> None:
    codes = {reason for t in TRANSITIONS.values() for reason in t.refusals.values()}
    codes |= {e for e in EXPECTED.values() if e not in (OK, AGAIN)}

    for code in codes | GUARD_REASONS:
        assert REASONS.get(code), code
        assert REASONS[code].endswith("."), code


def test_reasons_lists_exactly_the_codes_the_workflow_can_refuse_with() -> None:
    table_codes = {e for e in EXPECTED.values() if e not in (OK, AGAIN)}

    assert set(REASONS) == table_codes | GUARD_REASONS


# ---------------------------------------------------------------- repeating an action


@pytest.mark.parametrize(("action", "status"), [(A.FULFILL, S.FULFILLED), (A.DELIVER, S.DELIVERED)])
def test_repeating_fulfil_or_deliver_is_a_success_marked_as_a_repeat(
    action: Action, status: OrderStatus
) -> None:
    verdict = check(action, facts(status))

    assert verdict == Verdict(action, True, None, repeat=True)
    assert TRANSITIONS[action].repeat_ok == frozenset({status})


def test_a_first_fulfil_or_deliver_is_not_a_repeat() -> None:
    assert check(A.FULFILL, facts(S.PROCESSED)).repeat is False
    assert check(A.DELIVER, facts(S.FULFILLED)).repeat is False


@pytest.mark.parametrize("action", [A.PROCESS, A.PAY, A.CANCEL, A.RETURN])
def test_no_other_action_may_be_repeated(action: Action) -> None:
    assert TRANSITIONS[action].repeat_ok == frozenset()
    assert not any(check(action, facts(s)).repeat for s in OrderStatus)


def test_cancelling_a_cancelled_order_is_refused_not_repeated() -> None:
    assert check(A.CANCEL, facts(S.CANCELLED)) == Verdict(A.CANCEL, False, "already_cancelled")


# ---------------------------------------------------------------- guards: the balance


def test_a_balance_of_exactly_zero_is_refused() -> None:
    with pytest.raises(TransitionRefused) as exc:
        require(A.PROCESS, facts(S.PENDING, balance=0), "2026-00001")

    assert exc.value.code == "insufficient_balance"
    assert REASONS["insufficient_balance"] in exc.value.message


@pytest.mark.parametrize("balance", [0, -1, -50_00])
def test_processing_with_flow_balance_needs_a_positive_balance(balance: int) -> None:
    verdict = check(A.PROCESS, facts(S.PENDING, balance=balance, flow=PaymentFlow.BALANCE))

    assert (verdict.allowed, verdict.reason) == (False, "insufficient_balance")


def test_a_balance_of_one_minor_unit_is_enough_even_for_a_larger_total() -> None:
    # The rule is "balance > 0", not "balance >= total": the charge may go below zero.
    verdict = check(A.PROCESS, facts(S.PENDING, balance=1, total=150_00))

    assert verdict.allowed


@pytest.mark.parametrize("balance", [0, -1, 1])
def test_processing_with_flow_advance_ignores_the_balance(balance: int) -> None:
    verdict = check(A.PROCESS, facts(S.PENDING, balance=balance, flow=PaymentFlow.ADVANCE))

    assert verdict.allowed


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not S.PENDING])
def test_already_processed_or_cancelled_is_reported_before_insufficient_balance(
    status: OrderStatus,
) -> None:
    verdict = check(A.PROCESS, facts(status, balance=0))

    assert verdict.reason == EXPECTED[(A.PROCESS, status)]
    assert verdict.reason != "insufficient_balance"


@pytest.mark.parametrize("action", [A.PAY, A.FULFILL, A.DELIVER, A.CANCEL, A.RETURN])
def test_the_balance_guard_belongs_to_processing_only(action: Action) -> None:
    for status in OrderStatus:
        verdict = check(action, facts(status, balance=-10_00))
        assert verdict.reason != "insufficient_balance", (action, status)


# ---------------------------------------------------------------- guards: returns


@pytest.mark.parametrize("status", [S.FULFILLED, S.DELIVERED, S.RETURNED])
def test_an_order_with_nothing_left_to_return_is_refused(status: OrderStatus) -> None:
    verdict = check(A.RETURN, facts(status, returnable=0))

    assert (verdict.allowed, verdict.reason) == (False, "nothing_to_return")


def test_a_returned_order_with_units_left_may_be_returned_again() -> None:
    assert check(A.RETURN, facts(S.RETURNED, returnable=1)).allowed


@pytest.mark.parametrize("status", [S.PENDING, S.AWAITING_PAYMENT, S.PROCESSED, S.CANCELLED])
def test_the_state_refusal_comes_before_nothing_to_return(status: OrderStatus) -> None:
    verdict = check(A.RETURN, facts(status, returnable=0))

    assert verdict.reason == EXPECTED[(A.RETURN, status)]


# ---------------------------------------------------------------- customers cancelling


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.PENDING, OK),
        (S.AWAITING_PAYMENT, OK),
        (S.PROCESSED, "not_cancellable_by_customer"),
        (S.FULFILLED, "already_fulfilled"),
        (S.DELIVERED, "already_delivered"),
        (S.CANCELLED, "already_cancelled"),
        (S.RETURNED, "already_returned"),
    ],
)
def test_a_customer_may_cancel_only_before_the_order_is_paid(
    status: OrderStatus, expected: str
) -> None:
    assert outcome(check(A.CANCEL, facts(status), by_customer=True)) == expected


def test_staff_may_cancel_a_processed_order_a_customer_may_not() -> None:
    assert check(A.CANCEL, facts(S.PROCESSED)).allowed
    assert not check(A.CANCEL, facts(S.PROCESSED), by_customer=True).allowed
    assert TRANSITIONS[A.CANCEL].customer_sources == frozenset({S.PENDING, S.AWAITING_PAYMENT})


# ---------------------------------------------------------------- settle: automatic moves


@pytest.mark.parametrize(
    ("total", "paid", "expected"),
    [
        (30_00, 0, S.AWAITING_PAYMENT),
        (30_00, 29_99, S.AWAITING_PAYMENT),
        (30_00, 30_00, S.PROCESSED),
        (30_00, 45_00, S.PROCESSED),
        (0, 0, S.PROCESSED),
    ],
)
def test_an_order_awaiting_payment_is_processed_once_its_payments_cover_the_total(
    total: int, paid: int, expected: OrderStatus
) -> None:
    state = facts(S.AWAITING_PAYMENT, total=total, paid=paid)

    assert settle(S.AWAITING_PAYMENT, state) is expected


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not S.AWAITING_PAYMENT])
def test_settle_moves_no_other_state(status: OrderStatus) -> None:
    assert settle(status, facts(status, total=10_00, paid=10_00)) is status


def test_the_only_automatic_move_is_fully_paid() -> None:
    assert [(m.source, m.target, m.label) for m in AUTOMATIC] == [
        (S.AWAITING_PAYMENT, S.PROCESSED, "fully paid")
    ]


# ---------------------------------------------------------------- require, available_actions


def test_require_raises_a_409_transition_refused_with_the_reason_code() -> None:
    with pytest.raises(TransitionRefused) as exc:
        require(A.FULFILL, facts(S.AWAITING_PAYMENT), "2026-00007")

    error = exc.value
    assert isinstance(error, Conflict)
    assert status_for(error) == 409
    assert error.code == "not_paid"
    assert error.detail == {"action": "fulfill", "order_status": "awaiting_payment"}
    assert "2026-00007" in error.message
    assert REASONS["not_paid"] in error.message


def test_require_passes_by_customer_on() -> None:
    with pytest.raises(TransitionRefused) as exc:
        require(A.CANCEL, facts(S.PROCESSED), 7, by_customer=True)

    assert exc.value.code == "not_cancellable_by_customer"


def test_require_returns_the_verdict_when_allowed() -> None:
    assert require(A.FULFILL, facts(S.PROCESSED), 1) == Verdict(A.FULFILL, True)
    assert require(A.FULFILL, facts(S.FULFILLED), 1).repeat


def test_available_actions_lists_every_action_in_order_with_its_verdict() -> None:
    verdicts = available_actions(facts(S.PROCESSED))

    assert [(v.action, outcome(v)) for v in verdicts] == [
        (A.PROCESS, "already_processed"),
        (A.PAY, "already_paid"),
        (A.FULFILL, OK),
        (A.DELIVER, "not_fulfilled"),
        (A.CANCEL, OK),
        (A.RETURN, "not_fulfilled"),
    ]


def test_available_actions_can_be_limited_and_asked_for_a_customer() -> None:
    verdicts = available_actions(facts(S.PROCESSED), (A.CANCEL,), by_customer=True)

    assert verdicts == [Verdict(A.CANCEL, False, "not_cancellable_by_customer")]


# ---------------------------------------------------------------- as data, as a diagram


def test_as_data_describes_states_transitions_automatic_moves_and_reasons() -> None:
    data = as_data()

    assert set(data) == {"states", "initial", "final", "transitions", "automatic", "reasons"}
    assert data["states"] == [
        "pending",
        "awaiting_payment",
        "processed",
        "fulfilled",
        "delivered",
        "cancelled",
        "returned",
    ]
    assert data["initial"] == "pending"
    assert data["final"] == ["delivered", "cancelled", "returned"]
    assert data["automatic"] == [
        {"from": "awaiting_payment", "to": "processed", "when": "fully paid"}
    ]
    assert data["reasons"] == REASONS
    json.dumps(data)  # the API serves it as it is


def test_as_data_has_one_transition_per_action_matching_the_table() -> None:
    transitions = as_data()["transitions"]
    assert isinstance(transitions, list)

    assert [t["action"] for t in transitions] == [a.value for a in Action]
    for t in transitions:
        assert set(t) >= {
            "action",
            "label",
            "from",
            "to",
            "effects",
            "repeat_ok",
            "customer_may_from",
            "refused",
        }
        action = Action(t["action"])
        assert t["to"] == EXPECTED_TARGET[action].value
        assert t["from"] == sorted(
            s.value for (a, s), e in EXPECTED.items() if a is action and e == OK
        )
        assert t["repeat_ok"] == [
            s.value for (a, s), e in EXPECTED.items() if a is action and e == AGAIN
        ]
        assert t["refused"] == {
            s.value: e for (a, s), e in EXPECTED.items() if a is action and e not in (OK, AGAIN)
        }
        assert t["effects"], action
        assert t["label"]
    cancel = next(t for t in transitions if t["action"] == "cancel")
    assert cancel["customer_may_from"] == ["awaiting_payment", "pending"]


def test_to_dot_is_a_graphviz_digraph_naming_every_state_and_action() -> None:
    dot = to_dot()

    assert dot.startswith("digraph ordermill_workflow {")
    assert dot.rstrip().endswith("}")
    for status in OrderStatus:
        assert f"  {status.value} [" in dot, status
    for action in Action:
        assert f'[label="{action.value}' in dot, action
    assert "start -> pending;" in dot
    assert 'processed -> fulfilled [label="fulfill"];' in dot
    assert 'fulfilled -> fulfilled [label="fulfill (again: no change)", style=dashed];' in dot
    assert 'awaiting_payment -> processed [label="fully paid (automatic)", style=bold];' in dot
    assert dot.count("{") == dot.count("}")
