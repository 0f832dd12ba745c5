"""/api/products: the catalog, archiving, and what orders keep when a product changes or goes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    assert_money,
    assert_problem,
    assert_utc_timestamp,
    error_fields,
    get_json,
    place_order,
    process,
)
from tests.factories import api_customer, api_product


def test_creating_a_product_answers_201_with_its_location_and_the_stored_product(
    client: TestClient,
) -> None:
    response = client.post(
        "/api/products",
        json={"name": "Blue mug", "sku": "MUG-BLUE", "price": "4.99", "stock": 12},
    )

    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/api/products/{body['id']}"
    assert body["name"] == "Blue mug"
    assert body["sku"] == "MUG-BLUE"
    assert_money(body["price"], "4.99")
    assert body["stock"] == 12
    assert body["active"] is True
    assert_utc_timestamp(body["created"])
    assert get_json(client, response.headers["location"]) == body


def test_a_new_product_has_no_stock_unless_given(client: TestClient) -> None:
    response = client.post("/api/products", json={"name": "Poster", "sku": "P-1", "price": 3})

    assert response.status_code == 201
    assert response.json()["stock"] == 0
    assert_money(response.json()["price"], "3.00")


def test_a_product_may_have_its_own_low_stock_threshold_or_the_stores(
    client: TestClient,
) -> None:
    created = client.post(
        "/api/products",
        json={"name": "Cake", "sku": "CAKE", "price": "9", "stock": 20, "low_stock_threshold": 3},
    ).json()
    assert created["low_stock_threshold"] == 3
    default = client.post("/api/products", json={"name": "Pie", "sku": "PIE", "price": 5}).json()
    assert default["low_stock_threshold"] is None  # the store's ORDERMILL_LOW_STOCK_DEFAULT

    kept = client.patch(f"/api/products/{created['id']}", json={"stock": 19}).json()
    changed = client.patch(f"/api/products/{created['id']}", json={"low_stock_threshold": 7})
    cleared = client.patch(f"/api/products/{created['id']}", json={"low_stock_threshold": None})
    negative = client.patch(f"/api/products/{created['id']}", json={"low_stock_threshold": -1})

    assert kept["low_stock_threshold"] == 3
    assert changed.json()["low_stock_threshold"] == 7
    assert cleared.json()["low_stock_threshold"] is None
    problem = assert_problem(negative, 400, "validation_error")
    assert "low_stock_threshold" in error_fields(problem)


def test_a_product_may_have_a_description_kept_with_its_line_breaks(client: TestClient) -> None:
    text = "Hand-thrown stoneware.\nDishwasher safe.\n\n<b>350 ml</b>"

    created = client.post(
        "/api/products",
        json={"name": "Mug", "sku": "MUG-D", "price": "8", "description": text},
    )

    assert created.status_code == 201, created.text
    assert created.json()["description"] == text
    assert get_json(client, f"/api/products/{created.json()['id']}")["description"] == text
    bare = client.post("/api/products", json={"name": "Cup", "sku": "CUP", "price": 2}).json()
    assert bare["description"] is None


def test_patching_the_description_changes_it_and_null_or_empty_removes_it(
    client: TestClient,
) -> None:
    product = api_product(client, description="First words")
    path = f"/api/products/{product['id']}"

    untouched = client.patch(path, json={"price": "11.00"}).json()
    changed = client.patch(path, json={"description": "Windows\r\nline breaks"}).json()
    cleared = client.patch(path, json={"description": None}).json()
    client.patch(path, json={"description": "again"})
    emptied = client.patch(path, json={"description": "   "}).json()

    assert untouched["description"] == "First words"
    assert changed["description"] == "Windows\nline breaks"
    assert cleared["description"] is None
    assert emptied["description"] is None
    assert get_json(client, path)["description"] is None


def test_a_description_longer_than_5000_characters_is_a_400_and_changes_nothing(
    client: TestClient,
) -> None:
    product = api_product(client, description="Short")
    path = f"/api/products/{product['id']}"
    crlf = "x" * 4_998 + "\r\n" + "y"  # 5,001 characters sent, one line break: 5,000 kept

    too_long = client.post(
        "/api/products",
        json={"name": "Long", "sku": "LONG", "price": 1, "description": "x" * 5_001},
    )
    patched = client.patch(path, json={"description": "x" * 5_001})
    control = client.patch(path, json={"description": "a\u0000b"})
    unchanged = get_json(client, path)["description"]
    fits = client.patch(path, json={"description": crlf})

    assert "description" in error_fields(assert_problem(too_long, 400, "validation_error"))
    assert "description" in error_fields(assert_problem(patched, 400, "validation_error"))
    assert "description" in error_fields(assert_problem(control, 400, "validation_error"))
    assert unchanged == "Short"
    assert fits.status_code == 200, fits.text
    assert fits.json()["description"] == "x" * 4_998 + "\ny"
    assert all(p["sku"] != "LONG" for p in get_json(client, "/api/products"))


def test_a_sku_already_in_the_catalog_is_a_409(client: TestClient) -> None:
    api_product(client, sku="DUP-1")

    response = client.post("/api/products", json={"name": "Again", "sku": "DUP-1", "price": "1"})

    assert_problem(response, 409, "sku_taken")
    assert len(get_json(client, "/api/products")) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "sku": "S-1", "price": "1.00", "stock": -1}, "stock"),
        ({"name": "X", "sku": "S-1", "price": "1.00", "stock": "5"}, "stock"),
        ({"name": "X", "sku": "has space", "price": "1.00"}, "sku"),
        ({"name": "", "sku": "S-1", "price": "1.00"}, "name"),
        ({"name": "X", "sku": "S-1"}, "price"),
    ],
)
def test_an_invalid_product_is_a_400_naming_the_field(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    problem = assert_problem(client.post("/api/products", json=body), 400, "validation_error")

    assert error_fields(problem) == {field}
    assert get_json(client, "/api/products") == []


def test_listing_products_returns_them_in_id_order(client: TestClient) -> None:
    first = api_product(client)
    second = api_product(client)

    assert get_json(client, "/api/products") == [first, second]


def test_listing_products_filters_on_active(client: TestClient) -> None:
    on_sale = api_product(client)
    archived = api_product(client, active=False)

    assert get_json(client, "/api/products?active=true") == [on_sale]
    assert get_json(client, "/api/products?active=false") == [archived]


def test_listing_products_filters_on_sku(client: TestClient) -> None:
    api_product(client, sku="TEA-GREEN")
    black = api_product(client, sku="TEA-BLACK")

    assert get_json(client, "/api/products?sku=TEA-BLACK") == [black]
    assert get_json(client, "/api/products?sku=TEA-WHITE") == []


def test_patching_a_product_changes_the_given_fields_only(client: TestClient) -> None:
    product = api_product(client, price="10.00", stock=5, name="Lamp", sku="LAMP")

    response = client.patch(f"/api/products/{product['id']}", json={"price": 12.5, "stock": 7})

    assert response.status_code == 200
    expected = {**product, "price": "12.50", "stock": 7}
    assert response.json() == expected
    assert get_json(client, f"/api/products/{product['id']}") == expected


def test_archiving_a_product_takes_it_off_sale(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)

    response = client.patch(f"/api/products/{product['id']}", json={"active": False})

    assert response.status_code == 200
    assert response.json()["active"] is False
    assert get_json(client, "/api/products?active=true") == []
    ordering = client.post(
        "/api/orders",
        json={
            "customer_id": customer["id"],
            "items": [{"product_id": product["id"], "quantity": 1}],
        },
    )
    assert_problem(ordering, 409, "product_inactive")
    adding = client.put(
        f"/api/customers/{customer['id']}/cart/items/{product['id']}", json={"quantity": 1}
    )
    assert_problem(adding, 409, "product_inactive")


def test_archiving_a_product_leaves_its_orders_as_they_were(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client, price="2.00")
    order = place_order(client, customer["id"], (product["id"], 3))

    client.patch(f"/api/products/{product['id']}", json={"active": False, "price": "9.00"})

    assert get_json(client, f"/api/orders/{order['id']}") == order


def test_patching_a_product_to_a_sku_in_use_is_a_409_and_changes_nothing(
    client: TestClient,
) -> None:
    api_product(client, sku="USED")
    product = api_product(client, sku="FREE")

    response = client.patch(f"/api/products/{product['id']}", json={"sku": "USED", "stock": 99})

    assert_problem(response, 409, "sku_taken")
    assert get_json(client, f"/api/products/{product['id']}") == product


def test_deleting_a_product_answers_204_and_it_is_gone(client: TestClient) -> None:
    product = api_product(client)

    response = client.delete(f"/api/products/{product['id']}")

    assert response.status_code == 204
    assert_problem(client.get(f"/api/products/{product['id']}"), 404, "product_not_found")
    assert get_json(client, "/api/products") == []


def test_orders_keep_their_lines_snapshot_when_the_product_is_deleted(
    client: TestClient,
) -> None:
    customer = api_customer(client, balance="100.00")
    product = api_product(client, price="7.25", stock=10, name="Teapot", sku="TEAPOT")
    pending = place_order(client, customer["id"], (product["id"], 2))
    processed = place_order(client, customer["id"], (product["id"], 1))
    assert process(client, processed["id"]).status_code == 200

    assert client.delete(f"/api/products/{product['id']}").status_code == 204

    for order_id, quantity, total in ((pending["id"], 2, "14.50"), (processed["id"], 1, "7.25")):
        order = get_json(client, f"/api/orders/{order_id}")
        (line,) = order["lines"]
        assert line["product_id"] is None
        assert line["name"] == "Teapot"
        assert line["sku"] == "TEAPOT"
        assert_money(line["unit_price"], "7.25")
        assert line["quantity_ordered"] == quantity
        assert_money(line["line_total"], total)
        assert_money(order["total"], total)


def test_deleting_a_product_takes_it_out_of_carts(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    client.put(f"/api/customers/{customer['id']}/cart/items/{product['id']}", json={"quantity": 1})

    client.delete(f"/api/products/{product['id']}")

    assert get_json(client, f"/api/customers/{customer['id']}/cart")["items"] == []


def test_a_price_change_does_not_reach_orders_already_placed(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client, price="5.00")
    order = place_order(client, customer["id"], (product["id"], 2))

    client.patch(f"/api/products/{product['id']}", json={"price": "6.00", "name": "Renamed"})

    line = get_json(client, f"/api/orders/{order['id']}")["lines"][0]
    assert line["name"] == product["name"]
    assert_money(line["unit_price"], "5.00")
    assert_money(line["line_total"], "10.00")
