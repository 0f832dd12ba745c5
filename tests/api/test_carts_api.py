"""/api/customers/{id}/cart: filling a cart and checking it out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    assert_money,
    assert_problem,
    assert_utc_timestamp,
    balance_of,
    error_fields,
    get_json,
    order_ids,
    stock_of,
)
from tests.factories import api_customer, api_product


def cart_url(customer: dict[str, Any]) -> str:
    return f"/api/customers/{customer['id']}/cart"


def put_item(client: TestClient, customer: dict[str, Any], product_id: int, quantity: int) -> Any:
    response = client.put(f"{cart_url(customer)}/items/{product_id}", json={"quantity": quantity})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_customer_starts_with_an_empty_cart(client: TestClient) -> None:
    customer = api_customer(client)

    cart = get_json(client, cart_url(customer))

    assert cart == {"customer_id": customer["id"], "items": [], "total": "0.00"}


def test_putting_an_item_shows_it_at_todays_price_with_the_stock_available(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client, price="2.50", stock=8, name="Candle", sku="CANDLE")

    cart = put_item(client, customer, product["id"], 3)

    assert cart["customer_id"] == customer["id"]
    assert cart["items"] == [
        {
            "product_id": product["id"],
            "name": "Candle",
            "sku": "CANDLE",
            "unit_price": "2.50",
            "quantity": 3,
            "line_total": "7.50",
            "available": 8,
            "active": True,
        }
    ]
    assert_money(cart["total"], "7.50")
    assert get_json(client, cart_url(customer)) == cart


def test_putting_an_item_again_sets_its_quantity_rather_than_adding(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client, price="1.00")
    put_item(client, customer, product["id"], 3)

    cart = put_item(client, customer, product["id"], 5)

    assert [(item["product_id"], item["quantity"]) for item in cart["items"]] == [
        (product["id"], 5)
    ]
    assert_money(cart["total"], "5.00")


def test_putting_quantity_zero_removes_the_item(client: TestClient) -> None:
    customer = api_customer(client)
    kept = api_product(client)
    removed = api_product(client)
    put_item(client, customer, kept["id"], 1)
    put_item(client, customer, removed["id"], 2)

    cart = put_item(client, customer, removed["id"], 0)

    assert [item["product_id"] for item in cart["items"]] == [kept["id"]]
    assert get_json(client, cart_url(customer)) == cart


def test_deleting_an_item_takes_it_out_of_the_cart(client: TestClient) -> None:
    customer = api_customer(client)
    kept = api_product(client)
    removed = api_product(client)
    put_item(client, customer, kept["id"], 1)
    put_item(client, customer, removed["id"], 2)

    response = client.delete(f"{cart_url(customer)}/items/{removed['id']}")

    assert response.status_code == 200
    assert [item["product_id"] for item in response.json()["items"]] == [kept["id"]]
    assert get_json(client, cart_url(customer)) == response.json()


def test_deleting_the_cart_empties_it(client: TestClient) -> None:
    customer = api_customer(client)
    put_item(client, customer, api_product(client)["id"], 1)
    put_item(client, customer, api_product(client)["id"], 2)

    response = client.delete(cart_url(customer))

    assert response.status_code == 204
    assert get_json(client, cart_url(customer))["items"] == []


@pytest.mark.parametrize("body", [{"quantity": -1}, {"quantity": "2"}, {"quantity": 1.5}, {}])
def test_an_invalid_cart_quantity_is_a_400_naming_quantity(
    client: TestClient, body: dict[str, Any]
) -> None:
    customer = api_customer(client)
    product = api_product(client)

    response = client.put(f"{cart_url(customer)}/items/{product['id']}", json=body)

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"quantity"}
    assert get_json(client, cart_url(customer))["items"] == []


def test_checkout_creates_a_pending_order_from_the_cart_and_empties_it(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="50.00")
    mug = api_product(client, price="4.00", stock=5)
    tea = api_product(client, price="1.50", stock=5)
    put_item(client, customer, mug["id"], 2)
    put_item(client, customer, tea["id"], 3)

    response = client.post(f"{cart_url(customer)}/checkout")

    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"] == f"/api/orders/{order['id']}"
    assert order["customer_id"] == customer["id"]
    assert order["status"] == "pending"
    assert order["processed"] is None
    assert_utc_timestamp(order["created"])
    assert [(line["product_id"], line["quantity_ordered"]) for line in order["lines"]] == [
        (mug["id"], 2),
        (tea["id"], 3),
    ]
    assert_money(order["total"], "12.50")
    assert get_json(client, f"/api/orders/{order['id']}") == order
    assert get_json(client, cart_url(customer))["items"] == []
    assert stock_of(client, mug["id"]) == 5
    assert balance_of(client, customer["id"]) == "50.00"


def test_checkout_of_an_empty_cart_is_a_409_cart_empty(client: TestClient) -> None:
    customer = api_customer(client)

    assert_problem(client.post(f"{cart_url(customer)}/checkout"), 409, "cart_empty")
    assert order_ids(client) == []


def test_checkout_without_enough_stock_is_a_409_listing_the_short_lines_and_keeps_the_cart(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    plenty = api_product(client, stock=10)
    scarce = api_product(client, stock=2)
    put_item(client, customer, plenty["id"], 1)
    put_item(client, customer, scarce["id"], 3)
    cart_before = get_json(client, cart_url(customer))

    response = client.post(f"{cart_url(customer)}/checkout")

    problem = assert_problem(response, 409, "insufficient_stock")
    assert [
        (short["product_id"], short["ordered"], short["available"])
        for short in problem["short_lines"]
    ] == [(scarce["id"], 3, 2)]
    assert order_ids(client) == []
    assert get_json(client, cart_url(customer)) == cart_before
    assert stock_of(client, scarce["id"]) == 2


def test_checkout_with_an_archived_product_in_the_cart_is_a_409_and_keeps_the_cart(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client)
    put_item(client, customer, product["id"], 1)
    client.patch(f"/api/products/{product['id']}", json={"active": False})

    response = client.post(f"{cart_url(customer)}/checkout")

    assert_problem(response, 409, "product_inactive")
    assert order_ids(client) == []
    assert [item["product_id"] for item in get_json(client, cart_url(customer))["items"]] == [
        product["id"]
    ]


def test_checkout_keeps_the_shipping_address_and_note(client: TestClient) -> None:
    customer = api_customer(client)
    put_item(client, customer, api_product(client)["id"], 1)

    response = client.post(
        f"{cart_url(customer)}/checkout",
        json={"shipping_address": "1 Main St, Springfield", "note": "Leave at the door"},
    )

    assert response.status_code == 201
    order = get_json(client, f"/api/orders/{response.json()['id']}")
    assert order["shipping_address"] == "1 Main St, Springfield"
    assert order["note"] == "Leave at the door"
    assert order["status"] == "pending"


def test_checkout_with_process_true_processes_the_order_in_the_same_request(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="30.00")
    product = api_product(client, price="6.00", stock=4)
    put_item(client, customer, product["id"], 3)

    response = client.post(
        f"{cart_url(customer)}/checkout", json={"process": True, "strategy": "reject"}
    )

    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "processed"
    assert order["strategy"] == "reject"
    assert_utc_timestamp(order["processed"])
    assert_money(order["total"], "18.00")
    assert get_json(client, f"/api/orders/{order['id']}") == order
    assert stock_of(client, product["id"]) == 1
    assert balance_of(client, customer["id"]) == "12.00"
    assert get_json(client, cart_url(customer))["items"] == []


def test_checkout_that_fails_to_process_creates_nothing_and_keeps_the_cart(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="0.00")
    product = api_product(client, stock=4)
    put_item(client, customer, product["id"], 2)

    response = client.post(f"{cart_url(customer)}/checkout", json={"process": True})

    assert_problem(response, 409, "insufficient_balance")
    assert order_ids(client) == []
    assert [item["quantity"] for item in get_json(client, cart_url(customer))["items"]] == [2]
    assert stock_of(client, product["id"]) == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "greedy"}, "strategy"),
        ({"total": "0.00"}, "total"),
        ({"note": "x" * 2001}, "note"),
    ],
)
def test_an_invalid_checkout_body_is_a_400_and_the_cart_stays(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    customer = api_customer(client)
    put_item(client, customer, api_product(client)["id"], 1)

    response = client.post(f"{cart_url(customer)}/checkout", json=body)

    assert error_fields(assert_problem(response, 400, "validation_error")) == {field}
    assert order_ids(client) == []
    assert len(get_json(client, cart_url(customer))["items"]) == 1
