"""Plain factory functions for tests: real rows with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

from ordermill.db import Database
from ordermill.services import catalog
from ordermill.services import orders as order_service

_seq = itertools.count(1)


def customer(database: Database, *, balance: int = 100_00, **fields: Any) -> int:
    n = next(_seq)
    with database.write() as session:
        row = catalog.create_customer(
            session,
            name=fields.get("name", f"Customer {n}"),
            email=fields.get("email", f"customer{n}@example.com"),
            balance=balance,
        )
        return row.id


def product(database: Database, *, price: int = 10_00, stock: int = 10, **fields: Any) -> int:
    n = next(_seq)
    with database.write() as session:
        row = catalog.create_product(
            session,
            name=fields.get("name", f"Product {n}"),
            sku=fields.get("sku", f"SKU-{n}"),
            price=price,
            stock=stock,
            active=fields.get("active", True),
        )
        return row.id


def order(database: Database, customer_id: int, *items: tuple[int, int]) -> int:
    """A pending order for ``customer_id`` with (product_id, quantity) items."""
    with database.write() as session:
        view = order_service.place_order(
            session,
            customer_id=customer_id,
            items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
            currency="USD",
        )
        return view.id


def stock_of(database: Database, product_id: int) -> int:
    with database.read() as session:
        return catalog.get_product(session, product_id).stock


def balance_of(database: Database, customer_id: int) -> int:
    with database.read() as session:
        return catalog.get_customer(session, customer_id).balance


def api_customer(client: TestClient, balance: str = "100.00", **fields: Any) -> dict[str, Any]:
    n = next(_seq)
    body = {"name": f"Customer {n}", "email": f"api{n}@example.com", "balance": balance}
    body.update(fields)
    response = client.post("/api/customers", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def api_product(
    client: TestClient, price: str = "10.00", stock: int = 10, **fields: Any
) -> dict[str, Any]:
    n = next(_seq)
    body = {"name": f"Product {n}", "sku": f"API-{n}", "price": price, "stock": stock}
    body.update(fields)
    response = client.post("/api/products", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
