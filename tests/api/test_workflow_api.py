"""The order workflow over HTTP: /api/workflow, an order's actions, its timeline, reorder.

Staff see every action of an order with whether it is allowed now and why not,
take them one by one (each with its own body), and read the order's timeline.
A refused action is a 409 problem with a stable code and changes nothing.
"""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    assert_money,
    assert_problem,
    assert_utc_timestamp,
    balance_of,
    error_fields,
    get_json,
    place_order,
    process,
    stock_of,
)
from tests.factories import api_customer, api_product

ACTIONS = ["process", "pay", "fulfill", "deliver", "cancel", "return"]
WORKFLOW_FIELDS = {
    "payment_flow",
    "paid",
    "refunded",
    "balance_due",
    "is_fully_paid",
    "fulfilled",
    "carrier",
    "tracking_number",
    "delivered",
    "cancelled",
    "cancel_reason",
}


# ---------------------------------------------------------------- a small shop


class Shop:
    """A customer holding 100.00; mugs at 4.00 (10 in stock) and kettles at 6.00 (5)."""

    def __init__(self, client: TestClient, balance: str = "100.00") -> None:
        self.client = client
        self.customer = api_customer(client, balance=balance)
        self.mug = api_product(client, price="4.00", stock=10)
        self.kettle = api_product(client, price="6.00", stock=5)

    def order(self, mugs: int = 2, kettles: int = 1, **fields: Any) -> dict[str, Any]:
        """A pending order: by default 2 mugs and a kettle, 14.00."""
        items = [(self.mug["id"], mugs)] + ([(self.kettle["id"], kettles)] if kettles else [])
        return place_order(self.client, self.customer["id"], *items, **fields)

    def act(
        self,
        order_id: int,
        action: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return self.client.post(
            f"/api/orders/{order_id}/actions/{action}", json=body, headers=headers
        )

    def ok(self, order_id: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.act(order_id, action, body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def order_in(self, status: str, **fields: Any) -> dict[str, Any]:
        """A 14.00 order taken through the workflow to ``status``."""
        order = self.order(**fields)
        oid = order["id"]
        if status == "pending":
            return order
        if status == "awaiting_payment":
            return self.ok(oid, "process", {"flow": "advance"})
        if status == "cancelled":
            return self.ok(oid, "cancel", {"reason": "changed their mind"})
        order = self.ok(oid, "process", {"flow": "balance"})
        if status == "processed":
            return order
        order = self.ok(oid, "fulfill", {"carrier": "DHL", "tracking_number": "JD0001"})
        if status == "fulfilled":
            return order
        order = self.ok(oid, "deliver")
        if status == "delivered":
            return order
        assert status == "returned", status
        return self.ok(oid, "return")

    def get(self, order_id: int) -> dict[str, Any]:
        result: dict[str, Any] = get_json(self.client, f"/api/orders/{order_id}")
        return result

    def actions(self, order_id: int) -> dict[str, tuple[bool, str | None]]:
        body = get_json(self.client, f"/api/orders/{order_id}/actions")
        return {a["action"]: (a["allowed"], a["reason"]) for a in body["actions"]}

    def events(self, order_id: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = get_json(self.client, f"/api/orders/{order_id}/events")
        return result

    def ledger(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = get_json(
            self.client, f"/api/customers/{self.customer['id']}/ledger?limit=500"
        )
        return result

    def stock(self) -> tuple[int, int]:
        return stock_of(self.client, self.mug["id"]), stock_of(self.client, self.kettle["id"])

    def balance(self) -> str:
        return balance_of(self.client, self.customer["id"])

    def everything(self, order_id: int) -> tuple[Any, ...]:
        """The order, its timeline, the stock, the balance and the ledger: what a refusal keeps."""
        return (
            self.get(order_id),
            self.events(order_id),
            self.stock(),
            self.balance(),
            self.ledger(),
        )

    def line_of(self, order: dict[str, Any], product: dict[str, Any]) -> dict[str, Any]:
        [line] = [ln for ln in order["lines"] if ln["product_id"] == product["id"]]
        return line


@pytest.fixture
def shop(client: TestClient) -> Shop:
    return Shop(client)


def whoami(client: TestClient) -> str:
    email: str = get_json(client, "/api/auth/whoami")["email"]
    return email


# ---------------------------------------------------------------- the workflow as data


def test_the_workflow_is_published_to_anyone_as_states_transitions_and_reasons(
    anonymous_client: TestClient,
) -> None:
    response = anonymous_client.get("/api/workflow")

    assert response.status_code == 200, response.text
    workflow = response.json()
    assert set(workflow["states"]) == {
        "pending",
        "awaiting_payment",
        "processed",
        "fulfilled",
        "delivered",
        "cancelled",
        "returned",
    }
    assert workflow["initial"] == "pending"
    by_action = {t["action"]: t for t in workflow["transitions"]}
    assert list(by_action) == ACTIONS
    assert by_action["pay"]["from"] == ["awaiting_payment"]
    assert by_action["fulfill"]["to"] == "fulfilled"
    assert by_action["fulfill"]["repeat_ok"] == ["fulfilled"]
    assert by_action["fulfill"]["refused"]["awaiting_payment"] == "not_paid"
    assert by_action["cancel"]["refused"]["delivered"] == "already_delivered"
    assert by_action["cancel"]["customer_may_from"] == ["awaiting_payment", "pending"]
    assert workflow["automatic"] == [
        {"from": "awaiting_payment", "to": "processed", "when": "fully paid"}
    ]
    assert {"not_paid", "already_delivered", "insufficient_balance"} <= set(workflow["reasons"])
    for transition in workflow["transitions"]:
        # every state is either a source, a repeat, or refused with a known reason
        covered = set(transition["from"]) | set(transition["repeat_ok"])
        assert covered | set(transition["refused"]) == set(workflow["states"]), transition
        assert set(transition["refused"].values()) <= set(workflow["reasons"])


# ---------------------------------------------------------------- a whole life


def test_an_order_paid_in_advance_goes_from_pending_to_returned_one_action_at_a_time(
    shop: Shop,
) -> None:
    order = shop.order()
    oid = order["id"]
    assert order["status"] == "pending"
    assert order["payment_flow"] is None
    assert_money(order["paid"], "0.00")
    assert_money(order["balance_due"], "0.00")
    assert order["is_fully_paid"] is False
    assert all(line["quantity_returned"] == 0 for line in order["lines"])
    assert all(line["extra"] == {} for line in order["lines"])

    # process, paid in advance: the stock is held, the balance is not touched
    waiting = shop.ok(oid, "process", {"flow": "advance"})
    assert waiting["status"] == "awaiting_payment"
    assert waiting["payment_flow"] == "advance"
    assert_money(waiting["total"], "14.00")
    assert_money(waiting["paid"], "0.00")
    assert_money(waiting["balance_due"], "14.00")
    assert waiting["is_fully_paid"] is False
    assert_utc_timestamp(waiting["processed"])
    assert shop.stock() == (8, 4)
    assert shop.balance() == "100.00"

    # a part of the money
    partly = shop.ok(oid, "pay", {"amount": "5.00", "method": "bank_transfer", "reference": "T1"})
    assert partly["status"] == "awaiting_payment"
    assert_money(partly["paid"], "5.00")
    assert_money(partly["balance_due"], "9.00")
    assert partly["is_fully_paid"] is False

    # the rest: covered, so processed by itself
    paid = shop.ok(oid, "pay", {"amount": "9.00", "method": "cash"})
    assert paid["status"] == "processed"
    assert_money(paid["paid"], "14.00")
    assert_money(paid["balance_due"], "0.00")
    assert paid["is_fully_paid"] is True
    assert shop.balance() == "100.00"

    # shipped with tracking
    shipped = shop.ok(oid, "fulfill", {"carrier": "DHL", "tracking_number": "JD014600003828"})
    assert shipped["status"] == "fulfilled"
    assert shipped["carrier"] == "DHL"
    assert shipped["tracking_number"] == "JD014600003828"
    assert_utc_timestamp(shipped["fulfilled"])
    assert shipped["delivered"] is None

    # shipping it again is a success that changes nothing: the first date and tracking stay
    again = shop.ok(oid, "fulfill", {"carrier": "UPS", "tracking_number": "1Z999"})
    assert again == shipped
    assert shop.get(oid) == shipped

    delivered = shop.ok(oid, "deliver")
    assert delivered["status"] == "delivered"
    assert_utc_timestamp(delivered["delivered"])
    assert delivered["fulfilled"] == shipped["fulfilled"]

    # one mug back, put on the shelf: 4.00 refunded to the balance
    mug_line = shop.line_of(delivered, shop.mug)
    partial = shop.ok(
        oid,
        "return",
        {"lines": [{"line_id": mug_line["id"], "quantity": 1}], "restock": True, "reason": "chip"},
    )
    assert partial["status"] == "returned"
    assert_money(partial["refunded"], "4.00")
    assert shop.line_of(partial, shop.mug)["quantity_returned"] == 1
    assert shop.line_of(partial, shop.mug)["quantity_restocked"] == 1
    assert shop.line_of(partial, shop.kettle)["quantity_returned"] == 0
    assert shop.stock() == (9, 4)
    assert shop.balance() == "104.00"

    # the rest comes back without restocking (no body: everything left)
    rest = shop.ok(oid, "return")
    assert rest["status"] == "returned"
    assert_money(rest["refunded"], "14.00")
    assert shop.line_of(rest, shop.mug)["quantity_returned"] == 2
    assert shop.line_of(rest, shop.mug)["quantity_restocked"] == 1
    assert shop.line_of(rest, shop.kettle)["quantity_returned"] == 1
    assert shop.line_of(rest, shop.kettle)["quantity_restocked"] == 0
    assert shop.stock() == (9, 4)
    assert shop.balance() == "114.00"
    assert shop.get(oid) == rest

    # nothing left to return
    assert_problem(shop.act(oid, "return"), 409, "nothing_to_return")


def test_processing_with_put_still_charges_the_balance_at_once(shop: Shop) -> None:
    """``PUT {"process": true}`` is the store's default flow (balance): processed and paid."""
    order = shop.order()

    response = process(shop.client, order["id"])

    assert response.status_code == 200, response.text
    processed = response.json()
    assert processed["status"] == "processed"
    assert processed["strategy"] == "adjust"
    assert processed["payment_flow"] == "balance"
    assert_money(processed["total"], "14.00")
    assert_money(processed["paid"], "14.00")
    assert_money(processed["balance_due"], "0.00")
    assert processed["is_fully_paid"] is True
    assert shop.balance() == "86.00"
    assert shop.stock() == (8, 4)
    assert shop.get(order["id"]) == processed


def test_processing_with_put_and_with_the_process_action_give_the_same_order(shop: Shop) -> None:
    by_put = shop.order()
    by_action = shop.order()

    put = process(shop.client, by_put["id"])
    action = shop.act(by_action["id"], "process")

    assert put.status_code == action.status_code == 200

    def comparable(order: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in order.items() if k not in {"id", "number", "created", "processed"}}
        kept["lines"] = [{k: v for k, v in ln.items() if k != "id"} for ln in order["lines"]]
        kept["adjustments"] = []
        return kept

    assert comparable(put.json()) == comparable(action.json())
    assert shop.balance() == "72.00"


def test_processing_with_put_and_flow_advance_waits_for_the_money(shop: Shop) -> None:
    order = shop.order()

    response = shop.client.put(
        f"/api/orders/{order['id']}", json={"process": True, "flow": "advance"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "awaiting_payment"
    assert response.json()["payment_flow"] == "advance"
    assert shop.balance() == "100.00"


def test_an_order_can_be_placed_and_processed_in_advance_in_one_request(shop: Shop) -> None:
    order = shop.order(process=True, flow="advance")

    assert order["status"] == "awaiting_payment"
    assert_money(order["balance_due"], "14.00")
    assert shop.balance() == "100.00"


def test_a_payment_larger_than_what_is_due_is_credited_to_the_balance(shop: Shop) -> None:
    order = shop.order_in("awaiting_payment")

    paid = shop.ok(order["id"], "pay", {"amount": "20.00", "method": "cash"})

    assert paid["status"] == "processed"
    assert_money(paid["paid"], "14.00")
    assert shop.balance() == "106.00"
    [credit] = [e for e in shop.ledger() if e["kind"] == "credit"]
    assert_money(credit["amount"], "6.00")
    assert credit["order_id"] == order["id"]


def test_the_same_payment_reference_is_recorded_once(shop: Shop) -> None:
    order = shop.order_in("awaiting_payment")
    body = {"amount": "5.00", "method": "bank_transfer", "reference": "SEPA-42"}

    first = shop.ok(order["id"], "pay", body)
    second = shop.ok(order["id"], "pay", body)

    assert_money(first["paid"], "5.00")
    assert second == first
    assert [e["kind"] for e in shop.events(order["id"])].count("payment") == 1


def test_cancelling_a_processed_order_puts_the_stock_back_and_refunds_the_balance(
    shop: Shop,
) -> None:
    order = shop.order_in("processed")
    assert shop.balance() == "86.00"

    cancelled = shop.ok(order["id"], "cancel", {"reason": "out of season"})

    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "out of season"
    assert_utc_timestamp(cancelled["cancelled"])
    assert_money(cancelled["refunded"], "14.00")
    assert_money(cancelled["balance_due"], "0.00")
    assert shop.stock() == (10, 5)
    assert shop.balance() == "100.00"


# ---------------------------------------------------------------- what may be done now

ALLOWED = (True, None)
# status -> every action's (allowed, reason), for a customer with a positive balance
ACTIONS_BY_STATUS: dict[str, dict[str, tuple[bool, str | None]]] = {
    "pending": {
        "process": ALLOWED,
        "pay": (False, "not_processed"),
        "fulfill": (False, "not_processed"),
        "deliver": (False, "not_processed"),
        "cancel": ALLOWED,
        "return": (False, "not_processed"),
    },
    "awaiting_payment": {
        "process": (False, "already_processed"),
        "pay": ALLOWED,
        "fulfill": (False, "not_paid"),
        "deliver": (False, "not_paid"),
        "cancel": ALLOWED,
        "return": (False, "not_paid"),
    },
    "processed": {
        "process": (False, "already_processed"),
        "pay": (False, "already_paid"),
        "fulfill": ALLOWED,
        "deliver": (False, "not_fulfilled"),
        "cancel": ALLOWED,
        "return": (False, "not_fulfilled"),
    },
    "fulfilled": {
        "process": (False, "already_processed"),
        "pay": (False, "already_paid"),
        "fulfill": ALLOWED,  # again: no change
        "deliver": ALLOWED,
        "cancel": (False, "already_fulfilled"),
        "return": ALLOWED,
    },
    "delivered": {
        "process": (False, "already_processed"),
        "pay": (False, "already_paid"),
        "fulfill": (False, "already_delivered"),
        "deliver": ALLOWED,  # again: no change
        "cancel": (False, "already_delivered"),
        "return": ALLOWED,
    },
    "cancelled": dict.fromkeys(ACTIONS, (False, "already_cancelled")),
    "returned": {
        "process": (False, "already_processed"),
        "pay": (False, "already_paid"),
        "fulfill": (False, "already_returned"),
        "deliver": (False, "already_returned"),
        "cancel": (False, "already_returned"),
        "return": (False, "nothing_to_return"),
    },
}


@pytest.mark.parametrize("status", list(ACTIONS_BY_STATUS))
def test_the_actions_of_an_order_say_what_is_allowed_in_each_state_and_why_not(
    shop: Shop, status: str
) -> None:
    order = shop.order_in(status)
    reasons = get_json(shop.client, "/api/workflow")["reasons"]

    body = get_json(shop.client, f"/api/orders/{order['id']}/actions")

    assert body["order_id"] == order["id"]
    assert body["status"] == status
    assert [a["action"] for a in body["actions"]] == ACTIONS
    assert {a["action"]: (a["allowed"], a["reason"]) for a in body["actions"]} == (
        ACTIONS_BY_STATUS[status]
    )
    for action in body["actions"]:
        assert action["label"]
        assert action["message"] == (reasons[action["reason"]] if action["reason"] else None)


def test_processing_is_not_allowed_while_the_balance_is_not_positive(client: TestClient) -> None:
    broke = Shop(client, balance="0")
    order = broke.order()

    actions = broke.actions(order["id"])

    assert actions["process"] == (False, "insufficient_balance")
    assert actions["cancel"] == ALLOWED


# ---------------------------------------------------------------- refusals


REFUSALS = [
    # (the order's state, action, body, code)
    ("pending", "pay", {"amount": "1.00", "method": "cash"}, "not_processed"),
    ("pending", "fulfill", None, "not_processed"),
    ("pending", "return", None, "not_processed"),
    ("awaiting_payment", "process", {"flow": "advance"}, "already_processed"),
    ("awaiting_payment", "fulfill", {"carrier": "DHL"}, "not_paid"),
    ("awaiting_payment", "deliver", None, "not_paid"),
    ("processed", "pay", {"amount": "1.00", "method": "cash"}, "already_paid"),
    ("processed", "deliver", None, "not_fulfilled"),
    ("processed", "return", {"restock": True}, "not_fulfilled"),
    ("fulfilled", "cancel", {"reason": "too late"}, "already_fulfilled"),
    ("delivered", "cancel", {"reason": "too late"}, "already_delivered"),
    ("delivered", "fulfill", None, "already_delivered"),
    ("cancelled", "cancel", {"reason": "twice"}, "already_cancelled"),
    ("cancelled", "process", None, "already_cancelled"),
    ("cancelled", "pay", {"amount": "1.00", "method": "cash"}, "already_cancelled"),
    ("returned", "deliver", None, "already_returned"),
    ("returned", "return", None, "nothing_to_return"),
]


@pytest.mark.parametrize(
    ("status", "action", "body", "code"),
    REFUSALS,
    ids=[f"{action}-on-{status}" for status, action, _, _ in REFUSALS],
)
def test_a_refused_action_is_a_409_problem_with_its_reason_and_changes_nothing(
    shop: Shop, status: str, action: str, body: dict[str, Any] | None, code: str
) -> None:
    order = shop.order_in(status)
    before = shop.everything(order["id"])

    response = shop.act(order["id"], action, body)

    problem = assert_problem(response, 409, code)
    assert problem["action"] == action
    assert order["number"] in problem["detail"]
    assert shop.everything(order["id"]) == before


def test_processing_for_a_customer_without_money_is_refused_and_changes_nothing(
    client: TestClient,
) -> None:
    broke = Shop(client, balance="0")
    order = broke.order()
    before = broke.everything(order["id"])

    response = broke.act(order["id"], "process")

    assert_problem(response, 409, "insufficient_balance")
    assert broke.everything(order["id"]) == before


def test_the_same_customer_without_money_may_still_have_the_order_processed_in_advance(
    client: TestClient,
) -> None:
    broke = Shop(client, balance="0")
    order = broke.order()

    waiting = broke.ok(order["id"], "process", {"flow": "advance"})

    assert waiting["status"] == "awaiting_payment"


def test_returning_more_than_is_left_on_a_line_is_refused_and_changes_nothing(
    shop: Shop,
) -> None:
    order = shop.order_in("delivered")
    mug = shop.line_of(order, shop.mug)
    shop.ok(order["id"], "return", {"lines": [{"line_id": mug["id"], "quantity": 1}]})
    before = shop.everything(order["id"])

    response = shop.act(
        order["id"], "return", {"lines": [{"line_id": mug["id"], "quantity": 2}], "restock": True}
    )

    problem = assert_problem(response, 409, "return_exceeds_quantity")
    assert problem["line_id"] == mug["id"]
    assert problem["returnable"] == 1
    assert shop.everything(order["id"]) == before


# ---------------------------------------------------------------- bad bodies

BAD_BODIES = [
    # (the order's state, action, body, the field the 400 names)
    ("awaiting_payment", "pay", {"amount": "0", "method": "cash"}, "amount"),
    ("awaiting_payment", "pay", {"amount": "0.00", "method": "cash"}, "amount"),
    ("awaiting_payment", "pay", {"amount": "-1", "method": "cash"}, "amount"),
    ("awaiting_payment", "pay", {"amount": "abc", "method": "cash"}, "amount"),
    ("awaiting_payment", "pay", {"amount": 1.005, "method": "cash"}, "amount"),
    ("awaiting_payment", "pay", {"amount": "1.005", "method": "cash"}, "amount"),
    ("awaiting_payment", "pay", {"amount": True, "method": "cash"}, "amount"),
    ("awaiting_payment", "pay", {"method": "cash"}, "amount"),
    ("awaiting_payment", "pay", {"amount": "5.00"}, "method"),
    ("awaiting_payment", "pay", {"amount": "5.00", "method": ""}, "method"),
    ("awaiting_payment", "pay", {"amount": "5.00", "method": "cash", "paid": "14.00"}, "paid"),
    ("pending", "process", {"flow": "credit"}, "flow"),
    ("pending", "process", {"strategy": "magic"}, "strategy"),
    ("pending", "process", {"status": "processed"}, "status"),
    ("pending", "cancel", {}, "reason"),
    ("pending", "cancel", {"reason": ""}, "reason"),
    ("pending", "cancel", {"reason": "   "}, "reason"),
    ("pending", "cancel", {"reason": "x", "refund": False}, "refund"),
    ("processed", "fulfill", {"carrier": "DHL", "shipped": "2020-01-01"}, "shipped"),
    ("fulfilled", "return", {"lines": []}, "lines"),
    ("fulfilled", "return", {"lines": [{"line_id": 999_999, "quantity": 1}]}, "lines"),
    ("fulfilled", "return", {"lines": [{"line_id": 1, "quantity": 0}]}, "lines.0.quantity"),
    ("fulfilled", "return", {"restock": "yes please"}, "restock"),
    ("fulfilled", "return", {"refund": "14.00"}, "refund"),
]


@pytest.mark.parametrize(
    ("status", "action", "body", "field"),
    BAD_BODIES,
    ids=[f"{action}-{i}" for i, (_, action, _, _) in enumerate(BAD_BODIES)],
)
def test_a_bad_action_body_is_a_400_naming_the_field_and_changes_nothing(
    shop: Shop, status: str, action: str, body: dict[str, Any], field: str
) -> None:
    order = shop.order_in(status)
    before = shop.everything(order["id"])

    response = shop.act(order["id"], action, body)

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {field}
    assert shop.everything(order["id"]) == before


def test_a_return_naming_a_line_of_another_order_is_a_400(shop: Shop) -> None:
    order = shop.order_in("fulfilled")
    other = shop.order_in("fulfilled")
    before = shop.everything(order["id"])
    others_line = other["lines"][0]["id"]

    response = shop.act(order["id"], "return", {"lines": [{"line_id": others_line, "quantity": 1}]})

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {"lines"}
    assert shop.everything(order["id"]) == before


def test_a_return_listing_a_line_twice_is_a_400(shop: Shop) -> None:
    order = shop.order_in("fulfilled")
    mug = shop.line_of(order, shop.mug)["id"]
    before = shop.everything(order["id"])

    response = shop.act(
        order["id"],
        "return",
        {"lines": [{"line_id": mug, "quantity": 1}, {"line_id": mug, "quantity": 1}]},
    )

    assert_problem(response, 400, "validation_error")
    assert shop.everything(order["id"]) == before


def test_cancel_without_a_body_is_a_400(shop: Shop) -> None:
    order = shop.order()

    response = shop.act(order["id"], "cancel")

    assert_problem(response, 400, "validation_error")
    assert shop.get(order["id"])["status"] == "pending"


# ---------------------------------------------------------------- idempotency


def test_a_payment_sent_twice_with_one_idempotency_key_is_taken_once(shop: Shop) -> None:
    order = shop.order_in("awaiting_payment")
    key = {"Idempotency-Key": "pay-order-once"}
    body = {"amount": "20.00", "method": "cash"}  # 6.00 more than due: credited once

    first = shop.act(order["id"], "pay", body, key)
    replay = shop.act(order["id"], "pay", body, key)

    assert first.status_code == replay.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert first.json()["status"] == "processed"
    assert shop.balance() == "106.00"
    assert [e["kind"] for e in shop.events(order["id"])].count("payment") == 1
    assert [e["kind"] for e in shop.ledger()].count("credit") == 1


def test_a_cancel_sent_twice_with_one_idempotency_key_refunds_once(shop: Shop) -> None:
    order = shop.order_in("processed")
    key = {"Idempotency-Key": "cancel-it"}
    body = {"reason": "duplicate order"}

    first = shop.act(order["id"], "cancel", body, key)
    replay = shop.act(order["id"], "cancel", body, key)

    assert first.status_code == replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert shop.balance() == "100.00"
    assert [e["kind"] for e in shop.ledger()].count("refund") == 1
    # without the key the second cancel is a refusal
    assert_problem(shop.act(order["id"], "cancel", body), 409, "already_cancelled")


def test_an_idempotency_key_reused_for_another_payment_is_a_422_and_nothing_changes(
    shop: Shop,
) -> None:
    order = shop.order_in("awaiting_payment")
    key = {"Idempotency-Key": "one-payment"}
    shop.act(order["id"], "pay", {"amount": "5.00", "method": "cash"}, key)
    before = shop.everything(order["id"])

    response = shop.act(order["id"], "pay", {"amount": "6.00", "method": "cash"}, key)

    assert_problem(response, 422, "idempotency_key_reused")
    assert shop.everything(order["id"]) == before


# ---------------------------------------------------------------- the timeline


def test_the_timeline_lists_what_happened_oldest_first_with_time_and_actor(shop: Shop) -> None:
    me = whoami(shop.client)
    order = shop.order_in("awaiting_payment")
    oid = order["id"]
    shop.ok(oid, "pay", {"amount": "14.00", "method": "cash", "reference": "R-1"})
    shop.ok(oid, "fulfill", {"carrier": "DHL", "tracking_number": "JD77"})
    shop.ok(oid, "deliver")
    shop.ok(oid, "return", {"reason": "too small"})

    events = shop.events(oid)

    assert [e["kind"] for e in events] == [
        "created",
        "processed",
        "payment",
        "fulfilled",
        "delivered",
        "returned",
    ]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    moments = [assert_utc_timestamp(e["at"]) for e in events]
    assert moments == sorted(moments)
    assert {e["actor"] for e in events} == {me}
    assert {e["visibility"] for e in events} == {"customer"}
    created, processed, payment, fulfilled, _delivered, returned = events
    assert created["detail"] == {"customer_id": order["customer_id"], "total": order["total"]}
    assert processed["detail"]["flow"] == "advance"
    assert processed["detail"]["strategy"] == "adjust"
    assert payment["detail"]["method"] == "cash"
    assert payment["detail"]["reference"] == "R-1"
    assert payment["detail"]["fully_paid"] is True
    assert fulfilled["detail"] == {"carrier": "DHL", "tracking_number": "JD77"}
    assert returned["detail"]["reason"] == "too small"
    assert {ln["line_id"] for ln in returned["detail"]["lines"]} == {
        ln["id"] for ln in order["lines"]
    }


def test_the_timeline_records_a_cancellation_with_its_reason(shop: Shop) -> None:
    order = shop.order_in("processed")

    shop.ok(order["id"], "cancel", {"reason": "out of season"})

    last = shop.events(order["id"])[-1]
    assert last["kind"] == "cancelled"
    assert last["detail"]["reason"] == "out of season"
    assert last["detail"]["restocked"] == 3


def test_a_refused_action_leaves_no_event(shop: Shop) -> None:
    order = shop.order_in("pending")
    before = shop.events(order["id"])

    shop.act(order["id"], "deliver")

    assert shop.events(order["id"]) == before


def test_notes_are_added_to_the_timeline_for_staff_or_for_the_customer(shop: Shop) -> None:
    me = whoami(shop.client)
    order = shop.order()

    internal = shop.client.post(
        f"/api/orders/{order['id']}/notes", json={"text": "Customer sounded upset"}
    )
    shared = shop.client.post(
        f"/api/orders/{order['id']}/notes",
        json={"text": "Your parcel leaves tomorrow", "visibility": "customer"},
    )

    assert internal.status_code == shared.status_code == 201
    assert internal.json()["kind"] == "note"
    assert internal.json()["visibility"] == "staff"
    assert internal.json()["detail"] == {"text": "Customer sounded upset"}
    assert internal.json()["actor"] == me
    assert_utc_timestamp(internal.json()["at"])
    assert shared.json()["visibility"] == "customer"
    events = shop.events(order["id"])
    assert events[-2:] == [internal.json(), shared.json()]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({}, "text"),
        ({"text": "hi", "visibility": "public"}, "visibility"),
        ({"text": "hi", "actor": "system"}, "actor"),
        ({"text": "x" * 2001}, "text"),
    ],
)
def test_a_bad_note_is_a_400_and_adds_nothing(shop: Shop, body: dict[str, Any], field: str) -> None:
    order = shop.order()
    before = shop.events(order["id"])

    response = shop.client.post(f"/api/orders/{order['id']}/notes", json=body)

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {field}
    assert shop.events(order["id"]) == before


# ---------------------------------------------------------------- reorder


def cart_of(client: TestClient, customer_id: int) -> dict[str, Any]:
    result: dict[str, Any] = get_json(client, f"/api/customers/{customer_id}/cart")
    return result


def test_reorder_puts_the_lines_in_the_cart_at_todays_prices_and_reports_what_is_gone(
    shop: Shop,
) -> None:
    client = shop.client
    retired = api_product(client, price="3.00", stock=5)
    removed = api_product(client, price="2.00", stock=5)
    order = place_order(
        client,
        shop.customer["id"],
        (shop.mug["id"], 2),
        (retired["id"], 1),
        (removed["id"], 3),
    )
    process(client, order["id"])
    lines = {ln["product_id"]: ln for ln in order["lines"]}
    assert (
        client.patch(f"/api/products/{shop.mug['id']}", json={"price": "4.50"}).status_code == 200
    )
    assert client.patch(f"/api/products/{retired['id']}", json={"active": False}).status_code == 200
    assert client.delete(f"/api/products/{removed['id']}").status_code == 204

    response = client.post(f"/api/orders/{order['id']}/reorder")

    assert response.status_code == 200, response.text
    result = response.json()
    [added] = result["added"]
    assert added["product_id"] == shop.mug["id"]
    assert added["sku"] == shop.mug["sku"]
    assert added["quantity"] == 2
    assert_money(added["unit_price"], "4.50")
    assert_money(added["price_then"], "4.00")
    assert added["available"] == 8
    unavailable = {u["reason"]: u for u in result["unavailable"]}
    assert set(unavailable) == {"product_inactive", "product_removed"}
    assert unavailable["product_inactive"]["product_id"] == retired["id"]
    assert unavailable["product_inactive"]["line_id"] == lines[retired["id"]]["id"]
    assert unavailable["product_inactive"]["sku"] == retired["sku"]
    assert unavailable["product_removed"]["product_id"] is None
    assert unavailable["product_removed"]["sku"] == removed["sku"]
    assert unavailable["product_removed"]["name"] == removed["name"]
    cart = cart_of(client, shop.customer["id"])
    assert result["cart"] == cart
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [(shop.mug["id"], 2)]
    assert_money(cart["items"][0]["unit_price"], "4.50")
    assert_money(cart["total"], "9.00")


def test_reorder_adds_to_what_is_already_in_the_cart_and_changes_no_order(shop: Shop) -> None:
    client = shop.client
    order = shop.order_in("delivered")
    put = client.put(
        f"/api/customers/{shop.customer['id']}/cart/items/{shop.mug['id']}", json={"quantity": 1}
    )
    assert put.status_code == 200, put.text
    orders_before = get_json(client, f"/api/customers/{shop.customer['id']}/orders")

    response = client.post(f"/api/orders/{order['id']}/reorder")

    assert response.status_code == 200, response.text
    quantities = {i["product_id"]: i["quantity"] for i in response.json()["cart"]["items"]}
    assert quantities == {shop.mug["id"]: 3, shop.kettle["id"]: 1}
    assert get_json(client, f"/api/customers/{shop.customer['id']}/orders") == orders_before


def test_money_on_the_timeline_is_a_decimal_string_like_everywhere_else_in_the_api(
    shop: Shop,
) -> None:
    """Every amount the API shows is a decimal string ("20.00"), the timeline's included."""
    order = shop.order_in("awaiting_payment")
    shop.ok(order["id"], "pay", {"amount": "20.00", "method": "cash"})

    processed, payment = shop.events(order["id"])[1:3]

    assert_money(processed["detail"]["total"], "14.00")
    assert_money(payment["detail"]["amount"], "20.00")
    assert_money(payment["detail"]["credited"], "6.00")
