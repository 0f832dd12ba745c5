"""Plain factory functions for tests: real rows with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from ordermill.db import Database
from ordermill.domain.access import Role
from ordermill.models import User
from ordermill.services import accounts, catalog
from ordermill.services import orders as order_service

_seq = itertools.count(1)
PASSWORD = "correct horse battery"
# Argon2 is slow on purpose; tests hash the shared password once.
_PASSWORD_HASH = accounts.hash_password(PASSWORD)


def user(
    database: Database,
    *,
    role: str = "staff",
    customer_id: int | None = None,
    email: str | None = None,
    disabled: bool = False,
) -> int:
    """A login whose password is ``PASSWORD``."""
    n = next(_seq)
    with database.write() as session:
        row = User(
            email=email or f"{role}{n}@example.com",
            password_hash=_PASSWORD_HASH,
            role=Role(role).value,
            customer_id=customer_id,
            disabled=disabled,
        )
        session.add(row)
        session.flush()
        return row.id


def customer_login(database: Database, *, balance: int = 100_00) -> tuple[int, int]:
    """A customer with a login of their own: (customer_id, user_id)."""
    customer_id = customer(database, balance=balance)
    with database.read() as session:
        email = catalog.get_customer(session, customer_id).email
    return customer_id, user(database, role="customer", customer_id=customer_id, email=email)


def token_for(database: Database, user_id: int, *, ttl_minutes: int | None = 60) -> str:
    """A bearer token for ``user_id`` (without going through the password check)."""
    with database.write() as session:
        ttl = timedelta(minutes=ttl_minutes) if ttl_minutes is not None else None
        issued = accounts.issue_token(
            session, accounts.get_user(session, user_id), kind=accounts.SESSION, ttl=ttl
        )
        return issued.token


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
            description=fields.get("description"),
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
    """A customer made through the API (an admin client), topped up to ``balance``."""
    n = next(_seq)
    body = {"name": f"Customer {n}", "email": f"api{n}@example.com"}
    body.update(fields)
    response = client.post("/api/customers", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    if balance not in ("0", "0.00"):
        topped = client.post(
            f"/api/customers/{result['id']}/balance",
            json={"amount": balance, "reason": "opening balance"},
        )
        assert topped.status_code == 200, topped.text
        result["balance"] = topped.json()["balance"]
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
