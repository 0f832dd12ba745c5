"""POST /api/products/{id}/stock: units in and out with a reason; GET /api/products?search=."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordermill.db import Database
from tests import factories
from tests.api.helpers import assert_problem, error_fields, get_json
from tests.factories import api_product


def test_an_adjustment_answers_the_product_with_its_new_stock(client: TestClient) -> None:
    teapot = api_product(client, stock=4)

    response = client.post(
        f"/api/products/{teapot['id']}/stock", json={"delta": 6, "reason": "delivery"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["stock"] == 10
    assert "etag" in response.headers
    assert get_json(client, f"/api/products/{teapot['id']}")["stock"] == 10


def test_the_reason_and_the_author_are_in_the_audit_log(client: TestClient) -> None:
    teapot = api_product(client, stock=4)

    client.post(f"/api/products/{teapot['id']}/stock", json={"delta": -1, "reason": "chipped"})

    [entry, *_] = get_json(client, f"/api/audit?entity=product&entity_id={teapot['id']}")
    assert entry["action"] == "product.stock_adjusted"
    assert entry["detail"] == {"delta": -1, "stock": 3, "reason": "chipped"}
    assert entry["user_id"] is not None


def test_taking_away_more_than_is_in_stock_is_a_409_and_changes_nothing(
    client: TestClient,
) -> None:
    teapot = api_product(client, stock=2)

    response = client.post(
        f"/api/products/{teapot['id']}/stock", json={"delta": -3, "reason": "lost"}
    )

    problem = assert_problem(response, 409, "stock_below_zero")
    assert "2 in stock" in problem["detail"]
    assert get_json(client, f"/api/products/{teapot['id']}")["stock"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delta": 0, "reason": "nothing"}, "delta"),
        ({"delta": "5", "reason": "text"}, "delta"),
        ({"delta": 1.5, "reason": "half"}, "delta"),
        ({"delta": 2_000_000_001, "reason": "too many"}, "delta"),
        ({"delta": 5}, "reason"),
        ({"delta": 5, "reason": ""}, "reason"),
        ({"delta": 5, "reason": "   "}, "reason"),
        ({"delta": 5, "reason": "x" * 501}, "reason"),
        ({"delta": 5, "reason": "nul\x00"}, "reason"),
    ],
)
def test_a_wrong_adjustment_is_a_400_naming_its_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    teapot = api_product(client, stock=2)

    response = client.post(f"/api/products/{teapot['id']}/stock", json=body)

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {field}
    assert get_json(client, f"/api/products/{teapot['id']}")["stock"] == 2


def test_staff_may_adjust_and_customers_may_not(
    anonymous_client: TestClient, database: Database
) -> None:
    pen = factories.product(database, stock=1)
    _, customer_user = factories.customer_login(database)
    staff_token = factories.token_for(database, factories.user(database, role="staff"))
    customer_token = factories.token_for(database, customer_user)
    body = {"delta": 1, "reason": "found one"}

    as_customer = anonymous_client.post(
        f"/api/products/{pen}/stock",
        json=body,
        headers={"Authorization": f"Bearer {customer_token}"},
    )
    as_staff = anonymous_client.post(
        f"/api/products/{pen}/stock", json=body, headers={"Authorization": f"Bearer {staff_token}"}
    )

    assert_problem(as_customer, 403, "forbidden")
    assert as_staff.status_code == 200
    assert factories.stock_of(database, pen) == 2


def test_products_are_found_by_a_piece_of_name_or_sku(client: TestClient) -> None:
    teapot = api_product(client, name="Blue Teapot", sku="POT-1")
    api_product(client, name="Kettle", sku="KET-1")

    found = get_json(client, "/api/products?search=teap")
    too_long = client.get("/api/products", params={"search": "x" * 201})

    assert [p["id"] for p in found] == [teapot["id"]]
    assert_problem(too_long, 400, "validation_error")
