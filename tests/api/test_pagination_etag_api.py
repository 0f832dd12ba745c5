"""Paginated lists (limit, cursor, Link: rel="next") and ETags (If-None-Match, If-Match)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    assert_problem,
    error_fields,
    forged_cursor,
    get_json,
    next_link,
    place_order,
    process,
    walk_pages,
)
from tests.factories import api_customer, api_product

# ---------------------------------------------------------------- pagination


def test_a_limited_customer_list_links_to_the_next_page(client: TestClient) -> None:
    customers = [api_customer(client) for _ in range(3)]

    response = client.get("/api/customers?limit=2")

    assert response.status_code == 200
    assert response.json() == customers[:2]
    link = next_link(response)
    assert link is not None
    assert "limit=2" in link
    assert "cursor=" in link


def test_following_the_links_walks_every_customer_once_in_order(client: TestClient) -> None:
    ids = [api_customer(client)["id"] for _ in range(5)]

    pages = walk_pages(client, "/api/customers?limit=2")

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [customer["id"] for page in pages for customer in page] == ids


def test_the_last_page_has_no_link_even_when_it_is_full(client: TestClient) -> None:
    ids = [api_product(client)["id"] for _ in range(4)]

    first = client.get("/api/products?limit=2")
    link = next_link(first)
    assert link is not None
    last = client.get(link)

    assert last.status_code == 200
    assert [product["id"] for product in last.json()] == ids[2:]
    assert "link" not in last.headers


def test_a_list_that_fits_on_one_page_has_no_link(client: TestClient) -> None:
    api_customer(client)

    response = client.get("/api/customers?limit=5")

    assert len(response.json()) == 1
    assert "link" not in response.headers


def test_product_pages_keep_the_filter(client: TestClient) -> None:
    active = [api_product(client)["id"] for _ in range(3)]
    api_product(client, active=False)

    pages = walk_pages(client, "/api/products?active=true&limit=1")

    assert [product["id"] for page in pages for product in page] == active


def test_following_the_links_walks_every_order_once_newest_first(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    ids = [place_order(client, customer["id"], (product["id"], 1))["id"] for _ in range(5)]

    pages = walk_pages(client, "/api/orders?limit=2")

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [order["id"] for page in pages for order in page] == list(reversed(ids))


def test_order_pages_keep_the_filters(client: TestClient) -> None:
    alice = api_customer(client)
    bob = api_customer(client)
    product = api_product(client)
    for_alice = []
    for _ in range(3):
        for_alice.append(place_order(client, alice["id"], (product["id"], 1))["id"])
        place_order(client, bob["id"], (product["id"], 1))

    pages = walk_pages(client, f"/api/orders?customer_id={alice['id']}&status=pending&limit=2")

    assert [order["id"] for page in pages for order in page] == list(reversed(for_alice))


def test_a_customers_orders_are_paginated_too(client: TestClient) -> None:
    customer = api_customer(client)
    product = api_product(client)
    ids = [place_order(client, customer["id"], (product["id"], 1))["id"] for _ in range(3)]

    pages = walk_pages(client, f"/api/customers/{customer['id']}/orders?limit=2")

    assert [len(page) for page in pages] == [2, 1]
    assert [order["id"] for page in pages for order in page] == list(reversed(ids))


LISTS = ["/api/customers", "/api/products", "/api/orders"]
BAD_CURSORS = {
    "not base64": "!!!",
    "not a list": "e30",
    "wrong arity": forged_cursor(1, 2, 3),
    "text id": forged_cursor("abc"),
    "null id": forged_cursor(None),
    "id out of range": forged_cursor(10**30),
    "text timestamp": forged_cursor("yesterday", 1),
    "order id out of range": forged_cursor("2026-01-01T00:00:00+00:00", 10**30),
}


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("cursor", list(BAD_CURSORS.values()), ids=list(BAD_CURSORS))
def test_a_cursor_the_server_did_not_issue_is_a_400_invalid_cursor(
    client: TestClient, url: str, cursor: str
) -> None:
    response = client.get(url, params={"cursor": cursor})

    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "501", "ten"])
@pytest.mark.parametrize("url", [*LISTS, "/api/customers/1/orders"])
def test_a_limit_outside_1_to_500_is_a_400_naming_limit(
    client: TestClient, url: str, limit: str
) -> None:
    api_customer(client)

    response = client.get(url, params={"limit": limit})

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"limit"}


# ---------------------------------------------------------------- ETags


def resource_urls(client: TestClient) -> dict[str, str]:
    customer = api_customer(client)
    product = api_product(client)
    order = place_order(client, customer["id"], (product["id"], 1))
    return {
        "customer": f"/api/customers/{customer['id']}",
        "product": f"/api/products/{product['id']}",
        "order": f"/api/orders/{order['id']}",
        "order by number": f"/api/orders/by-number/{order['number']}",
    }


RESOURCES = ["customer", "product", "order", "order by number"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_a_single_resource_has_an_etag_and_if_none_match_with_it_is_a_304(
    client: TestClient, resource: str
) -> None:
    url = resource_urls(client)[resource]
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')

    assert client.get(url).headers["etag"] == etag
    not_modified = client.get(url, headers={"If-None-Match": etag})
    weak = client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    stale = client.get(url, headers={"If-None-Match": '"something-else"'})

    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert weak.status_code == 304
    assert stale.status_code == 200
    assert stale.json() == first.json()


def test_an_orders_etag_changes_when_it_is_processed(client: TestClient) -> None:
    customer = api_customer(client)
    order = place_order(client, customer["id"], (api_product(client)["id"], 1))
    url = f"/api/orders/{order['id']}"
    before = client.get(url).headers["etag"]

    assert process(client, order["id"]).status_code == 200

    after = client.get(url, headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.headers["etag"] != before
    assert after.json()["status"] == "processed"


def test_a_created_resource_carries_the_same_etag_a_get_returns(client: TestClient) -> None:
    response = client.post(
        "/api/products", json={"name": "Jar", "sku": "JAR", "price": "1.00", "stock": 1}
    )

    assert response.headers["etag"] == client.get(response.headers["location"]).headers["etag"]


PATCHES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # resource: (list url, first change, second change)
    "customer": ("/api/customers", {"name": "First edit"}, {"name": "Second edit"}),
    "product": ("/api/products", {"stock": 7}, {"stock": 1}),
}


@pytest.mark.parametrize("resource", list(PATCHES))
def test_a_patch_with_a_stale_if_match_is_a_412_and_changes_nothing(
    client: TestClient, resource: str
) -> None:
    url = resource_urls(client)[resource]
    _, first_change, second_change = PATCHES[resource]
    stale = client.get(url).headers["etag"]
    edited = client.patch(url, json=first_change)
    assert edited.status_code == 200

    response = client.patch(url, json=second_change, headers={"If-Match": stale})

    assert_problem(response, 412, "precondition_failed")
    assert get_json(client, url) == edited.json()


@pytest.mark.parametrize("resource", list(PATCHES))
def test_a_patch_with_the_current_etag_succeeds_and_returns_the_new_etag(
    client: TestClient, resource: str
) -> None:
    url = resource_urls(client)[resource]
    _, change, _ = PATCHES[resource]
    before = client.get(url)
    current = before.headers["etag"]

    response = client.patch(url, json=change, headers={"If-Match": current})

    assert response.status_code == 200
    assert response.json() == {**before.json(), **change}
    assert response.json() == get_json(client, url)
    assert response.headers["etag"] == client.get(url).headers["etag"]
    assert response.headers["etag"] != current


@pytest.mark.parametrize("if_match", ["*", None])
def test_a_patch_with_if_match_star_or_without_if_match_applies(
    client: TestClient, if_match: str | None
) -> None:
    url = resource_urls(client)["customer"]
    headers = {"If-Match": if_match} if if_match else {}

    response = client.patch(url, json={"name": "Anyway"}, headers=headers)

    assert response.status_code == 200
    assert get_json(client, url)["name"] == "Anyway"


@pytest.mark.parametrize("if_none_match", ["*", "current"])
def test_a_patch_whose_if_none_match_matches_is_a_412_and_changes_nothing(
    client: TestClient, if_none_match: str
) -> None:
    product = api_product(client, name="Old name")
    url = f"/api/products/{product['id']}"
    etag = client.get(url).headers["etag"]
    header = etag if if_none_match == "current" else "*"

    response = client.patch(url, json={"name": "New name"}, headers={"If-None-Match": header})

    assert_problem(response, 412, "precondition_failed")
    assert get_json(client, url)["name"] == "Old name"
