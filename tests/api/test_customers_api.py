"""/api/customers: registering, reading, changing and deleting customers, and their orders."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    assert_money,
    assert_problem,
    assert_utc_timestamp,
    error_fields,
    get_json,
    place_order,
)
from tests.factories import api_customer, api_product


def test_creating_a_customer_answers_201_with_its_location_and_the_stored_customer(
    client: TestClient,
) -> None:
    response = client.post(
        "/api/customers", json={"name": "Ada Lovelace", "email": "ada@example.com"}
    )

    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/api/customers/{body['id']}"
    assert body["name"] == "Ada Lovelace"
    assert body["email"] == "ada@example.com"
    assert_money(body["balance"], "0.00")
    assert_utc_timestamp(body["created"])
    assert get_json(client, response.headers["location"]) == body


@pytest.mark.parametrize(
    ("sent", "rendered"),
    [("12.50", "12.50"), (12.5, "12.50"), ("12.5", "12.50"), (12, "12.00"), ("0.07", "0.07")],
)
def test_a_balance_top_up_may_be_a_json_number_or_a_decimal_string(
    client: TestClient, sent: Any, rendered: str
) -> None:
    customer = api_customer(client, balance=sent)

    assert_money(customer["balance"], rendered)
    assert_money(get_json(client, f"/api/customers/{customer['id']}")["balance"], rendered)


def test_a_new_customer_starts_with_a_zero_balance(client: TestClient) -> None:
    response = client.post("/api/customers", json={"name": "Zed", "email": "zed@example.com"})

    assert response.status_code == 201
    assert_money(response.json()["balance"], "0.00")
    assert_money(get_json(client, response.headers["location"])["balance"], "0.00")


def test_an_email_already_registered_is_a_409_whatever_its_case(client: TestClient) -> None:
    api_customer(client, email="taken@example.com")

    response = client.post("/api/customers", json={"name": "Other", "email": "Taken@Example.COM"})

    assert_problem(response, 409, "email_taken")
    assert len(get_json(client, "/api/customers")) == 1


def test_a_customer_without_a_valid_name_and_email_is_a_400_naming_both(
    client: TestClient,
) -> None:
    response = client.post("/api/customers", json={"name": "", "email": "not-an-email"})

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {"name", "email"}
    assert get_json(client, "/api/customers") == []


def test_listing_customers_returns_them_in_id_order(client: TestClient) -> None:
    first = api_customer(client)
    second = api_customer(client)

    assert get_json(client, "/api/customers") == [first, second]


def test_listing_customers_can_filter_by_email(client: TestClient) -> None:
    api_customer(client)
    wanted = api_customer(client, email="wanted@example.com")

    assert get_json(client, "/api/customers?email=wanted@example.com") == [wanted]
    assert get_json(client, "/api/customers?email=nobody@example.com") == []


def test_getting_a_customer_returns_it(client: TestClient) -> None:
    customer = api_customer(client, balance="3.25", name="Grace")

    assert get_json(client, f"/api/customers/{customer['id']}") == customer


def test_patching_a_customer_changes_name_and_email_and_keeps_the_rest(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="20.00", name="Old", email="old@example.com")

    response = client.patch(
        f"/api/customers/{customer['id']}", json={"name": "New", "email": "new@example.com"}
    )

    assert response.status_code == 200
    expected = {**customer, "name": "New", "email": "new@example.com"}
    assert response.json() == expected
    assert get_json(client, f"/api/customers/{customer['id']}") == expected


def test_patching_only_the_name_leaves_the_email_alone(client: TestClient) -> None:
    customer = api_customer(client, email="keep@example.com")

    response = client.patch(f"/api/customers/{customer['id']}", json={"name": "Renamed"})

    assert response.status_code == 200
    assert response.json()["email"] == "keep@example.com"
    assert response.json()["name"] == "Renamed"


def test_patching_to_another_customers_email_is_a_409_and_changes_nothing(
    client: TestClient,
) -> None:
    api_customer(client, email="first@example.com")
    second = api_customer(client, email="second@example.com")

    response = client.patch(
        f"/api/customers/{second['id']}", json={"email": "first@example.com", "name": "X"}
    )

    assert_problem(response, 409, "email_taken")
    assert get_json(client, f"/api/customers/{second['id']}") == second


def test_deleting_a_customer_without_orders_answers_204_and_they_are_gone(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="0")  # a top-up would leave ledger history

    response = client.delete(f"/api/customers/{customer['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get(f"/api/customers/{customer['id']}"), 404, "customer_not_found")


def test_deleting_a_customer_who_has_orders_is_a_409_and_the_customer_stays(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client)
    order = place_order(client, customer["id"], (product["id"], 1))

    response = client.delete(f"/api/customers/{customer['id']}")

    assert_problem(response, 409, "customer_has_orders")
    assert get_json(client, f"/api/customers/{customer['id']}") == customer
    assert get_json(client, f"/api/orders/{order['id']}")["customer_id"] == customer["id"]


def test_a_customer_without_orders_has_an_empty_order_list(client: TestClient) -> None:
    customer = api_customer(client)

    response = client.get(f"/api/customers/{customer['id']}/orders")

    assert response.status_code == 200
    assert response.json() == []


def test_a_customers_orders_are_theirs_only_newest_first(client: TestClient) -> None:
    customer = api_customer(client)
    someone_else = api_customer(client)
    product = api_product(client)
    older = place_order(client, customer["id"], (product["id"], 1))
    place_order(client, someone_else["id"], (product["id"], 1))
    newer = place_order(client, customer["id"], (product["id"], 2))

    orders = get_json(client, f"/api/customers/{customer['id']}/orders")

    assert [order["id"] for order in orders] == [newer["id"], older["id"]]
    assert orders[0] == get_json(client, f"/api/orders/{newer['id']}")


def test_a_balance_can_not_be_set_when_creating_a_customer(client: TestClient) -> None:
    response = client.post(
        "/api/customers", json={"name": "Rich", "email": "rich@example.com", "balance": "500.00"}
    )

    assert_problem(response, 400, "validation_error")
    assert get_json(client, "/api/customers") == []


def test_an_admin_adjusts_a_balance_with_a_reason_and_gets_the_new_balance(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="10.00")

    taken = client.post(
        f"/api/customers/{customer['id']}/balance",
        json={"amount": "-2.50", "reason": "refund reversal"},
    )

    assert taken.status_code == 200, taken.text
    assert taken.json() == {"customer_id": customer["id"], "balance": "7.50"}
    assert_money(get_json(client, f"/api/customers/{customer['id']}")["balance"], "7.50")


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "0", "reason": "nothing"},
        {"amount": "1.001", "reason": "too precise"},
        {"amount": "5.00"},
        {"amount": "5.00", "reason": ""},
    ],
)
def test_a_balance_adjustment_needs_a_non_zero_amount_and_a_reason(
    client: TestClient, body: dict[str, Any]
) -> None:
    customer = api_customer(client, balance="10.00")

    response = client.post(f"/api/customers/{customer['id']}/balance", json=body)

    assert_problem(response, 400, "validation_error")
    assert_money(get_json(client, f"/api/customers/{customer['id']}")["balance"], "10.00")
