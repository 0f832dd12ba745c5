"""A customer and the workflow of their own orders: cancel before it is paid, the
timeline without the store's internal notes, their ledger, reordering.

Another customer's order is simply not found (404); the staff routes are closed (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordermill.db import Database
from ordermill.services import catalog
from tests import factories
from tests.api.helpers import (
    assert_money,
    assert_problem,
    balance_of,
    error_fields,
    get_json,
    place_order,
    stock_of,
)
from tests.factories import api_product


@dataclass
class Shopper:
    """A customer with a login of their own (100.00 on the balance) and their header."""

    customer_id: int
    email: str
    auth: dict[str, str]


def shopper(database: Database, balance: int = 100_00) -> Shopper:
    customer_id, user_id = factories.customer_login(database, balance=balance)
    with database.read() as session:
        email = catalog.get_customer(session, customer_id).email
    return Shopper(
        customer_id, email, {"Authorization": f"Bearer {factories.token_for(database, user_id)}"}
    )


@pytest.fixture
def alice(database: Database) -> Shopper:
    return shopper(database)


@pytest.fixture
def bob(database: Database) -> Shopper:
    return shopper(database)


@pytest.fixture
def mug(client: TestClient) -> dict[str, Any]:
    return api_product(client, price="4.00", stock=10)


def staff_act(client: TestClient, order_id: int, action: str, body: Any = None) -> dict[str, Any]:
    """An action taken by the admin ``client``."""
    response = client.post(f"/api/orders/{order_id}/actions/{action}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def order_for(
    client: TestClient, who: Shopper, mug: dict[str, Any], status: str = "pending"
) -> dict[str, Any]:
    """An order of 3 mugs (12.00) for ``who``, taken by staff to ``status``."""
    order = place_order(client, who.customer_id, (mug["id"], 3))
    if status == "pending":
        return order
    if status == "awaiting_payment":
        return staff_act(client, order["id"], "process", {"flow": "advance"})
    processed = staff_act(client, order["id"], "process", {"flow": "balance"})
    if status == "processed":
        return processed
    fulfilled = staff_act(client, order["id"], "fulfill")
    if status == "fulfilled":
        return fulfilled
    assert status == "delivered", status
    return staff_act(client, order["id"], "deliver")


def my_cancel(
    client: TestClient, who: Shopper, order_id: int, body: Any = None, **headers: str
) -> Any:
    return client.post(
        f"/api/me/orders/{order_id}/actions/cancel", json=body, headers={**who.auth, **headers}
    )


def my_order(client: TestClient, who: Shopper, order_id: int) -> dict[str, Any]:
    response = client.get(f"/api/me/orders/{order_id}", headers=who.auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def everything(client: TestClient, who: Shopper, order_id: int, mug: dict[str, Any]) -> Any:
    """The order as staff see it, its full timeline, the stock and the balance."""
    return (
        get_json(client, f"/api/orders/{order_id}"),
        get_json(client, f"/api/orders/{order_id}/events"),
        stock_of(client, mug["id"]),
        balance_of(client, who.customer_id),
    )


# ---------------------------------------------------------------- cancelling


def test_a_customer_cancels_their_pending_order_without_a_body(
    client: TestClient, alice: Shopper, mug: dict[str, Any]
) -> None:
    order = order_for(client, alice, mug)

    response = my_cancel(client, alice, order["id"])

    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "cancelled by the customer"
    assert cancelled == my_order(client, alice, order["id"])
    assert stock_of(client, mug["id"]) == 10
    assert balance_of(client, alice.customer_id) == "100.00"


def test_a_customer_cancels_an_order_awaiting_payment_and_gets_stock_back_and_money_refunded(
    client: TestClient, alice: Shopper, mug: dict[str, Any]
) -> None:
    order = order_for(client, alice, mug, "awaiting_payment")
    staff_act(client, order["id"], "pay", {"amount": "5.00", "method": "bank_transfer"})
    assert stock_of(client, mug["id"]) == 7

    response = my_cancel(client, alice, order["id"], {"reason": "found it cheaper"})

    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "found it cheaper"
    assert_money(cancelled["refunded"], "5.00")
    assert stock_of(client, mug["id"]) == 10
    assert balance_of(client, alice.customer_id) == "105.00"
    last = get_json(client, f"/api/orders/{order['id']}/events")[-1]
    assert last["kind"] == "cancelled"
    assert last["actor"] == alice.email
    assert last["detail"]["reason"] == "found it cheaper"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("processed", "not_cancellable_by_customer"),
        ("fulfilled", "already_fulfilled"),
        ("delivered", "already_delivered"),
    ],
)
def test_a_customer_cannot_cancel_an_order_the_store_is_preparing_or_has_shipped(
    client: TestClient, alice: Shopper, mug: dict[str, Any], status: str, code: str
) -> None:
    order = order_for(client, alice, mug, status)
    before = everything(client, alice, order["id"], mug)

    response = my_cancel(client, alice, order["id"], {"reason": "please"})

    assert_problem(response, 409, code)
    assert everything(client, alice, order["id"], mug) == before


def test_a_customer_cannot_cancel_an_order_twice(
    client: TestClient, alice: Shopper, mug: dict[str, Any]
) -> None:
    order = order_for(client, alice, mug)
    assert my_cancel(client, alice, order["id"]).status_code == 200

    assert_problem(my_cancel(client, alice, order["id"]), 409, "already_cancelled")


def test_a_customer_cancel_replayed_with_its_idempotency_key_is_taken_once(
    client: TestClient, alice: Shopper, mug: dict[str, Any]
) -> None:
    order = order_for(client, alice, mug, "awaiting_payment")
    staff_act(client, order["id"], "pay", {"amount": "5.00", "method": "cash"})
    key = {"Idempotency-Key": "alice-cancels"}

    first = my_cancel(client, alice, order["id"], {"reason": "oops"}, **key)
    replay = my_cancel(client, alice, order["id"], {"reason": "oops"}, **key)

    assert first.status_code == replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert balance_of(client, alice.customer_id) == "105.00"


def test_a_customer_cancel_with_an_unknown_field_is_a_400_and_changes_nothing(
    client: TestClient, alice: Shopper, mug: dict[str, Any]
) -> None:
    order = order_for(client, alice, mug, "awaiting_payment")
    before = everything(client, alice, order["id"], mug)

    response = my_cancel(client, alice, order["id"], {"reason": "x", "refund": "999.00"})

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {"refund"}
    assert everything(client, alice, order["id"], mug) == before


def test_a_customer_cannot_cancel_another_customers_order_it_is_not_found(
    client: TestClient, alice: Shopper, bob: Shopper, mug: dict[str, Any]
) -> None:
    bobs = order_for(client, bob, mug, "awaiting_payment")
    before = everything(client, bob, bobs["id"], mug)

    response = my_cancel(client, alice, bobs["id"], {"reason": "mine now"})

    assert_problem(response, 404, "order_not_found")
    assert everything(client, bob, bobs["id"], mug) == before


# ---------------------------------------------------------------- what I may do


def test_a_customer_sees_only_the_cancel_action_allowed_before_the_order_is_paid(
    client: TestClient, alice: Shopper, mug: dict[str, Any]
) -> None:
    pending = order_for(client, alice, mug)
    processed = order_for(client, alice, mug, "processed")

    while_pending = client.get(f"/api/me/orders/{pending['id']}/actions", headers=alice.auth)
    once_processed = client.get(f"/api/me/orders/{processed['id']}/actions", headers=alice.auth)

    assert while_pending.status_code == once_processed.status_code == 200
    assert while_pending.json()["order_id"] == pending["id"]
    assert while_pending.json()["status"] == "pending"
    [cancel] = while_pending.json()["actions"]
    assert (cancel["action"], cancel["allowed"], cancel["reason"]) == ("cancel", True, None)
    assert cancel["label"]
    [refused] = once_processed.json()["actions"]
    assert (refused["action"], refused["allowed"], refused["reason"]) == (
        "cancel",
        False,
        "not_cancellable_by_customer",
    )
    assert refused["message"]


def test_the_actions_of_another_customers_order_are_not_found(
    client: TestClient, alice: Shopper, bob: Shopper, mug: dict[str, Any]
) -> None:
    bobs = order_for(client, bob, mug)

    response = client.get(f"/api/me/orders/{bobs['id']}/actions", headers=alice.auth)

    assert_problem(response, 404, "order_not_found")


# ---------------------------------------------------------------- my timeline


def test_a_customers_timeline_shows_their_notes_but_not_the_stores_internal_ones(
    client: TestClient, alice: Shopper, mug: dict[str, Any]
) -> None:
    order = order_for(client, alice, mug, "processed")
    for text, visibility in (("Fraud check passed", "staff"), ("Ships Monday", "customer")):
        note = client.post(
            f"/api/orders/{order['id']}/notes", json={"text": text, "visibility": visibility}
        )
        assert note.status_code == 201, note.text

    mine = client.get(f"/api/me/orders/{order['id']}/events", headers=alice.auth)
    staffs = get_json(client, f"/api/orders/{order['id']}/events")

    assert mine.status_code == 200, mine.text
    assert [e["kind"] for e in mine.json()] == ["created", "processed", "payment", "note"]
    assert mine.json()[-1]["detail"] == {"text": "Ships Monday"}
    assert "Fraud check passed" not in mine.text
    assert {e["visibility"] for e in mine.json()} == {"customer"}
    assert mine.json() == [e for e in staffs if e["visibility"] == "customer"]
    assert len(staffs) == len(mine.json()) + 1


def test_the_timeline_of_another_customers_order_is_not_found(
    client: TestClient, alice: Shopper, bob: Shopper, mug: dict[str, Any]
) -> None:
    bobs = order_for(client, bob, mug)

    response = client.get(f"/api/me/orders/{bobs['id']}/events", headers=alice.auth)

    assert_problem(response, 404, "order_not_found")


def test_unknown_orders_are_not_found_on_every_me_workflow_route(
    client: TestClient, alice: Shopper
) -> None:
    for method, path in (
        ("GET", "/api/me/orders/999999/actions"),
        ("POST", "/api/me/orders/999999/actions/cancel"),
        ("GET", "/api/me/orders/999999/events"),
        ("POST", "/api/orders/999999/reorder"),
    ):
        assert_problem(client.request(method, path, headers=alice.auth), 404, "order_not_found")


# ---------------------------------------------------------------- my ledger


def test_a_customer_reads_their_own_ledger_newest_first(
    client: TestClient, alice: Shopper, bob: Shopper, mug: dict[str, Any]
) -> None:
    order = order_for(client, alice, mug, "processed")  # charged 12.00
    staff_act(client, order["id"], "cancel", {"reason": "out of stock after all"})
    order_for(client, bob, mug, "processed")

    response = client.get("/api/me/ledger", headers=alice.auth)

    assert response.status_code == 200, response.text
    entries = response.json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in entries] == [
        ("refund", "12.00", "100.00"),
        ("charge", "-12.00", "88.00"),
        ("adjustment", "100.00", "100.00"),
    ]
    assert {e["order_id"] for e in entries[:2]} == {order["id"]}
    assert entries == get_json(client, f"/api/customers/{alice.customer_id}/ledger")


def test_a_customers_ledger_is_paginated(client: TestClient, alice: Shopper) -> None:
    for amount in ("1.00", "2.00", "3.00"):
        response = client.post(
            f"/api/customers/{alice.customer_id}/balance",
            json={"amount": amount, "reason": "goodwill"},
        )
        assert response.status_code == 200

    first = client.get("/api/me/ledger?limit=3", headers=alice.auth)
    link = first.headers["link"]
    next_url = link[link.index("<") + 1 : link.index(">")]
    second = client.get(next_url, headers=alice.auth)

    assert [e["amount"] for e in first.json()] == ["3.00", "2.00", "1.00"]
    assert [e["amount"] for e in second.json()] == ["100.00"]
    assert "link" not in second.headers


# ---------------------------------------------------------------- reorder


def test_a_customer_reorders_their_own_order_into_their_own_cart(
    client: TestClient, alice: Shopper, mug: dict[str, Any]
) -> None:
    order = order_for(client, alice, mug, "delivered")
    assert client.patch(f"/api/products/{mug['id']}", json={"price": "5.00"}).status_code == 200

    response = client.post(f"/api/orders/{order['id']}/reorder", headers=alice.auth)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["unavailable"] == []
    [added] = result["added"]
    assert (added["product_id"], added["quantity"]) == (mug["id"], 3)
    assert_money(added["unit_price"], "5.00")
    assert_money(added["price_then"], "4.00")
    cart = get_json(client, f"/api/customers/{alice.customer_id}/cart")
    assert result["cart"] == cart
    assert cart["customer_id"] == alice.customer_id
    assert_money(cart["total"], "15.00")
    mine = client.get("/api/me/cart", headers=alice.auth)
    assert mine.json() == cart


def test_a_customer_cannot_reorder_another_customers_order_it_is_not_found(
    client: TestClient, alice: Shopper, bob: Shopper, mug: dict[str, Any]
) -> None:
    bobs = order_for(client, bob, mug)

    response = client.post(f"/api/orders/{bobs['id']}/reorder", headers=alice.auth)

    assert_problem(response, 404, "order_not_found")
    assert get_json(client, f"/api/customers/{bob.customer_id}/cart")["items"] == []
    assert get_json(client, f"/api/customers/{alice.customer_id}/cart")["items"] == []


# ---------------------------------------------------------------- the staff routes are closed


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/orders/{id}/actions", None),
        ("POST", "/api/orders/{id}/actions/process", None),
        ("POST", "/api/orders/{id}/actions/pay", {"amount": "12.00", "method": "cash"}),
        ("POST", "/api/orders/{id}/actions/fulfill", None),
        ("POST", "/api/orders/{id}/actions/deliver", None),
        ("POST", "/api/orders/{id}/actions/cancel", {"reason": "mine"}),
        ("POST", "/api/orders/{id}/actions/return", None),
        ("GET", "/api/orders/{id}/events", None),
        ("POST", "/api/orders/{id}/notes", {"text": "I was here", "visibility": "customer"}),
    ],
)
def test_a_customer_is_refused_the_staff_workflow_routes_even_for_their_own_order(
    client: TestClient,
    alice: Shopper,
    mug: dict[str, Any],
    method: str,
    path: str,
    body: Any,
) -> None:
    order = order_for(client, alice, mug, "awaiting_payment")
    before = everything(client, alice, order["id"], mug)

    response = client.request(method, path.format(id=order["id"]), json=body, headers=alice.auth)

    assert_problem(response, 403, "forbidden")
    assert everything(client, alice, order["id"], mug) == before
