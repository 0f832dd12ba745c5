"""Requests the API won't read: data too deep or too large."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import assert_problem, error_fields, get_json
from tests.factories import api_customer, api_product


def _order(client: TestClient, extra: Any) -> dict[str, Any]:
    customer = api_customer(client)
    product = api_product(client)
    return {
        "customer_id": customer["id"],
        "items": [{"product_id": product["id"], "quantity": 1}],
        "extra": extra,
    }


def _nested(levels: int) -> str:
    """A JSON object ``levels`` deep: {"a": {"a": … 1 …}}."""
    return '{"a":' * levels + "1" + "}" * levels


def _post_raw(client: TestClient, url: str, body: str | bytes) -> Any:
    return client.post(url, content=body, headers={"Content-Type": "application/json"})


# ---------------------------------------------------------------- the order's extra data


def test_extra_data_32_levels_deep_is_kept(client: TestClient) -> None:
    body = json.dumps(_order(client, None)).replace('"extra": null', f'"extra": {_nested(32)}')

    response = _post_raw(client, "/api/orders", body)

    assert response.status_code == 201, response.text
    assert json.dumps(response.json()["extra"], separators=(",", ":")) == _nested(32)


@pytest.mark.parametrize("levels", [33, 256, 1_000, 10_000])
def test_extra_data_nested_deeper_than_32_levels_is_a_400_naming_extra(
    client: TestClient, levels: int
) -> None:
    body = json.dumps(_order(client, None)).replace('"extra": null', f'"extra": {_nested(levels)}')

    response = _post_raw(client, "/api/orders", body)

    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"] == [{"field": "extra", "message": "nested more than 32 levels deep"}]
    assert get_json(client, "/api/orders") == []


def test_lists_count_as_levels_of_extra_data_too(client: TestClient) -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]

    response = client.post("/api/orders", json=_order(client, {"tags": deep}))

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"extra"}


def test_a_body_too_deep_to_parse_outside_extra_names_its_field(client: TestClient) -> None:
    body = '{"customer_id": 1, "items": ' + "[" * 5_000 + "]" * 5_000 + "}"

    response = _post_raw(client, "/api/orders", body)

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {"items"}


def test_extra_data_with_more_than_1000_keys_is_a_400(client: TestClient) -> None:
    keys = {f"k{n}": n for n in range(600)}
    response = client.post("/api/orders", json=_order(client, {"a": keys, "b": dict(keys)}))

    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"] == [{"field": "extra", "message": "has more than 1000 keys"}]
    assert get_json(client, "/api/orders") == []


def test_extra_data_of_16_kib_is_kept_and_one_byte_more_is_a_400(client: TestClient) -> None:
    # {"note":"xxx…"} is 11 bytes of JSON around the text
    fits = {"note": "x" * (16 * 1024 - 11)}
    too_big = {"note": "x" * (16 * 1024 - 10)}

    kept = client.post("/api/orders", json=_order(client, fits))
    refused = client.post("/api/orders", json=_order(client, too_big))

    assert kept.status_code == 201, kept.text
    assert kept.json()["extra"] == fits
    problem = assert_problem(refused, 400, "validation_error")
    assert problem["errors"] == [
        {"field": "extra", "message": "is 16385 bytes as JSON; at most 16384 are kept"}
    ]
    assert len(get_json(client, "/api/orders")) == 1


def test_a_big_extra_within_the_body_limit_is_a_400_naming_extra(client: TestClient) -> None:
    response = client.post("/api/orders", json=_order(client, {"blob": "x" * 500_000}))

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"extra"}
    assert get_json(client, "/api/orders") == []
