"""Small helpers shared by the API tests: problem checks, money, timestamps, orders, pages."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient

PROBLEM_JSON = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
MONEY = re.compile(r"^-?\d+\.\d{2}$")
ORDER_NUMBER = re.compile(r"^(\d{4})-(\d{5,})$")
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` and the stable ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def error_fields(problem: dict[str, Any]) -> set[str]:
    """The fields a validation problem names in ``errors[].field``."""
    return {error["field"] for error in problem.get("errors", [])}


def assert_money(value: Any, expected: str) -> None:
    """Money is rendered as a decimal string with two places, never as a JSON number."""
    assert isinstance(value, str), f"money rendered as {type(value).__name__}: {value!r}"
    assert MONEY.match(value), value
    assert value == expected


def assert_utc_timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp carrying a UTC offset; returns it parsed."""
    assert isinstance(value, str), value
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value
    return moment


def place_order(
    client: TestClient, customer_id: int, *items: tuple[int, int], **fields: Any
) -> dict[str, Any]:
    """POST /api/orders with (product_id, quantity) items; asserts 201 and returns the order."""
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "items": [{"product_id": pid, "quantity": qty} for pid, qty in items],
    }
    body.update(fields)
    response = client.post("/api/orders", json=body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def process(
    client: TestClient, order_id: int, strategy: str | None = None, **headers: str
) -> httpx.Response:
    """PUT /api/orders/{id} with ``{"process": true}`` (and a strategy when given)."""
    body: dict[str, Any] = {"process": True}
    if strategy is not None:
        body["strategy"] = strategy
    return client.put(f"/api/orders/{order_id}", json=body, headers=headers)


def get_json(client: TestClient, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def stock_of(client: TestClient, product_id: int) -> int:
    stock: int = get_json(client, f"/api/products/{product_id}")["stock"]
    return stock


def balance_of(client: TestClient, customer_id: int) -> str:
    balance: str = get_json(client, f"/api/customers/{customer_id}")["balance"]
    return balance


def order_ids(client: TestClient, query: str = "") -> list[int]:
    """Ids of GET /api/orders (first page, up to 500) in the order the API lists them."""
    separator = "&" if query else ""
    return [order["id"] for order in get_json(client, f"/api/orders?{query}{separator}limit=500")]


def next_link(response: httpx.Response) -> str | None:
    """The ``rel="next"`` target of the ``Link`` header, if any."""
    header = response.headers.get("link")
    if header is None:
        return None
    match = _NEXT_LINK.search(header)
    assert match, f"Link header without rel=next: {header}"
    return match.group(1)


def walk_pages(client: TestClient, url: str) -> list[list[dict[str, Any]]]:
    """Follow ``Link: rel="next"`` from ``url`` to the end; returns every page."""
    pages: list[list[dict[str, Any]]] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_url = next_link(response)
        assert len(pages) <= 100, "pagination does not end"
    return pages


def forged_cursor(*values: Any) -> str:
    """A cursor that decodes fine but carries values the server never issued."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
