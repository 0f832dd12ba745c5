"""/api/orders: placing, reading, finding by number, listing with filters, and deleting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    ORDER_NUMBER,
    assert_money,
    assert_problem,
    assert_utc_timestamp,
    balance_of,
    error_fields,
    get_json,
    order_ids,
    place_order,
    process,
    stock_of,
)
from tests.factories import api_customer, api_product


def test_placing_an_order_answers_201_with_the_order_and_its_location(client: TestClient) -> None:
    customer = api_customer(client, balance="80.00")
    mug = api_product(client, price="4.99", stock=10, name="Mug", sku="MUG-1")
    tea = api_product(client, price="0.75", stock=10, name="Tea", sku="TEA-1")
    before = datetime.now(UTC)

    response = client.post(
        "/api/orders",
        json={
            "customer_id": customer["id"],
            "items": [
                {"product_id": mug["id"], "quantity": 2},
                {"product_id": tea["id"], "quantity": 4},
            ],
            "shipping_address": "12 Harbour Road",
            "note": "gift wrap",
            "extra": {"channel": "phone", "priority": 2},
        },
    )

    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"] == f"/api/orders/{order['id']}"
    assert order["customer_id"] == customer["id"]
    assert order["status"] == "pending"
    assert order["strategy"] is None
    assert order["processed"] is None
    assert order["currency"] == "USD"
    assert order["shipping_address"] == "12 Harbour Road"
    assert order["note"] == "gift wrap"
    assert order["extra"] == {"channel": "phone", "priority": 2}
    assert order["adjustments"] == []
    created = assert_utc_timestamp(order["created"])
    assert before <= created <= datetime.now(UTC)
    match = ORDER_NUMBER.match(order["number"])
    assert match
    assert int(match.group(1)) == created.year
    lines = [
        (
            line["product_id"],
            line["name"],
            line["sku"],
            line["unit_price"],
            line["quantity_ordered"],
            line["quantity"],
            line["line_total"],
        )
        for line in order["lines"]
    ]
    assert lines == [
        (mug["id"], "Mug", "MUG-1", "4.99", 2, 2, "9.98"),
        (tea["id"], "Tea", "TEA-1", "0.75", 4, 4, "3.00"),
    ]
    assert_money(order["total"], "12.98")


def test_placing_an_order_takes_no_stock_and_charges_nothing(client: TestClient) -> None:
    customer = api_customer(client, balance="80.00")
    product = api_product(client, stock=10)

    place_order(client, customer["id"], (product["id"], 3))

    assert stock_of(client, product["id"]) == 10
    assert balance_of(client, customer["id"]) == "80.00"


def test_order_numbers_follow_each_other_within_the_year(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)

    numbers = [place_order(client, customer["id"], (product["id"], 1))["number"] for _ in range(3)]

    parsed = [ORDER_NUMBER.match(number) for number in numbers]
    assert all(parsed)
    assert {m.group(1) for m in parsed if m} == {str(datetime.now(UTC).year)}
    sequences = [int(m.group(2)) for m in parsed if m]
    assert sequences == [sequences[0], sequences[0] + 1, sequences[0] + 2]


def test_the_same_product_twice_makes_one_line_with_the_summed_quantity(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client, price="1.00")

    order = place_order(client, customer["id"], (product["id"], 2), (product["id"], 3))

    assert [(line["product_id"], line["quantity_ordered"]) for line in order["lines"]] == [
        (product["id"], 5)
    ]
    assert_money(order["total"], "5.00")


def test_placing_an_order_with_process_true_processes_it_at_once(client: TestClient) -> None:
    customer = api_customer(client, balance="50.00")
    product = api_product(client, price="10.00", stock=2)

    order = place_order(client, customer["id"], (product["id"], 3), process=True)

    assert order["status"] == "processed"
    assert order["strategy"] == "adjust"
    assert [line["quantity"] for line in order["lines"]] == [2]
    assert_money(order["total"], "20.00")
    assert stock_of(client, product["id"]) == 0
    assert balance_of(client, customer["id"]) == "30.00"


def test_ordering_for_an_unknown_customer_is_a_404_and_creates_nothing(client: TestClient) -> None:
    product = api_product(client)

    response = client.post(
        "/api/orders",
        json={"customer_id": 9191, "items": [{"product_id": product["id"], "quantity": 1}]},
    )

    assert_problem(response, 404, "customer_not_found")
    assert order_ids(client) == []


def test_ordering_an_unknown_product_is_a_404_naming_it_and_creates_nothing(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    product = api_product(client)

    response = client.post(
        "/api/orders",
        json={
            "customer_id": customer["id"],
            "items": [
                {"product_id": product["id"], "quantity": 1},
                {"product_id": 9292, "quantity": 1},
            ],
        },
    )

    problem = assert_problem(response, 404, "product_not_found")
    assert problem["product_ids"] == [9292]
    assert order_ids(client) == []


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([{"product_id": 1, "quantity": 0}], "items.0.quantity"),
        ([{"product_id": 1, "quantity": -2}], "items.0.quantity"),
        ([{"product_id": 1, "quantity": "1"}], "items.0.quantity"),
        ([{"product_id": 1}], "items.0.quantity"),
        ([{"quantity": 1}], "items.0.product_id"),
    ],
)
def test_invalid_order_items_are_a_400_naming_the_field(
    client: TestClient, items: list[dict[str, Any]], field: str
) -> None:
    customer = api_customer(client)
    api_product(client)

    response = client.post("/api/orders", json={"customer_id": customer["id"], "items": items})

    assert error_fields(assert_problem(response, 400, "validation_error")) == {field}
    assert order_ids(client) == []


def test_getting_an_order_returns_what_was_placed(client: TestClient) -> None:
    customer = api_customer(client)
    order = place_order(client, customer["id"], (api_product(client)["id"], 1))

    assert get_json(client, f"/api/orders/{order['id']}") == order


def test_a_processed_order_shows_when_it_was_processed_in_utc(client: TestClient) -> None:
    customer = api_customer(client)
    order = place_order(client, customer["id"], (api_product(client)["id"], 1))

    assert process(client, order["id"]).status_code == 200

    fetched = get_json(client, f"/api/orders/{order['id']}")
    assert fetched["status"] == "processed"
    processed = assert_utc_timestamp(fetched["processed"])
    assert processed >= assert_utc_timestamp(fetched["created"])
    assert fetched["created"] == order["created"]


def test_an_order_can_be_fetched_by_its_number(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    place_order(client, customer["id"], (product["id"], 1))
    wanted = place_order(client, customer["id"], (product["id"], 2))

    response = client.get(f"/api/orders/by-number/{wanted['number']}")

    assert response.status_code == 200
    assert response.json() == wanted


def test_an_unknown_order_number_is_a_404(client: TestClient) -> None:
    assert_problem(client.get("/api/orders/by-number/1999-00001"), 404, "order_not_found")


@pytest.mark.parametrize("number", ["abc", "2026-1", "2026_00001", "26-00001", "2026-00001x"])
def test_a_malformed_order_number_is_a_400(client: TestClient, number: str) -> None:
    assert_problem(client.get(f"/api/orders/by-number/{number}"), 400, "validation_error")


def test_orders_are_listed_newest_first(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    placed = [place_order(client, customer["id"], (product["id"], 1))["id"] for _ in range(3)]

    orders = get_json(client, "/api/orders")

    assert [order["id"] for order in orders] == list(reversed(placed))
    assert orders[0] == get_json(client, f"/api/orders/{placed[-1]}")


def test_orders_can_be_filtered_by_status_and_processed(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    pending = place_order(client, customer["id"], (product["id"], 1))
    done = place_order(client, customer["id"], (product["id"], 1))
    assert process(client, done["id"]).status_code == 200

    assert order_ids(client, "status=pending") == [pending["id"]]
    assert order_ids(client, "status=processed") == [done["id"]]
    assert order_ids(client, "processed=false") == [pending["id"]]
    assert order_ids(client, "processed=true") == [done["id"]]
    assert order_ids(client) == [done["id"], pending["id"]]


def test_orders_can_be_filtered_by_customer(client: TestClient) -> None:
    alice = api_customer(client)
    bob = api_customer(client)
    product = api_product(client)
    for_alice = place_order(client, alice["id"], (product["id"], 1))
    for_bob = place_order(client, bob["id"], (product["id"], 1))

    assert order_ids(client, f"customer_id={alice['id']}") == [for_alice["id"]]
    assert order_ids(client, f"customer_id={bob['id']}") == [for_bob["id"]]
    assert order_ids(client, "customer_id=4545") == []


def test_orders_can_be_filtered_by_creation_time(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    first, second, third = (
        place_order(client, customer["id"], (product["id"], 1)) for _ in range(3)
    )
    cut = second["created"]

    def listed(**params: str) -> list[int]:
        response = client.get("/api/orders", params=params)
        assert response.status_code == 200, response.text
        return [order["id"] for order in response.json()]

    assert listed(created_from=cut) == [third["id"], second["id"]]
    assert listed(created_to=cut) == [first["id"]]
    assert listed(created_from=first["created"], created_to=third["created"]) == [
        second["id"],
        first["id"],
    ]
    naive = cut.removesuffix("Z")
    assert listed(created_from=naive) == [third["id"], second["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=shipped", "status"),
        ("processed=maybe", "processed"),
        ("created_from=yesterday", "created_from"),
        ("created_to=2026-13-01", "created_to"),
        ("customer_id=abc", "customer_id"),
        # Valid timestamps whose UTC moment falls outside the calendar
        ("created_from=0001-01-01T00:00:00%2B14:00", "created_from"),
        ("created_to=9999-12-31T23:59:59-14:00", "created_to"),
    ],
)
def test_an_invalid_order_filter_is_a_400_naming_it(
    client: TestClient, query: str, field: str
) -> None:
    response = client.get(f"/api/orders?{query}")

    assert error_fields(assert_problem(response, 400, "validation_error")) == {field}


@pytest.mark.parametrize(
    "value",
    ["0.5", "1700000000", "-1", "1e9", " 42 "],
    ids=["fraction", "epoch", "neg", "exp", "sp"],
)
@pytest.mark.parametrize("field", ["created_from", "created_to"])
def test_a_number_is_not_a_creation_time_filter(client: TestClient, field: str, value: str) -> None:
    customer = api_customer(client)
    place_order(client, customer["id"], (api_product(client)["id"], 1))

    response = client.get("/api/orders", params={field: value})

    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"] == [
        {
            "field": field,
            "message": "must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z, not a number",
        }
    ]


def test_the_creation_time_filters_are_declared_as_date_times(client: TestClient) -> None:
    parameters = client.get("/openapi.json").json()["paths"]["/api/orders"]["get"]["parameters"]

    for parameter in parameters:
        if parameter["name"] in {"created_from", "created_to"}:
            assert {"type": "string", "format": "date-time"} in parameter["schema"]["anyOf"]
            assert "ISO 8601" in parameter["description"]


def test_deleting_a_pending_order_answers_204_and_it_is_gone(client: TestClient) -> None:
    customer = api_customer(client)
    order = place_order(client, customer["id"], (api_product(client)["id"], 1))

    response = client.delete(f"/api/orders/{order['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get(f"/api/orders/{order['id']}"), 404, "order_not_found")
    assert order_ids(client) == []


def test_deleting_a_processed_order_is_a_409_and_the_order_stays_unchanged(
    client: TestClient,
) -> None:
    customer = api_customer(client)
    order = place_order(client, customer["id"], (api_product(client)["id"], 1))
    processed = process(client, order["id"]).json()

    response = client.delete(f"/api/orders/{order['id']}")

    assert_problem(response, 409, "order_not_deletable")
    assert get_json(client, f"/api/orders/{order['id']}") == processed
    assert order_ids(client) == [order["id"]]
