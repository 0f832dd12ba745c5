"""Error mapping: problem+json everywhere, unknown fields refused, exact money, no 500s."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    MONEY,
    assert_money,
    assert_problem,
    error_fields,
    get_json,
    place_order,
    process,
)
from tests.factories import api_customer, api_product

HUGE = 99_999_999_999


class World:
    """One customer (with a cart item), one product and one pending order."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.customer = api_customer(client, balance="50.00")
        self.product = api_product(client, price="3.00", stock=5)
        self.order = place_order(client, self.customer["id"], (self.product["id"], 2))
        response = client.put(self.item_url, json={"quantity": 1})
        assert response.status_code == 200

    @property
    def cart_url(self) -> str:
        return f"/api/customers/{self.customer['id']}/cart"

    @property
    def item_url(self) -> str:
        return f"{self.cart_url}/items/{self.product['id']}"

    def snapshot(self) -> dict[str, Any]:
        """Everything a request could have changed."""
        return {
            "customers": get_json(self.client, "/api/customers"),
            "products": get_json(self.client, "/api/products"),
            "orders": get_json(self.client, "/api/orders"),
            "cart": get_json(self.client, self.cart_url),
        }


@pytest.fixture
def world(client: TestClient) -> World:
    return World(client)


Request = tuple[str, str, Any]

# Each case: a request carrying one field no client may set, and the field the 400 must name.
UNKNOWN_FIELDS: dict[str, tuple[Callable[[World], Request], str]] = {
    "customer id on create": (
        lambda w: ("POST", "/api/customers", {"name": "N", "email": "n@example.com", "id": 9}),
        "id",
    ),
    "customer created on create": (
        lambda w: (
            "POST",
            "/api/customers",
            {"name": "N", "email": "n@example.com", "created": "2020-01-01T00:00:00Z"},
        ),
        "created",
    ),
    "customer balance on patch": (
        lambda w: ("PATCH", f"/api/customers/{w.customer['id']}", {"balance": "999.00"}),
        "balance",
    ),
    "product id on create": (
        lambda w: ("POST", "/api/products", {"name": "N", "sku": "NEW", "price": "1", "id": 1}),
        "id",
    ),
    "product created on patch": (
        lambda w: (
            "PATCH",
            f"/api/products/{w.product['id']}",
            {"stock": 99, "created": "2020-01-01T00:00:00Z"},
        ),
        "created",
    ),
    "price on a cart item": (
        lambda w: ("PUT", w.item_url, {"quantity": 4, "price": "0.01"}),
        "price",
    ),
    "total on checkout": (
        lambda w: ("POST", f"{w.cart_url}/checkout", {"total": "0.01"}),
        "total",
    ),
    "status on checkout": (
        lambda w: ("POST", f"{w.cart_url}/checkout", {"status": "processed"}),
        "status",
    ),
    "total on an order": (
        lambda w: ("POST", "/api/orders", _order_body(w, total="0.01")),
        "total",
    ),
    "status on an order": (
        lambda w: ("POST", "/api/orders", _order_body(w, status="processed")),
        "status",
    ),
    "processed on an order": (
        lambda w: ("POST", "/api/orders", _order_body(w, processed="2020-01-01T00:00:00Z")),
        "processed",
    ),
    "number on an order": (
        lambda w: ("POST", "/api/orders", _order_body(w, number="2020-00001")),
        "number",
    ),
    "price on an order item": (
        lambda w: (
            "POST",
            "/api/orders",
            {
                "customer_id": w.customer["id"],
                "items": [{"product_id": w.product["id"], "quantity": 1, "price": "0.01"}],
            },
        ),
        "items.0.price",
    ),
    "total when processing": (
        lambda w: ("PUT", f"/api/orders/{w.order['id']}", {"process": True, "total": "0.00"}),
        "total",
    ),
    "status when processing": (
        lambda w: (
            "PUT",
            f"/api/orders/{w.order['id']}",
            {"process": True, "status": "processed"},
        ),
        "status",
    ),
    "number when not processing": (
        lambda w: (
            "PUT",
            f"/api/orders/{w.order['id']}",
            {"process": "whatever", "number": "2020-00001"},
        ),
        "number",
    ),
}


def _order_body(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": world.customer["id"],
        "items": [{"product_id": world.product["id"], "quantity": 1}],
        **extra,
    }


@pytest.mark.parametrize("case", list(UNKNOWN_FIELDS), ids=list(UNKNOWN_FIELDS))
def test_an_unknown_field_in_a_request_body_is_a_400_naming_it_and_nothing_changes(
    client: TestClient, world: World, case: str
) -> None:
    build, field = UNKNOWN_FIELDS[case]
    method, url, body = build(world)
    before = world.snapshot()

    response = client.request(method, url, json=body)

    assert error_fields(assert_problem(response, 400, "validation_error")) == {field}
    assert world.snapshot() == before


@pytest.mark.parametrize(
    "price",
    ["12.345", 12.345, "-1.00", -0.01, "abc", True, None, "1e3", "NaN", []],
)
def test_a_price_that_is_not_an_exact_non_negative_amount_is_a_400_naming_price(
    client: TestClient, price: Any
) -> None:
    response = client.post("/api/products", json={"name": "N", "sku": "N-1", "price": price})

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"price"}
    assert get_json(client, "/api/products") == []


@pytest.mark.parametrize("balance", ["1.005", 0.125, "-5.00", -1])
def test_an_opening_balance_with_3_decimals_or_below_zero_is_a_400_naming_balance(
    client: TestClient, balance: Any
) -> None:
    response = client.post(
        "/api/customers", json={"name": "N", "email": "n@example.com", "balance": balance}
    )

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"balance"}
    assert get_json(client, "/api/customers") == []


def test_patching_a_price_with_3_decimals_is_a_400_and_keeps_the_price(
    client: TestClient,
) -> None:
    product = api_product(client, price="4.00")

    response = client.patch(f"/api/products/{product['id']}", json={"price": "4.001"})

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"price"}
    assert get_json(client, f"/api/products/{product['id']}") == product


@pytest.mark.parametrize(
    ("sent", "rendered"),
    [
        ("19.99", "19.99"),
        (19.99, "19.99"),
        (0.1, "0.10"),
        ("0.10", "0.10"),
        (0, "0.00"),
        ("7", "7.00"),
        (1e2, "100.00"),
        (" 2.50 ", "2.50"),
    ],
)
def test_a_price_is_exact_whether_sent_as_a_number_or_a_string(
    client: TestClient, sent: Any, rendered: str
) -> None:
    product = api_product(client, price=sent)

    assert_money(product["price"], rendered)
    assert_money(get_json(client, f"/api/products/{product['id']}")["price"], rendered)


_MONEY_KEYS = ("balance", "price", "total", "unit_price", "line_total")
_MONEY_AS_NUMBER = re.compile(r'"(?:' + "|".join(_MONEY_KEYS) + r')"\s*:\s*-?\d')


def test_money_is_always_rendered_as_a_two_decimal_string_never_a_number(
    client: TestClient, world: World
) -> None:
    assert process(client, world.order["id"]).status_code == 200
    urls = [
        "/api/customers",
        f"/api/customers/{world.customer['id']}",
        f"/api/customers/{world.customer['id']}/orders",
        "/api/products",
        f"/api/products/{world.product['id']}",
        world.cart_url,
        "/api/orders",
        f"/api/orders/{world.order['id']}",
    ]

    for url in urls:
        response = client.get(url)
        assert response.status_code == 200
        assert not _MONEY_AS_NUMBER.search(response.text), (url, response.text)

    customer = get_json(client, f"/api/customers/{world.customer['id']}")
    assert_money(customer["balance"], "44.00")
    order = get_json(client, f"/api/orders/{world.order['id']}")
    money = [order["total"]] + [
        line[k] for line in order["lines"] for k in ("unit_price", "line_total")
    ]
    assert money == ["6.00", "3.00", "6.00"]
    assert all(MONEY.match(value) for value in money)


def test_an_unknown_route_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/api/warehouses"), 404, "not_found")
    assert_problem(client.post("/api/nothing/here", json={}), 404, "not_found")


def test_an_unsupported_method_is_a_405_problem(client: TestClient) -> None:
    assert_problem(client.patch("/api/orders/1", json={}), 405, "method_not_allowed")


def test_malformed_json_is_a_400_problem_that_does_not_blame_a_made_up_field(
    client: TestClient,
) -> None:
    response = client.post(
        "/api/customers",
        content=b'{"name": "N", "email": ',
        headers={"content-type": "application/json"},
    )

    problem = assert_problem(response, 400, "invalid_json")
    assert error_fields(problem) == {"body"}
    assert get_json(client, "/api/customers") == []


def test_invalid_input_names_every_offending_field(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/orders",
        json={
            "customer_id": "first",
            "items": [{"product_id": world.product["id"], "quantity": 0}],
            "shipping_address": "x" * 2001,
        },
    )

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {"customer_id", "items.0.quantity", "shipping_address"}
    assert all(
        isinstance(error["message"], str) and error["message"] for error in problem["errors"]
    )


HUGE_ID_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", f"/api/customers/{HUGE}", None),
    ("PATCH", f"/api/customers/{HUGE}", {"name": "N"}),
    ("DELETE", f"/api/customers/{HUGE}", None),
    ("GET", f"/api/customers/{HUGE}/orders", None),
    ("GET", f"/api/customers/{HUGE}/cart", None),
    ("DELETE", f"/api/customers/{HUGE}/cart", None),
    ("PUT", f"/api/customers/1/cart/items/{HUGE}", {"quantity": 1}),
    ("DELETE", f"/api/customers/1/cart/items/{HUGE}", None),
    ("POST", f"/api/customers/{HUGE}/cart/checkout", None),
    ("GET", f"/api/products/{HUGE}", None),
    ("PATCH", f"/api/products/{HUGE}", {"stock": 1}),
    ("DELETE", f"/api/products/{HUGE}", None),
    ("GET", f"/api/orders/{HUGE}", None),
    ("PUT", f"/api/orders/{HUGE}", {"process": True}),
    ("DELETE", f"/api/orders/{HUGE}", None),
    ("GET", f"/api/orders?customer_id={HUGE}", None),
    ("POST", "/api/orders", {"customer_id": HUGE, "items": [{"product_id": 1, "quantity": 1}]}),
    ("POST", "/api/orders", {"customer_id": 1, "items": [{"product_id": HUGE, "quantity": 1}]}),
    ("POST", "/api/orders", {"customer_id": 1, "items": [{"product_id": 1, "quantity": HUGE}]}),
    ("PUT", "/api/customers/1/cart/items/1", {"quantity": HUGE}),
    ("POST", "/api/products", {"name": "N", "sku": "N", "price": "1", "stock": HUGE}),
]


@pytest.mark.parametrize(
    ("method", "url", "body"), HUGE_ID_REQUESTS, ids=[f"{m} {u}" for m, u, _ in HUGE_ID_REQUESTS]
)
def test_a_number_too_large_for_an_id_or_quantity_is_a_400_not_a_500(
    client: TestClient, method: str, url: str, body: Any
) -> None:
    response = client.request(method, url, json=body)

    assert_problem(response, 400, "validation_error")


def test_a_huge_order_number_is_simply_not_found(client: TestClient) -> None:
    assert_problem(client.get(f"/api/orders/by-number/2026-{HUGE}"), 404, "order_not_found")


def test_input_errors_found_by_services_name_their_field_like_schema_errors(
    client: TestClient,
) -> None:
    malformed_number = client.get("/api/orders/by-number/2026-12x")
    bad_cursor = client.get("/api/customers", params={"cursor": "not-a-cursor"})
    bad_key = client.post(
        "/api/customers/1/cart/checkout", headers={"Idempotency-Key": " "}, json={}
    )

    assert error_fields(assert_problem(malformed_number, 400, "validation_error")) == {"number"}
    assert error_fields(assert_problem(bad_cursor, 400, "invalid_cursor")) == {"cursor"}
    assert error_fields(assert_problem(bad_key, 400, "invalid_idempotency_key")) == {
        "Idempotency-Key"
    }


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/customers", {"name": "a\x00b", "email": "nul@example.com"}),
        ("POST", "/api/products", {"name": "Tea", "sku": "T-1", "price": "1\x00"}),
        ("GET", "/api/customers?email=a%00b@example.com", None),
        ("GET", "/api/products?sku=T%001", None),
        ("GET", "/api/orders/by-number/2026-%0000001", None),
    ],
)
def test_a_nul_character_in_a_body_or_url_is_a_400_not_a_server_error(
    client: TestClient, method: str, url: str, body: dict[str, Any] | None
) -> None:
    response = client.request(method, url, json=body)

    assert_problem(response, 400, "validation_error")


def test_a_nul_character_nested_in_an_orders_extra_data_is_a_400(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)

    response = client.post(
        "/api/orders",
        json={
            "customer_id": customer["id"],
            "items": [{"product_id": product["id"], "quantity": 1}],
            "extra": {"gift note": ["happy\x00birthday"]},
        },
    )

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"extra"}
    assert get_json(client, "/api/orders") == []


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_extra_data_are_a_400(client: TestClient, number: str) -> None:
    customer = api_customer(client)
    product = api_product(client)
    body = (
        f'{{"customer_id": {customer["id"]}, "extra": {{"score": {number}}}, '
        f'"items": [{{"product_id": {product["id"]}, "quantity": 1}}]}}'
    )

    response = client.post(
        "/api/orders", content=body, headers={"Content-Type": "application/json"}
    )

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"extra"}
    assert get_json(client, "/api/orders") == []
