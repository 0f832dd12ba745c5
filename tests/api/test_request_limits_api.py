"""Requests the API won't read: bodies too large or encoded, data too deep, and 405's Allow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.web.app import create_app
from tests.api.helpers import assert_problem, error_fields, get_json
from tests.factories import api_customer, api_product

MIB = 1024 * 1024
SIGNUP = {"name": "Grace Hopper", "email": "grace@example.com", "password": "cobol forever!"}


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


def _padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` as JSON followed by spaces up to exactly ``size`` bytes (still valid JSON)."""
    raw = json.dumps(body).encode()
    return raw + b" " * (size - len(raw))


def _chunks(raw: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """The body as a stream: sent chunked, without a Content-Length."""
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


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


# ---------------------------------------------------------------- body size


def test_the_body_limit_is_one_mib_by_default() -> None:
    assert Settings().max_body_bytes == MIB


def test_a_body_declared_over_the_limit_is_a_413_at_once_without_being_read(
    anonymous_client: TestClient,
) -> None:
    sent: list[int] = []

    def hundred_megabytes() -> Iterator[bytes]:
        for _ in range(100):
            sent.append(MIB)
            yield b" " * MIB

    response = anonymous_client.post(
        "/api/auth/signup",
        content=hundred_megabytes(),
        headers={"Content-Type": "application/json", "Content-Length": str(100 * MIB)},
    )

    problem = assert_problem(response, 413, "payload_too_large")
    assert "1048576 bytes" in problem["detail"]
    assert sent == []  # not a byte of the body was asked for


def test_a_body_of_exactly_the_limit_is_read(anonymous_client: TestClient) -> None:
    response = _post_raw(anonymous_client, "/api/auth/signup", _padded(SIGNUP, MIB))

    assert response.status_code == 201, response.text


def test_a_body_one_byte_over_the_limit_is_a_413_and_changes_nothing(
    anonymous_client: TestClient, client: TestClient
) -> None:
    response = _post_raw(anonymous_client, "/api/auth/signup", _padded(SIGNUP, MIB + 1))

    assert_problem(response, 413, "payload_too_large")
    assert get_json(client, "/api/customers") == []


def test_a_chunked_body_is_counted_and_refused_with_413_past_the_limit(
    anonymous_client: TestClient, client: TestClient
) -> None:
    response = anonymous_client.post(
        "/api/auth/signup",
        content=_chunks(_padded(SIGNUP, 3 * MIB)),
        headers={"Content-Type": "application/json"},
    )

    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")
    assert get_json(client, "/api/customers") == []


def test_a_chunked_body_within_the_limit_is_read(anonymous_client: TestClient) -> None:
    response = anonymous_client.post(
        "/api/auth/signup",
        content=_chunks(_padded(SIGNUP, MIB)),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text


def test_the_body_limit_is_the_max_body_bytes_setting(database: Database) -> None:
    settings = Settings(database_url=database.url, max_body_bytes=2048)

    with TestClient(create_app(settings, database), raise_server_exceptions=False) as limited:
        over = _post_raw(limited, "/api/auth/signup", _padded(SIGNUP, 2049))
        within = _post_raw(limited, "/api/auth/signup", _padded(SIGNUP, 2048))

    assert_problem(over, 413, "payload_too_large")
    assert within.status_code == 201, within.text


# ---------------------------------------------------------------- content encoding


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "GZIP", "identity, gzip"])
def test_an_encoded_body_is_a_415_not_read_as_json(
    anonymous_client: TestClient, client: TestClient, encoding: str
) -> None:
    response = anonymous_client.post(
        "/api/auth/signup",
        content=json.dumps(SIGNUP).encode(),
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )

    problem = assert_problem(response, 415, "unsupported_media_type")
    assert "Content-Encoding" in problem["detail"]
    assert get_json(client, "/api/customers") == []


def test_an_identity_encoded_body_is_read(anonymous_client: TestClient) -> None:
    response = anonymous_client.post(
        "/api/auth/signup",
        content=json.dumps(SIGNUP).encode(),
        headers={"Content-Type": "application/json", "Content-Encoding": "identity"},
    )

    assert response.status_code == 201, response.text


# ---------------------------------------------------------------- 405 and Allow


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("PATCH", "/api/orders", "GET, POST"),
        ("POST", "/api/orders/1", "GET, PUT, DELETE"),
        ("PUT", "/api/customers", "GET, POST"),
        ("POST", "/api/customers/1", "GET, PATCH, DELETE"),
        ("GET", "/api/customers/1/cart/items/1", "PUT, DELETE"),
        ("DELETE", "/api/auth/signup", "POST"),
        ("POST", "/health", "GET"),
    ],
)
def test_a_405_lists_every_method_the_path_has_in_allow(
    client: TestClient, method: str, url: str, allowed: str
) -> None:
    response = client.request(method, url)

    problem = assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed
    assert problem["detail"] == f"{method} is not allowed here; use {allowed}."
