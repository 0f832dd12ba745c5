"""/api/me: a signed-in customer's own profile, cart, checkout and orders, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.web.app import create_app
from tests import factories
from tests.api.helpers import (
    PROBLEM_JSON,
    assert_money,
    assert_problem,
    assert_utc_timestamp,
    error_fields,
    walk_pages,
)


@dataclass
class Shopper:
    """A customer with a login of their own, and the header that signs them in."""

    customer_id: int
    auth: dict[str, str]


def shopper(database: Database, balance: int = 100_00) -> Shopper:
    customer_id, user_id = factories.customer_login(database, balance=balance)
    return Shopper(
        customer_id, {"Authorization": f"Bearer {factories.token_for(database, user_id)}"}
    )


def signed_in_as(database: Database, role: str) -> dict[str, str]:
    user_id = factories.user(database, role=role)
    return {"Authorization": f"Bearer {factories.token_for(database, user_id)}"}


@pytest.fixture
def api(database: Database) -> Iterator[TestClient]:
    """The API without default credentials: each request says who is calling."""
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def alice(database: Database) -> Shopper:
    return shopper(database)


@pytest.fixture
def bob(database: Database) -> Shopper:
    return shopper(database)


# ---------------------------------------------------------------- profile


def test_a_customer_reads_their_own_profile_and_balance(api: TestClient, alice: Shopper) -> None:
    response = api.get("/api/me", headers=alice.auth)

    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["id"] == alice.customer_id
    assert profile.keys() == {"id", "name", "email", "phone", "balance", "created"}
    assert_money(profile["balance"], "100.00")
    assert_utc_timestamp(profile["created"])
    assert response.headers["etag"]


def test_reading_the_profile_again_with_its_etag_is_not_modified(
    api: TestClient, alice: Shopper
) -> None:
    etag = api.get("/api/me", headers=alice.auth).headers["etag"]

    response = api.get("/api/me", headers={**alice.auth, "If-None-Match": etag})

    assert response.status_code == 304
    assert response.headers["etag"] == etag


def test_a_customer_changes_their_name_and_email(api: TestClient, alice: Shopper) -> None:
    response = api.patch(
        "/api/me",
        json={"name": "Alice Liddell", "email": "Alice@Wonderland.example"},
        headers=alice.auth,
    )

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Alice Liddell"
    assert response.json()["email"] == "alice@wonderland.example"
    assert api.get("/api/me", headers=alice.auth).json() == response.json()


def test_a_change_sent_with_an_outdated_etag_is_refused_with_412(
    api: TestClient, alice: Shopper
) -> None:
    stale = api.get("/api/me", headers=alice.auth).headers["etag"]
    first = api.patch(
        "/api/me", json={"name": "Alice Liddell"}, headers={**alice.auth, "If-Match": stale}
    )
    assert first.status_code == 200, first.text

    second = api.patch(
        "/api/me", json={"name": "Alice Pleasance"}, headers={**alice.auth, "If-Match": stale}
    )

    assert_problem(second, 412, "precondition_failed")
    assert api.get("/api/me", headers=alice.auth).json()["name"] == "Alice Liddell"
    current = first.headers["etag"]
    third = api.patch(
        "/api/me", json={"name": "Alice Pleasance"}, headers={**alice.auth, "If-Match": current}
    )
    assert third.status_code == 200, third.text


def test_changing_ones_profile_leaves_other_customers_alone(
    api: TestClient, alice: Shopper, bob: Shopper
) -> None:
    bob_before = api.get("/api/me", headers=bob.auth).json()

    api.patch("/api/me", json={"name": "Alice Liddell"}, headers=alice.auth)

    assert api.get("/api/me", headers=bob.auth).json() == bob_before


# ---------------------------------------------------------------- cart


def test_a_customer_fills_changes_and_empties_their_cart(
    api: TestClient, database: Database, alice: Shopper
) -> None:
    candle = factories.product(database, price=2_50, stock=8, name="Candle", sku="CANDLE")
    soap = factories.product(database, price=4_00, stock=3, name="Soap", sku="SOAP")
    assert api.get("/api/me/cart", headers=alice.auth).json() == {
        "customer_id": alice.customer_id,
        "items": [],
        "total": "0.00",
    }

    api.put(f"/api/me/cart/items/{candle}", json={"quantity": 2}, headers=alice.auth)
    cart = api.put(f"/api/me/cart/items/{soap}", json={"quantity": 1}, headers=alice.auth).json()

    assert [(item["sku"], item["quantity"], item["line_total"]) for item in cart["items"]] == [
        ("CANDLE", 2, "5.00"),
        ("SOAP", 1, "4.00"),
    ]
    assert_money(cart["total"], "9.00")

    cart = api.put(f"/api/me/cart/items/{candle}", json={"quantity": 5}, headers=alice.auth).json()
    assert [(item["sku"], item["quantity"]) for item in cart["items"]] == [
        ("CANDLE", 5),
        ("SOAP", 1),
    ]

    cart = api.put(f"/api/me/cart/items/{soap}", json={"quantity": 0}, headers=alice.auth).json()
    assert [item["sku"] for item in cart["items"]] == ["CANDLE"]

    response = api.delete(f"/api/me/cart/items/{candle}", headers=alice.auth)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


def test_clearing_the_cart_empties_it(api: TestClient, database: Database, alice: Shopper) -> None:
    product = factories.product(database)
    api.put(f"/api/me/cart/items/{product}", json={"quantity": 3}, headers=alice.auth)

    response = api.delete("/api/me/cart", headers=alice.auth)

    assert response.status_code == 204
    assert api.get("/api/me/cart", headers=alice.auth).json()["items"] == []


def test_each_customer_has_a_cart_of_their_own(
    api: TestClient, database: Database, alice: Shopper, bob: Shopper
) -> None:
    product = factories.product(database)

    api.put(f"/api/me/cart/items/{product}", json={"quantity": 3}, headers=alice.auth)
    api.delete("/api/me/cart", headers=bob.auth)

    assert api.get("/api/me/cart", headers=bob.auth).json() == {
        "customer_id": bob.customer_id,
        "items": [],
        "total": "0.00",
    }
    assert [i["quantity"] for i in api.get("/api/me/cart", headers=alice.auth).json()["items"]] == [
        3
    ]


def test_a_product_that_does_not_exist_cannot_go_in_the_cart(
    api: TestClient, alice: Shopper
) -> None:
    response = api.put("/api/me/cart/items/9090", json={"quantity": 1}, headers=alice.auth)

    assert_problem(response, 404, "product_not_found")


# ---------------------------------------------------------------- checkout


def test_checkout_places_a_pending_order_for_the_customer_and_empties_the_cart(
    api: TestClient, database: Database, alice: Shopper
) -> None:
    lamp = factories.product(database, price=12_50, stock=5, name="Lamp", sku="LAMP")
    api.put(f"/api/me/cart/items/{lamp}", json={"quantity": 2}, headers=alice.auth)

    response = api.post(
        "/api/me/cart/checkout",
        json={"shipping_address": "1 Rabbit Hole, Oxford", "note": "Fragile"},
        headers=alice.auth,
    )

    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"] == f"/api/me/orders/{order['id']}"
    assert order["customer_id"] == alice.customer_id
    assert order["status"] == "pending"
    assert order["processed"] is None
    assert order["shipping_address"] == "1 Rabbit Hole, Oxford"
    assert order["note"] == "Fragile"
    assert [(line["sku"], line["quantity_ordered"]) for line in order["lines"]] == [("LAMP", 2)]
    assert_money(order["total"], "25.00")
    assert api.get("/api/me/cart", headers=alice.auth).json()["items"] == []
    assert api.get(response.headers["location"], headers=alice.auth).json() == order
    # Placing is not paying: the balance moves when staff process the order.
    assert factories.balance_of(database, alice.customer_id) == 100_00


def test_checkout_without_a_body_places_the_order_too(
    api: TestClient, database: Database, alice: Shopper
) -> None:
    product = factories.product(database)
    api.put(f"/api/me/cart/items/{product}", json={"quantity": 1}, headers=alice.auth)

    response = api.post("/api/me/cart/checkout", headers=alice.auth)

    assert response.status_code == 201, response.text
    assert response.json()["customer_id"] == alice.customer_id


@pytest.mark.parametrize(("field", "value"), [("process", True), ("strategy", "ignore")])
def test_a_customer_cannot_have_their_own_checkout_processed(
    api: TestClient, database: Database, alice: Shopper, field: str, value: object
) -> None:
    product = factories.product(database, stock=5)
    api.put(f"/api/me/cart/items/{product}", json={"quantity": 1}, headers=alice.auth)

    response = api.post("/api/me/cart/checkout", json={field: value}, headers=alice.auth)

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {field}
    assert len(api.get("/api/me/cart", headers=alice.auth).json()["items"]) == 1
    assert api.get("/api/me/orders", headers=alice.auth).json() == []
    assert factories.stock_of(database, product) == 5


def test_checking_out_an_empty_cart_is_a_conflict(api: TestClient, alice: Shopper) -> None:
    response = api.post("/api/me/cart/checkout", headers=alice.auth)

    assert_problem(response, 409, "cart_empty")
    assert api.get("/api/me/orders", headers=alice.auth).json() == []


def test_an_order_processed_by_staff_shows_as_processed_to_the_customer(
    api: TestClient, database: Database, alice: Shopper
) -> None:
    product = factories.product(database, price=30_00, stock=5)
    api.put(f"/api/me/cart/items/{product}", json={"quantity": 1}, headers=alice.auth)
    order_id = api.post("/api/me/cart/checkout", headers=alice.auth).json()["id"]

    processed = api.put(
        f"/api/orders/{order_id}", json={"process": True}, headers=signed_in_as(database, "staff")
    )

    assert processed.status_code == 200, processed.text
    mine = api.get(f"/api/me/orders/{order_id}", headers=alice.auth).json()
    assert mine["status"] == "processed"
    assert_utc_timestamp(mine["processed"])
    assert_money(api.get("/api/me", headers=alice.auth).json()["balance"], "70.00")


def test_a_retried_checkout_with_the_same_idempotency_key_places_one_order(
    api: TestClient, database: Database, alice: Shopper, bob: Shopper
) -> None:
    product = factories.product(database)
    api.put(f"/api/me/cart/items/{product}", json={"quantity": 1}, headers=alice.auth)
    key = {"Idempotency-Key": "checkout-2026-0001"}

    first = api.post("/api/me/cart/checkout", headers={**alice.auth, **key})
    retry = api.post("/api/me/cart/checkout", headers={**alice.auth, **key})

    assert first.status_code == retry.status_code == 201, retry.text
    assert retry.json() == first.json()
    assert [o["id"] for o in api.get("/api/me/orders", headers=alice.auth).json()] == [
        first.json()["id"]
    ]
    # The same key from another customer is their own key: it replays nothing of Alice's.
    bobs = api.post("/api/me/cart/checkout", headers={**bob.auth, **key})
    assert_problem(bobs, 409, "cart_empty")


# ---------------------------------------------------------------- orders


def test_a_customer_lists_only_their_own_orders_newest_first_page_by_page(
    api: TestClient, database: Database, alice: Shopper, bob: Shopper
) -> None:
    product = factories.product(database, stock=100)
    alices = [factories.order(database, alice.customer_id, (product, 1)) for _ in range(5)]
    bobs = [factories.order(database, bob.customer_id, (product, 1)) for _ in range(2)]

    api.headers.update(alice.auth)

    pages = walk_pages(api, "/api/me/orders?limit=2")

    assert [len(page) for page in pages] == [2, 2, 1]
    listed = [order["id"] for page in pages for order in page]
    assert listed == list(reversed(alices))
    assert not set(listed) & set(bobs)
    assert {order["customer_id"] for page in pages for order in page} == {alice.customer_id}


def test_a_customer_without_orders_sees_an_empty_list(api: TestClient, alice: Shopper) -> None:
    response = api.get("/api/me/orders", headers=alice.auth)

    assert response.status_code == 200
    assert response.json() == []
    assert "link" not in response.headers


def test_a_customer_reads_their_own_order_with_its_lines(
    api: TestClient, database: Database, alice: Shopper
) -> None:
    product = factories.product(database, price=7_00, name="Mug", sku="MUG")
    order_id = factories.order(database, alice.customer_id, (product, 3))

    response = api.get(f"/api/me/orders/{order_id}", headers=alice.auth)

    assert response.status_code == 200, response.text
    order = response.json()
    assert order["id"] == order_id
    assert order["customer_id"] == alice.customer_id
    assert [
        (line["sku"], line["quantity_ordered"], line["line_total"]) for line in order["lines"]
    ] == [("MUG", 3, "21.00")]
    assert response.headers["etag"]


def test_another_customers_order_is_not_found_just_like_a_missing_one(
    api: TestClient, database: Database, alice: Shopper, bob: Shopper
) -> None:
    product = factories.product(database)
    bobs_order = factories.order(database, bob.customer_id, (product, 1))

    response = api.get(f"/api/me/orders/{bobs_order}", headers=alice.auth)

    problem = assert_problem(response, 404, "order_not_found")
    assert problem["detail"] == f"Order {bobs_order} does not exist."
    assert "etag" not in response.headers
    assert_problem(api.get("/api/me/orders/777777", headers=alice.auth), 404, "order_not_found")


# ---------------------------------------------------------------- who may use /api/me


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_logins_have_no_customer_self_service(
    api: TestClient, database: Database, role: str
) -> None:
    staff = signed_in_as(database, role)
    product = factories.product(database)

    for method, path in [
        ("GET", "/api/me"),
        ("PATCH", "/api/me"),
        ("GET", "/api/me/cart"),
        ("PUT", f"/api/me/cart/items/{product}"),
        ("POST", "/api/me/cart/checkout"),
        ("GET", "/api/me/orders"),
    ]:
        body = {"quantity": 1} if method == "PUT" else {}
        response = api.request(method, path, json=body, headers=staff)

        assert_problem(response, 403, "forbidden")


def test_an_anonymous_caller_is_asked_to_log_in(api: TestClient) -> None:
    response = api.get("/api/me")

    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
