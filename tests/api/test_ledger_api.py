"""GET /api/customers/{id}/ledger: every change to a customer's balance, newest first.

Top-ups and corrections by an admin, charges for orders paid from the balance,
refunds for cancelled and returned orders, credits for overpayments: each is an
entry with its signed amount and the balance after it, so the balance is always
the sum of the entries.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from ordermill.db import Database
from tests import factories
from tests.api.helpers import (
    assert_money,
    assert_problem,
    assert_utc_timestamp,
    balance_of,
    get_json,
    next_link,
    place_order,
    process,
    walk_pages,
)
from tests.factories import api_customer, api_product


def ledger_of(client: TestClient, customer_id: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = get_json(
        client, f"/api/customers/{customer_id}/ledger?limit=500"
    )
    return entries


def adjust(client: TestClient, customer_id: int, amount: str, reason: str) -> None:
    response = client.post(
        f"/api/customers/{customer_id}/balance", json={"amount": amount, "reason": reason}
    )
    assert response.status_code == 200, response.text


def act(client: TestClient, order_id: int, action: str, body: Any = None) -> dict[str, Any]:
    response = client.post(f"/api/orders/{order_id}/actions/{action}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_balance_is_the_sum_of_the_entries(client: TestClient, customer_id: int) -> None:
    entries = ledger_of(client, customer_id)
    total = sum(Decimal(e["amount"]) for e in entries)
    assert Decimal(balance_of(client, customer_id)) == total
    # newest first, and each balance_after is the one before plus the amount
    oldest_first = list(reversed(entries))
    running = Decimal(0)
    for entry in oldest_first:
        running += Decimal(entry["amount"])
        assert Decimal(entry["balance_after"]) == running, entry


def test_a_new_customer_without_money_has_an_empty_ledger(client: TestClient) -> None:
    customer = api_customer(client, balance="0")

    response = client.get(f"/api/customers/{customer['id']}/ledger")

    assert response.status_code == 200, response.text
    assert response.json() == []
    assert "link" not in response.headers


def test_a_top_up_and_a_correction_are_adjustments_with_their_reason_and_author(
    client: TestClient,
) -> None:
    me = get_json(client, "/api/auth/whoami")["email"]
    customer = api_customer(client, balance="0")

    adjust(client, customer["id"], "25.00", "goodwill for a late parcel")
    adjust(client, customer["id"], "-5.50", "typo in the goodwill")

    correction, top_up = ledger_of(client, customer["id"])
    assert top_up["kind"] == correction["kind"] == "adjustment"
    assert_money(top_up["amount"], "25.00")
    assert_money(top_up["balance_after"], "25.00")
    assert top_up["reason"] == "goodwill for a late parcel"
    assert top_up["order_id"] is None
    assert top_up["actor"] == me
    assert_utc_timestamp(top_up["at"])
    assert_money(correction["amount"], "-5.50")
    assert_money(correction["balance_after"], "19.50")
    assert correction["reason"] == "typo in the goodwill"
    assert correction["id"] > top_up["id"]
    assert balance_of(client, customer["id"]) == "19.50"


def test_charges_refunds_and_credits_are_entries_and_the_balance_is_their_sum(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="100.00")  # an adjustment: the opening top-up
    mug = api_product(client, price="4.00", stock=20)

    # charged to the balance (12.00), then cancelled: refunded
    charged = place_order(client, customer["id"], (mug["id"], 3))
    assert process(client, charged["id"]).status_code == 200
    act(client, charged["id"], "cancel", {"reason": "duplicate"})
    # paid in advance with 10.00 for 8.00: 2.00 credited
    advance = place_order(client, customer["id"], (mug["id"], 2))
    act(client, advance["id"], "process", {"flow": "advance"})
    act(client, advance["id"], "pay", {"amount": "10.00", "method": "cash"})
    # charged (4.00), shipped and returned: refunded
    returned = place_order(client, customer["id"], (mug["id"], 1))
    act(client, returned["id"], "process")
    act(client, returned["id"], "fulfill")
    act(client, returned["id"], "return")

    entries = ledger_of(client, customer["id"])

    oldest_first = [
        (e["kind"], e["amount"], e["balance_after"], e["order_id"]) for e in reversed(entries)
    ]
    assert oldest_first == [
        ("adjustment", "100.00", "100.00", None),
        ("charge", "-12.00", "88.00", charged["id"]),
        ("refund", "12.00", "100.00", charged["id"]),
        ("credit", "2.00", "102.00", advance["id"]),
        ("charge", "-4.00", "98.00", returned["id"]),
        ("refund", "4.00", "102.00", returned["id"]),
    ]
    assert all(e["reason"] for e in entries)
    assert balance_of(client, customer["id"]) == "102.00"
    assert_balance_is_the_sum_of_the_entries(client, customer["id"])


def test_an_order_paid_in_advance_without_overpaying_leaves_no_entry(client: TestClient) -> None:
    customer = api_customer(client, balance="0")
    mug = api_product(client, price="4.00")
    order = place_order(client, customer["id"], (mug["id"], 1))
    act(client, order["id"], "process", {"flow": "advance"})
    act(client, order["id"], "pay", {"amount": "4.00", "method": "bank_transfer"})

    assert ledger_of(client, customer["id"]) == []
    assert balance_of(client, customer["id"]) == "0.00"


def test_a_refused_balance_adjustment_writes_no_entry(client: TestClient) -> None:
    customer = api_customer(client, balance="10.00")
    before = ledger_of(client, customer["id"])

    response = client.post(
        f"/api/customers/{customer['id']}/balance", json={"amount": "abc", "reason": "x"}
    )

    assert_problem(response, 400, "validation_error")
    assert ledger_of(client, customer["id"]) == before


def test_the_ledger_is_paginated_newest_first_with_a_link_to_the_next_page(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="0")
    for n in range(1, 6):
        adjust(client, customer["id"], f"{n}.00", f"top-up {n}")

    first = client.get(f"/api/customers/{customer['id']}/ledger?limit=2")
    pages = walk_pages(client, f"/api/customers/{customer['id']}/ledger?limit=2")

    assert first.status_code == 200
    assert len(first.json()) == 2
    assert next_link(first) is not None
    assert [len(page) for page in pages] == [2, 2, 1]
    walked = [entry for page in pages for entry in page]
    assert walked == ledger_of(client, customer["id"])
    assert [e["reason"] for e in walked] == [f"top-up {n}" for n in range(5, 0, -1)]
    ids = [e["id"] for e in walked]
    assert ids == sorted(ids, reverse=True)


def test_a_bad_cursor_on_the_ledger_is_a_400(client: TestClient) -> None:
    customer = api_customer(client)

    response = client.get(f"/api/customers/{customer['id']}/ledger?cursor=not-a-cursor")

    assert response.status_code == 400, response.text


def test_a_customer_cannot_read_any_ledger_through_the_staff_route(
    client: TestClient, database: Database
) -> None:
    own_id, user_id = factories.customer_login(database)
    other = api_customer(client)
    auth = {"Authorization": f"Bearer {factories.token_for(database, user_id)}"}

    someone_elses = client.get(f"/api/customers/{other['id']}/ledger", headers=auth)
    own = client.get(f"/api/customers/{own_id}/ledger", headers=auth)

    assert_problem(someone_elses, 403, "forbidden")
    assert_problem(own, 403, "forbidden")
    assert "opening balance" not in someone_elses.text


def test_staff_read_a_ledger_but_only_admins_adjust_a_balance(
    client: TestClient, database: Database
) -> None:
    customer = api_customer(client, balance="10.00")
    staff = {"Authorization": f"Bearer {factories.token_for(database, factories.user(database))}"}
    before = ledger_of(client, customer["id"])

    read = client.get(f"/api/customers/{customer['id']}/ledger", headers=staff)
    adjusted = client.post(
        f"/api/customers/{customer['id']}/balance",
        json={"amount": "5.00", "reason": "try"},
        headers=staff,
    )

    assert read.status_code == 200
    assert read.json() == before
    assert_problem(adjusted, 403, "forbidden")
    assert ledger_of(client, customer["id"]) == before


def test_a_customer_with_balance_history_cannot_be_deleted(client: TestClient) -> None:
    customer = api_customer(client, balance="10.00")

    response = client.delete(f"/api/customers/{customer['id']}")

    assert_problem(response, 409, "customer_has_ledger")
    assert get_json(client, f"/api/customers/{customer['id']}") == customer
    assert len(ledger_of(client, customer["id"])) == 1
