"""PUT /api/orders/{id}: processing an order with a shortage strategy, and every refusal."""

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
    place_order,
    process,
    stock_of,
)
from tests.factories import api_customer, api_product


class Shop:
    """A customer with 100.00, a plentiful product (10 in stock) and a scarce one (3)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.customer = api_customer(client, balance="100.00")
        self.plenty = api_product(client, price="2.00", stock=10, sku=f"PLENTY-{id(self)}")
        self.scarce = api_product(client, price="5.00", stock=3, sku=f"SCARCE-{id(self)}")

    def order(self, plenty: int = 2, scarce: int = 5) -> dict[str, Any]:
        """A pending order for 2 plentiful units and, by default, more scarce units than stock."""
        return place_order(
            self.client,
            self.customer["id"],
            (self.plenty["id"], plenty),
            (self.scarce["id"], scarce),
        )

    def state(self) -> tuple[int, int, str]:
        return (
            stock_of(self.client, self.plenty["id"]),
            stock_of(self.client, self.scarce["id"]),
            balance_of(self.client, self.customer["id"]),
        )


@pytest.fixture
def shop(client: TestClient) -> Shop:
    return Shop(client)


def quantities(order: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [
        (line["product_id"], line["quantity_ordered"], line["quantity"]) for line in order["lines"]
    ]


def test_process_true_processes_with_adjust_selling_what_is_in_stock(
    client: TestClient, shop: Shop
) -> None:
    order = shop.order(plenty=2, scarce=5)

    response = client.put(f"/api/orders/{order['id']}", json={"process": True})

    assert response.status_code == 200
    processed = response.json()
    assert processed["status"] == "processed"
    assert processed["strategy"] == "adjust"
    assert_utc_timestamp(processed["processed"])
    assert quantities(processed) == [(shop.plenty["id"], 2, 2), (shop.scarce["id"], 5, 3)]
    assert [line["line_total"] for line in processed["lines"]] == ["4.00", "15.00"]
    assert_money(processed["total"], "19.00")
    assert shop.state() == (8, 0, "81.00")
    assert get_json(client, f"/api/orders/{order['id']}") == processed


def test_an_explicit_adjust_strategy_behaves_like_the_default(
    client: TestClient, shop: Shop
) -> None:
    order = shop.order(plenty=1, scarce=4)

    processed = process(client, order["id"], "adjust").json()

    assert processed["strategy"] == "adjust"
    assert quantities(processed) == [(shop.plenty["id"], 1, 1), (shop.scarce["id"], 4, 3)]
    assert shop.state() == (9, 0, "83.00")


def test_the_ignore_strategy_drops_the_short_line_and_sells_the_rest(
    client: TestClient, shop: Shop
) -> None:
    order = shop.order(plenty=2, scarce=5)

    response = process(client, order["id"], "ignore")

    assert response.status_code == 200
    processed = response.json()
    assert processed["strategy"] == "ignore"
    assert quantities(processed) == [(shop.plenty["id"], 2, 2), (shop.scarce["id"], 5, 0)]
    assert [line["line_total"] for line in processed["lines"]] == ["4.00", "0.00"]
    assert_money(processed["total"], "4.00")
    assert shop.state() == (8, 3, "96.00")


def test_the_reject_strategy_refuses_a_short_order_with_409_and_changes_nothing(
    client: TestClient, shop: Shop
) -> None:
    order = shop.order(plenty=2, scarce=5)

    response = process(client, order["id"], "reject")

    problem = assert_problem(response, 409, "insufficient_stock")
    scarce_line = order["lines"][1]
    assert problem["short_lines"] == [
        {
            "line_id": scarce_line["id"],
            "product_id": shop.scarce["id"],
            "ordered": 5,
            "available": 3,
        }
    ]
    assert get_json(client, f"/api/orders/{order['id']}") == order
    assert shop.state() == (10, 3, "100.00")


def test_the_reject_strategy_processes_an_order_that_fits_the_stock(
    client: TestClient, shop: Shop
) -> None:
    order = shop.order(plenty=2, scarce=3)

    processed = process(client, order["id"], "reject").json()

    assert processed["status"] == "processed"
    assert processed["strategy"] == "reject"
    assert processed["adjustments"] == []
    assert shop.state() == (8, 0, "81.00")


@pytest.mark.parametrize("value", ["whatever", False, "true", None])
def test_any_process_value_but_true_answers_200_with_the_order_unchanged(
    client: TestClient, shop: Shop, value: Any
) -> None:
    order = shop.order()

    response = client.put(f"/api/orders/{order['id']}", json={"process": value})

    assert response.status_code == 200
    assert response.json() == order
    assert get_json(client, f"/api/orders/{order['id']}")["status"] == "pending"
    assert shop.state() == (10, 3, "100.00")


def test_process_whatever_on_an_unknown_order_is_a_404(client: TestClient) -> None:
    response = client.put("/api/orders/6767", json={"process": "whatever"})

    assert_problem(response, 404, "order_not_found")


@pytest.mark.parametrize("body", [{}, {"strategy": "adjust"}])
def test_a_body_without_the_process_key_is_a_400_naming_process(
    client: TestClient, shop: Shop, body: dict[str, Any]
) -> None:
    order = shop.order()

    response = client.put(f"/api/orders/{order['id']}", json=body)

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"process"}
    assert get_json(client, f"/api/orders/{order['id']}") == order


@pytest.mark.parametrize("raw", [b"[1]", b'"x"', b"null", b'[{"process": true}]'])
def test_a_body_that_is_not_a_json_object_is_a_400(
    client: TestClient, shop: Shop, raw: bytes
) -> None:
    order = shop.order()

    response = client.put(
        f"/api/orders/{order['id']}", content=raw, headers={"content-type": "application/json"}
    )

    assert_problem(response, 400, "validation_error")
    assert get_json(client, f"/api/orders/{order['id']}") == order
    assert shop.state() == (10, 3, "100.00")


def test_a_request_without_a_body_is_a_400(client: TestClient, shop: Shop) -> None:
    order = shop.order()

    response = client.put(f"/api/orders/{order['id']}")

    assert_problem(response, 400, "validation_error")
    assert get_json(client, f"/api/orders/{order['id']}") == order


@pytest.mark.parametrize("strategy", ["greedy", "ADJUST", None])
def test_an_invalid_strategy_is_a_400_naming_strategy_and_nothing_is_processed(
    client: TestClient, shop: Shop, strategy: Any
) -> None:
    order = shop.order()

    response = client.put(
        f"/api/orders/{order['id']}", json={"process": True, "strategy": strategy}
    )

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"strategy"}
    assert get_json(client, f"/api/orders/{order['id']}") == order
    assert shop.state() == (10, 3, "100.00")


def test_malformed_json_is_a_400_and_nothing_is_processed(client: TestClient, shop: Shop) -> None:
    order = shop.order()

    response = client.put(
        f"/api/orders/{order['id']}",
        content=b'{"process": tru',
        headers={"content-type": "application/json"},
    )

    assert_problem(response, 400, "invalid_json")
    assert get_json(client, f"/api/orders/{order['id']}") == order


def test_processing_an_order_twice_is_a_409_and_charges_once(
    client: TestClient, shop: Shop
) -> None:
    order = shop.order(plenty=2, scarce=1)
    first = process(client, order["id"])
    assert first.status_code == 200

    again = process(client, order["id"], "ignore")

    assert_problem(again, 409, "already_processed")
    assert get_json(client, f"/api/orders/{order['id']}") == first.json()
    assert shop.state() == (8, 2, "91.00")


def test_a_customer_without_a_positive_balance_is_refused_with_409(client: TestClient) -> None:
    customer = api_customer(client, balance="0.00")
    product = api_product(client, stock=5)
    order = place_order(client, customer["id"], (product["id"], 1))

    response = process(client, order["id"])

    assert_problem(response, 409, "insufficient_balance")
    assert get_json(client, f"/api/orders/{order['id']}") == order
    assert stock_of(client, product["id"]) == 5
    assert balance_of(client, customer["id"]) == "0.00"


def test_a_positive_balance_below_the_total_still_processes_and_goes_negative(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="5.00")
    product = api_product(client, price="8.00", stock=5)
    first = place_order(client, customer["id"], (product["id"], 1))
    second = place_order(client, customer["id"], (product["id"], 1))

    assert process(client, first["id"]).status_code == 200
    assert balance_of(client, customer["id"]) == "-3.00"

    assert_problem(process(client, second["id"]), 409, "insufficient_balance")
    assert stock_of(client, product["id"]) == 4


def test_a_processed_order_records_what_the_strategy_changed_per_line(
    client: TestClient, shop: Shop
) -> None:
    order = shop.order(plenty=2, scarce=5)

    processed = process(client, order["id"]).json()

    scarce_line = order["lines"][1]
    assert processed["adjustments"] == [
        {
            "line_id": scarce_line["id"],
            "product_id": shop.scarce["id"],
            "sku": shop.scarce["sku"],
            "ordered": 5,
            "processed": 3,
        }
    ]
    assert get_json(client, f"/api/orders/{order['id']}")["adjustments"] == processed["adjustments"]


def test_an_order_processed_in_full_records_no_adjustment(client: TestClient, shop: Shop) -> None:
    order = shop.order(plenty=2, scarce=3)

    processed = process(client, order["id"]).json()

    assert processed["adjustments"] == []
    assert quantities(processed) == [(shop.plenty["id"], 2, 2), (shop.scarce["id"], 3, 3)]


def test_a_line_whose_product_left_the_catalog_is_settled_at_zero(
    client: TestClient, shop: Shop
) -> None:
    order = shop.order(plenty=2, scarce=1)
    assert client.delete(f"/api/products/{shop.scarce['id']}").status_code == 204

    processed = process(client, order["id"]).json()

    assert [(line["product_id"], line["quantity"]) for line in processed["lines"]] == [
        (shop.plenty["id"], 2),
        (None, 0),
    ]
    assert_money(processed["total"], "4.00")
    assert balance_of(client, shop.customer["id"]) == "96.00"
