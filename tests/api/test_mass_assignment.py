"""Mass assignment: a client can't set what the server owns.

Every JSON request body is tried with a valid payload plus one field the client
must not set (an order's status, number or total, a customer's balance, a
login's role, ids and timestamps, and on /api/me the customer id). Each is
refused with 400 ``validation_error`` naming that field, and not one row of any
table changes. The valid payload on its own is accepted, so the 400 is the
field's doing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.params import Form
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.workflow import PaymentFlow
from ordermill.models import Base, utcnow
from ordermill.services import accounts, carts, processing, webhooks, workflow
from ordermill.services.audit import SYSTEM
from ordermill.services.tables import password_resets
from ordermill.web.app import create_app
from tests import factories
from tests.api.helpers import assert_problem, error_fields

# What an attacker would like the server to believe.
SMUGGLED: dict[str, Any] = {
    "status": "processed",
    "price": "0.01",
    "total": "0.00",
    "balance": "1000000.00",
    "role": "admin",
    "processed": "2020-01-01T00:00:00+00:00",
    "number": "2026-99999",
    "id": 4242,
    "created": "2020-01-01T00:00:00+00:00",
    "customer_id": None,  # another customer's id, filled in per test
    "user_id": None,  # the admin's id, filled in per test
    "expires": None,
    "revoked": None,
    # the workflow's money and dates, and a timeline entry's author
    "paid": "1000.00",
    "balance_due": "0.00",
    "credited": "1000.00",
    "refunded": "1000.00",
    "fulfilled": "2020-01-01T00:00:00+00:00",
    "cancelled": "2020-01-01T00:00:00+00:00",
    "actor": "system",
    "at": "2020-01-01T00:00:00+00:00",
    "kind": "payment",
    # a webhook's secret and health
    "secret": "whsec_" + "A" * 32,
    "disabled_reason": None,
    "failing_since": "2020-01-01T00:00:00+00:00",
    "enabled": False,
    # a product's stock: changed by an adjustment's delta, never set
    "stock": 0,
}
SERVER_OWNED = (
    "status",
    "price",
    "total",
    "balance",
    "role",
    "processed",
    "number",
    "id",
    "created",
)


def server_owned(*, but: tuple[str, ...] = (), plus: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The server-owned fields, without those the schema lets a client set (``but``)."""
    return tuple(name for name in SERVER_OWNED if name not in but) + plus


@dataclass
class World:
    """An admin, a customer with a login (cart filled, one pending order), another customer."""

    database: Database
    admin_id: int
    admin: dict[str, str]
    customer_id: int
    customer: dict[str, str]
    other_customer_id: int
    product_id: int
    order_id: int
    staff_id: int
    webhook_id: int

    @classmethod
    def build(cls, database: Database) -> World:
        admin_id = factories.user(database, role="admin")
        customer_id, customer_user = factories.customer_login(database)
        product_id = factories.product(database, price=10_00, stock=50)
        with database.write() as session:
            carts.set_cart_item(session, customer_id, product_id, 2)
        return cls(
            database,
            admin_id=admin_id,
            admin={"Authorization": f"Bearer {factories.token_for(database, admin_id)}"},
            customer_id=customer_id,
            customer={"Authorization": f"Bearer {factories.token_for(database, customer_user)}"},
            other_customer_id=factories.customer(database),
            product_id=product_id,
            order_id=factories.order(database, customer_id, (product_id, 1)),
            staff_id=factories.user(database, role="staff"),
            webhook_id=_webhook(database),
        )

    def path(self, template: str) -> str:
        return template.format(
            customer_id=self.customer_id,
            product_id=self.product_id,
            order_id=self.order_id,
            user_id=self.staff_id,
            webhook_id=self.webhook_id,
        )

    def headers(self, caller: str) -> dict[str, str]:
        return {"admin": self.admin, "customer": self.customer, "anonymous": {}}[caller]

    def smuggled(self, name: str) -> Any:
        if name == "customer_id":
            return self.other_customer_id
        if name == "user_id":
            return self.admin_id
        if name in ("expires", "revoked"):
            return "2999-01-01T00:00:00+00:00"
        return SMUGGLED[name]


PUBLIC_WEBHOOK_URL = "https://93.184.215.14/hooks/ordermill"  # literal: no DNS, nothing sent


def _webhook(database: Database) -> int:
    with database.write() as session:
        issued = webhooks.create_webhook(
            session,
            url=PUBLIC_WEBHOOK_URL,
            events=[],
            description="",
            allow_private=False,
            actor=SYSTEM,
        )
        return issued.webhook.id


@dataclass(frozen=True)
class Target:
    """A route taking a JSON body: who calls it, a valid body, the fields to smuggle in."""

    method: str
    path: str
    caller: str
    valid: Callable[[World], dict[str, Any]]
    smuggle: tuple[str, ...]
    accepted: int = 200
    # Takes the world's order to the state where the valid body is accepted.
    setup: Callable[[World], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _advance_order(status: str) -> Callable[[World], None]:
    """Take the world's pending order to ``status`` before the body is tried."""

    def setup(world: World) -> None:
        with world.database.write() as session:
            flow = PaymentFlow.ADVANCE if status == "awaiting_payment" else PaymentFlow.BALANCE
            processing.process_order(session, world.order_id, flow=flow)
            if status == "fulfilled":
                workflow.fulfill(session, world.order_id)

    return setup


RESET_TOKEN = "a-password-reset-link"


def _reset_link(world: World) -> None:
    """A live password reset link (``RESET_TOKEN``) for the staff member."""
    with world.database.read() as session:
        email = accounts.get_user(session, world.staff_id).email
    with world.database.write() as session:
        session.execute(
            insert(password_resets).values(
                email=email,
                token_hash=accounts.token_digest(RESET_TOKEN),
                expires=utcnow() + timedelta(hours=1),
            )
        )


TARGETS = [
    Target(
        "POST",
        "/api/customers",
        "admin",
        lambda w: {"name": "Mary Shelley", "email": "mary@example.com"},
        server_owned(),
        accepted=201,
    ),
    Target(
        "PATCH",
        "/api/customers/{customer_id}",
        "admin",
        lambda w: {"name": "Mary W. Shelley"},
        server_owned(),
    ),
    Target(
        "POST",
        "/api/customers/{customer_id}/balance",
        "admin",
        lambda w: {"amount": "5.00", "reason": "refund for a late parcel"},
        server_owned(),
    ),
    Target(
        "PATCH",
        "/api/me",
        "customer",
        lambda w: {"name": "Percy Shelley"},
        server_owned(plus=("customer_id",)),
    ),
    Target(
        "POST",
        "/api/auth/signup",
        "anonymous",
        lambda w: {"name": "Ada", "email": "ada@example.com", "password": factories.PASSWORD},
        server_owned(plus=("customer_id",)),
        accepted=201,
    ),
    Target(
        "POST",
        "/api/auth/password-reset",
        "anonymous",
        lambda w: {"email": "someone@example.com"},
        server_owned(plus=("user_id", "expires")),
        accepted=202,
    ),
    Target(
        "POST",
        "/api/auth/password-reset/confirm",
        "anonymous",
        lambda w: {"token": RESET_TOKEN, "password": factories.PASSWORD},
        server_owned(plus=("user_id", "expires")),
        accepted=204,
        setup=_reset_link,
    ),
    Target(
        "POST",
        "/api/orders",
        "admin",
        lambda w: {
            "customer_id": w.customer_id,
            "items": [{"product_id": w.product_id, "quantity": 1}],
        },
        server_owned(),
        accepted=201,
    ),
    Target(
        "PUT",
        "/api/orders/{order_id}",
        "admin",
        lambda w: {"process": True},
        server_owned(),
    ),
    Target(
        "POST",
        "/api/orders/{order_id}/actions/process",
        "admin",
        lambda w: {"strategy": "adjust", "flow": "balance"},
        server_owned(),
    ),
    Target(
        "POST",
        "/api/orders/{order_id}/actions/pay",
        "admin",
        lambda w: {"amount": "10.00", "method": "bank_transfer", "reference": "TR-1"},
        server_owned(plus=("paid", "balance_due", "credited")),
        setup=_advance_order("awaiting_payment"),
    ),
    Target(
        "POST",
        "/api/orders/{order_id}/actions/fulfill",
        "admin",
        lambda w: {"carrier": "DHL", "tracking_number": "JD014600003828"},
        server_owned(plus=("fulfilled",)),
        setup=_advance_order("processed"),
    ),
    Target(
        "POST",
        "/api/orders/{order_id}/actions/cancel",
        "admin",
        lambda w: {"reason": "out of season"},
        server_owned(plus=("refunded", "cancelled")),
    ),
    Target(
        "POST",
        "/api/orders/{order_id}/actions/return",
        "admin",
        lambda w: {"restock": True, "reason": "arrived damaged"},
        server_owned(plus=("refunded",)),
        setup=_advance_order("fulfilled"),
    ),
    Target(
        "POST",
        "/api/orders/{order_id}/notes",
        "admin",
        lambda w: {"text": "Called about the parcel", "visibility": "customer"},
        server_owned(plus=("actor", "at", "kind")),
        accepted=201,
    ),
    Target(
        "POST",
        "/api/me/orders/{order_id}/actions/cancel",
        "customer",
        lambda w: {"reason": "ordered by mistake"},
        server_owned(plus=("customer_id", "refunded")),
    ),
    Target(
        "POST",
        "/api/customers/{customer_id}/cart/checkout",
        "admin",
        lambda w: {"note": "Ring twice"},
        server_owned(),
        accepted=201,
    ),
    Target(
        "POST",
        "/api/me/cart/checkout",
        "customer",
        lambda w: {"note": "Ring twice"},
        server_owned(plus=("customer_id",)),
        accepted=201,
    ),
    Target(
        "POST",
        "/api/products",
        "admin",
        lambda w: {"name": "Kettle", "sku": "KETTLE-1", "price": "30.00", "stock": 4},
        server_owned(but=("price",)),
        accepted=201,
    ),
    Target(
        "PATCH",
        "/api/products/{product_id}",
        "admin",
        lambda w: {"stock": 7},
        server_owned(but=("price",)),
    ),
    Target(
        "POST",
        "/api/products/{product_id}/stock",
        "admin",
        lambda w: {"delta": 5, "reason": "delivery"},
        server_owned(plus=("stock",)),
    ),
    Target(
        "PUT",
        "/api/customers/{customer_id}/cart/items/{product_id}",
        "admin",
        lambda w: {"quantity": 3},
        server_owned(),
    ),
    Target(
        "PUT",
        "/api/me/cart/items/{product_id}",
        "customer",
        lambda w: {"quantity": 3},
        server_owned(plus=("customer_id",)),
    ),
    Target(
        "POST",
        "/api/users",
        "admin",
        lambda w: {"email": "clerk@example.com", "password": factories.PASSWORD, "role": "staff"},
        server_owned(but=("role",), plus=("customer_id",)),
        accepted=201,
    ),
    Target(
        "PATCH",
        "/api/users/{user_id}",
        "admin",
        lambda w: {"disabled": True},
        server_owned(but=("role",), plus=("customer_id",)),
    ),
    Target(
        "POST",
        "/api/users/{user_id}/tokens",
        "admin",
        lambda w: {"name": "Warehouse sync"},
        server_owned(plus=("user_id", "expires", "revoked")),
        accepted=201,
    ),
    Target(
        "POST",
        "/api/webhooks",
        "admin",
        lambda w: {"url": PUBLIC_WEBHOOK_URL, "events": ["order.paid"], "description": "ERP"},
        server_owned(plus=("secret", "disabled_reason", "failing_since", "enabled")),
        accepted=201,
    ),
    Target(
        "PATCH",
        "/api/webhooks/{webhook_id}",
        "admin",
        lambda w: {"description": "CRM"},
        server_owned(plus=("secret", "disabled_reason", "failing_since")),
    ),
]


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    with database.read() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def world(database: Database) -> World:
    return World.build(database)


@pytest.fixture
def api(database: Database) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_every_route_with_a_json_body_is_tried_here() -> None:
    app = create_app(Settings(database_url="sqlite://"))
    with_json_body = {
        (method, str(context.path))
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.body_field is not None
        and not isinstance(context.body_field.field_info, Form)
        for method in context.methods or ()
    }

    assert with_json_body == {(target.method, target.path) for target in TARGETS}


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.id)
def test_a_payload_setting_a_server_owned_field_is_refused_and_changes_nothing(
    target: Target, api: TestClient, world: World
) -> None:
    """Given a valid body, when one server-owned field is added, then 400 and no row changes."""
    if target.setup is not None:
        target.setup(world)
    path, headers = world.path(target.path), world.headers(target.caller)
    before = snapshot(world.database)
    wrong = {}
    for name in target.smuggle:
        body = {**target.valid(world), name: world.smuggled(name)}

        response = api.request(target.method, path, json=body, headers=headers)

        if response.status_code != 400:
            wrong[name] = f"{response.status_code}: {response.text}"
            continue
        problem = assert_problem(response, 400, "validation_error")
        if error_fields(problem) != {name}:
            wrong[name] = f"errors name {error_fields(problem)}, not {name!r}"

    assert not wrong, f"{target.id} let a client set: {wrong}"
    assert snapshot(world.database) == before
    # The same body without the smuggled field goes through: the field alone was refused.
    accepted = api.request(target.method, path, json=target.valid(world), headers=headers)
    assert accepted.status_code == target.accepted, accepted.text


def test_an_order_line_cannot_bring_its_own_price_or_product_details(
    api: TestClient, world: World
) -> None:
    before = snapshot(world.database)
    for name in ("price", "unit_price", "line_total", "name", "sku"):
        line = {"product_id": world.product_id, "quantity": 1, name: "0.01"}

        response = api.post(
            "/api/orders",
            json={"customer_id": world.customer_id, "items": [line]},
            headers=world.admin,
        )

        problem = assert_problem(response, 400, "validation_error")
        assert error_fields(problem) == {f"items.0.{name}"}
    assert snapshot(world.database) == before


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/users"), ("PATCH", "/api/users/{user_id}")]
)
def test_a_login_can_only_be_given_a_staff_or_admin_role(
    method: str, path: str, api: TestClient, world: World
) -> None:
    before = snapshot(world.database)
    for role in ("customer", "anonymous", "owner"):
        body: dict[str, Any] = {"role": role}
        if method == "POST":
            body.update(email="clerk@example.com", password=factories.PASSWORD)

        response = api.request(method, world.path(path), json=body, headers=world.admin)

        problem = assert_problem(response, 400, "validation_error")
        assert error_fields(problem) == {"role"}, role
    assert snapshot(world.database) == before


def test_the_refusal_says_the_field_cannot_be_set_by_a_client(
    api: TestClient, world: World
) -> None:
    response = api.patch("/api/me", json={"balance": "1000000.00"}, headers=world.customer)

    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"] == [
        {"field": "balance", "message": "unknown field; it can't be set by a client"}
    ]
    assert re.search(r"\bbalance\b", problem["detail"])
