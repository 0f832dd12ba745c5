"""Idempotency-Key on POST /api/orders, checkout and the processing PUT: retries are safe."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    assert_problem,
    balance_of,
    get_json,
    order_ids,
    place_order,
    stock_of,
)
from tests.factories import api_customer, api_product

REPLAYED = "idempotent-replayed"


def order_body(customer: dict[str, Any], product: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": customer["id"],
        "items": [{"product_id": product["id"], "quantity": 2}],
        **extra,
    }


def test_posting_an_order_twice_with_one_key_creates_it_once_and_replays_the_response(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client)
    body = order_body(customer, product, note="first try")

    first = client.post("/api/orders", json=body, headers={"Idempotency-Key": "order-1"})
    retry = client.post("/api/orders", json=body, headers={"Idempotency-Key": "order-1"})

    assert first.status_code == 201
    assert REPLAYED not in first.headers
    assert retry.status_code == 201
    assert retry.headers[REPLAYED] == "true"
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert order_ids(client) == [first.json()["id"]]


def test_a_replayed_order_with_process_true_takes_stock_and_charges_once(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="50.00")
    product = api_product(client, price="5.00", stock=10)
    body = order_body(customer, product, process=True)

    responses = [
        client.post("/api/orders", json=body, headers={"Idempotency-Key": "pay-once"})
        for _ in range(3)
    ]

    assert [r.status_code for r in responses] == [201, 201, 201]
    assert [r.headers.get(REPLAYED) for r in responses] == [None, "true", "true"]
    assert len(order_ids(client)) == 1
    assert stock_of(client, product["id"]) == 8
    assert balance_of(client, customer["id"]) == "40.00"


def test_different_keys_are_different_requests(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    body = order_body(customer, product)

    first = client.post("/api/orders", json=body, headers={"Idempotency-Key": "key-a"})
    second = client.post("/api/orders", json=body, headers={"Idempotency-Key": "key-b"})

    assert (first.status_code, second.status_code) == (201, 201)
    assert REPLAYED not in second.headers
    assert first.json()["id"] != second.json()["id"]
    assert len(order_ids(client)) == 2


def test_reusing_a_key_with_a_different_body_is_a_422_and_creates_nothing_more(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client)
    first = client.post(
        "/api/orders", json=order_body(customer, product), headers={"Idempotency-Key": "reused"}
    )

    response = client.post(
        "/api/orders",
        json=order_body(customer, product, note="changed my mind"),
        headers={"Idempotency-Key": "reused"},
    )

    assert_problem(response, 422, "idempotency_key_reused")
    assert order_ids(client) == [first.json()["id"]]


def test_reusing_a_key_on_another_endpoint_is_a_422(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    order = client.post(
        "/api/orders", json=order_body(customer, product), headers={"Idempotency-Key": "shared"}
    ).json()

    response = client.put(
        f"/api/orders/{order['id']}", json={"process": True}, headers={"Idempotency-Key": "shared"}
    )

    assert_problem(response, 422, "idempotency_key_reused")
    assert get_json(client, f"/api/orders/{order['id']}")["status"] == "pending"


def test_a_failed_order_does_not_store_the_key_so_a_fixed_retry_succeeds(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client, active=False)
    body = order_body(customer, product)

    failed = client.post("/api/orders", json=body, headers={"Idempotency-Key": "retry-me"})
    assert_problem(failed, 409, "product_inactive")
    client.patch(f"/api/products/{product['id']}", json={"active": True})
    retried = client.post("/api/orders", json=body, headers={"Idempotency-Key": "retry-me"})

    assert retried.status_code == 201
    assert REPLAYED not in retried.headers
    assert order_ids(client) == [retried.json()["id"]]


def test_checking_out_twice_with_one_key_makes_one_order_and_replays_it(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client)
    cart = f"/api/customers/{customer['id']}/cart"
    client.put(f"{cart}/items/{product['id']}", json={"quantity": 2})
    body = {"note": "ring twice"}

    first = client.post(f"{cart}/checkout", json=body, headers={"Idempotency-Key": "cart-1"})
    retry = client.post(f"{cart}/checkout", json=body, headers={"Idempotency-Key": "cart-1"})

    assert first.status_code == 201
    assert retry.status_code == 201
    assert retry.headers[REPLAYED] == "true"
    assert retry.json() == first.json()
    assert order_ids(client) == [first.json()["id"]]


def test_checkout_with_a_reused_key_and_another_body_is_a_422_and_keeps_the_cart(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client)
    cart = f"/api/customers/{customer['id']}/cart"
    client.put(f"{cart}/items/{product['id']}", json={"quantity": 1})
    client.post(f"{cart}/checkout", json={"note": "a"}, headers={"Idempotency-Key": "cart-2"})
    client.put(f"{cart}/items/{product['id']}", json={"quantity": 3})

    response = client.post(
        f"{cart}/checkout", json={"note": "b"}, headers={"Idempotency-Key": "cart-2"}
    )

    assert_problem(response, 422, "idempotency_key_reused")
    assert len(order_ids(client)) == 1
    assert [item["quantity"] for item in get_json(client, cart)["items"]] == [3]


def test_a_checkout_of_an_empty_cart_does_not_store_the_key(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    cart = f"/api/customers/{customer['id']}/cart"

    empty = client.post(f"{cart}/checkout", headers={"Idempotency-Key": "cart-3"})
    assert_problem(empty, 409, "cart_empty")
    client.put(f"{cart}/items/{product['id']}", json={"quantity": 1})
    retried = client.post(f"{cart}/checkout", headers={"Idempotency-Key": "cart-3"})

    assert retried.status_code == 201
    assert REPLAYED not in retried.headers
    assert order_ids(client) == [retried.json()["id"]]


def test_processing_twice_with_one_key_replays_200_instead_of_already_processed(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="30.00")
    product = api_product(client, price="4.00", stock=5)
    order = place_order(client, customer["id"], (product["id"], 2))
    url = f"/api/orders/{order['id']}"

    first = client.put(url, json={"process": True}, headers={"Idempotency-Key": "proc-1"})
    retry = client.put(url, json={"process": True}, headers={"Idempotency-Key": "proc-1"})

    assert first.status_code == 200
    assert retry.status_code == 200
    assert retry.headers[REPLAYED] == "true"
    assert retry.json() == first.json()
    assert stock_of(client, product["id"]) == 3
    assert balance_of(client, customer["id"]) == "22.00"
    assert_problem(client.put(url, json={"process": True}), 409, "already_processed")


def test_processing_with_a_reused_key_and_another_strategy_is_a_422(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client, stock=5)
    order = place_order(client, customer["id"], (product["id"], 1))
    url = f"/api/orders/{order['id']}"
    client.put(url, json={"process": True}, headers={"Idempotency-Key": "proc-2"})

    response = client.put(
        url, json={"process": True, "strategy": "ignore"}, headers={"Idempotency-Key": "proc-2"}
    )

    assert_problem(response, 422, "idempotency_key_reused")
    assert stock_of(client, product["id"]) == 4


def test_a_refused_processing_does_not_store_the_key_so_a_retry_after_restocking_succeeds(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="30.00")
    product = api_product(client, price="1.00", stock=1)
    order = place_order(client, customer["id"], (product["id"], 3))
    url = f"/api/orders/{order['id']}"
    body = {"process": True, "strategy": "reject"}

    refused = client.put(url, json=body, headers={"Idempotency-Key": "proc-3"})
    assert_problem(refused, 409, "insufficient_stock")
    client.patch(f"/api/products/{product['id']}", json={"stock": 5})
    retried = client.put(url, json=body, headers={"Idempotency-Key": "proc-3"})

    assert retried.status_code == 200
    assert REPLAYED not in retried.headers
    assert retried.json()["status"] == "processed"
    assert stock_of(client, product["id"]) == 2
    assert balance_of(client, customer["id"]) == "27.00"


@pytest.mark.parametrize("key", ["", "   ", "k" * 256, "tab\there"])
def test_an_unusable_idempotency_key_is_a_400_and_nothing_is_created(
    client: TestClient, key: str
) -> None:
    customer = api_customer(client)
    product = api_product(client)

    response = client.post(
        "/api/orders", json=order_body(customer, product), headers={"Idempotency-Key": key}
    )

    assert_problem(response, 400, "invalid_idempotency_key")
    assert order_ids(client) == []


def test_the_longest_allowed_key_works_and_a_longer_one_is_a_400(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    body = {"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 1}]}

    longest = client.post("/api/orders", json=body, headers={"Idempotency-Key": "k" * 200})
    too_long = client.post("/api/orders", json=body, headers={"Idempotency-Key": "k" * 201})

    assert longest.status_code == 201, longest.text
    assert_problem(too_long, 400, "invalid_idempotency_key")
