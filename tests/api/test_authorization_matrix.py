"""Who may call what: every route of the app against every kind of caller.

``EXPECTED`` is the one table of outcomes: each route, as the app's route table
names it, and what anonymous callers, two customers (A and B), a staff member
and an admin get there. The tests below hold the app to it:

* the app's routes and the table's rows are the same set, so a route added
  without a row (or a row left behind by a removed route) fails;
* every route declares exactly one permission with ``requires(...)``, and the
  table agrees with ``ROLE_PERMISSIONS`` for it, so the code's table and this
  one can't drift apart;
* every route is called by every principal with real ids and valid bodies, and
  answers as the table says; object ids belong to customer B, so customer A
  probing them shows the object-level checks.

Outcomes: ``ALLOWED`` means the request reached the handler and succeeded
(2xx; the recipes below send valid bodies and ids of rows that exist);
``401``, ``403`` and ``404`` are problem+json refusals.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import insert

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import Permission, Role, allows
from ordermill.domain.workflow import PaymentFlow
from ordermill.models import utcnow
from ordermill.services import (
    accounts,
    carts,
    catalog,
    order_views,
    processing,
    webhooks,
    workflow,
)
from ordermill.services.audit import SYSTEM
from ordermill.services.tables import deliveries, outbox_events, password_resets
from ordermill.web.app import create_app
from ordermill.web.pages.errors import is_page_path
from tests import factories
from tests.api.helpers import PROBLEM_JSON

RouteKey = tuple[str, str]  # (METHOD, path template)
Outcome = str | int

ALLOWED: Final = "allowed"
# A literal public address (no DNS); nothing is delivered during these tests.
PUBLIC_WEBHOOK_URL: Final = "https://93.184.215.14/hooks/ordermill"
PRINCIPALS: Final = ("anonymous", "customer_a", "customer_b", "staff", "admin")
ROLE_OF: Final = {
    "anonymous": Role.ANONYMOUS,
    "customer_a": Role.CUSTOMER,
    "customer_b": Role.CUSTOMER,
    "staff": Role.STAFF,
    "admin": Role.ADMIN,
}


def outcomes(
    anonymous: Outcome, customer_a: Outcome, customer_b: Outcome, staff: Outcome, admin: Outcome
) -> dict[str, Outcome]:
    return {
        "anonymous": anonymous,
        "customer_a": customer_a,
        "customer_b": customer_b,
        "staff": staff,
        "admin": admin,
    }


#                      anonymous customer A customer B staff    admin
EVERYONE = outcomes(ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED)
SIGNED_IN = outcomes(401, ALLOWED, ALLOWED, ALLOWED, ALLOWED)
CUSTOMERS = outcomes(401, ALLOWED, ALLOWED, 403, 403)
STAFF = outcomes(401, 403, 403, ALLOWED, ALLOWED)
ADMINS = outcomes(401, 403, 403, 403, ALLOWED)
# Object-level: the order in the path is customer B's; A is told it does not exist.
B_ONLY = outcomes(401, 404, ALLOWED, 403, 403)
# Staff act on any order, a customer only on their own (B's order: A is told it does not exist).
STAFF_OR_OWNER = outcomes(401, 404, ALLOWED, ALLOWED, ALLOWED)

EXPECTED: dict[RouteKey, dict[str, Outcome]] = {
    # health, sign-up and login: anyone
    ("GET", "/health"): EVERYONE,
    ("POST", "/api/auth/signup"): EVERYONE,
    ("POST", "/api/auth/token"): EVERYONE,
    ("POST", "/api/auth/password-reset"): EVERYONE,
    ("POST", "/api/auth/password-reset/confirm"): EVERYONE,
    # the session itself: anyone signed in
    ("POST", "/api/auth/logout"): SIGNED_IN,
    ("GET", "/api/auth/whoami"): SIGNED_IN,
    # the catalog: read by anyone, changed by staff
    ("GET", "/api/products"): EVERYONE,
    ("GET", "/api/products/{product_id}"): EVERYONE,
    ("POST", "/api/products"): STAFF,
    ("PATCH", "/api/products/{product_id}"): STAFF,
    ("DELETE", "/api/products/{product_id}"): STAFF,
    ("POST", "/api/products/{product_id}/stock"): STAFF,
    # a customer's own profile, cart, checkout and orders
    ("GET", "/api/me"): CUSTOMERS,
    ("PATCH", "/api/me"): CUSTOMERS,
    ("GET", "/api/me/cart"): CUSTOMERS,
    ("DELETE", "/api/me/cart"): CUSTOMERS,
    ("PUT", "/api/me/cart/items/{product_id}"): CUSTOMERS,
    ("DELETE", "/api/me/cart/items/{product_id}"): CUSTOMERS,
    ("POST", "/api/me/cart/checkout"): CUSTOMERS,
    ("GET", "/api/me/orders"): CUSTOMERS,
    ("GET", "/api/me/orders/{order_id}"): B_ONLY,
    ("GET", "/api/me/orders/{order_id}/actions"): B_ONLY,
    ("POST", "/api/me/orders/{order_id}/actions/cancel"): B_ONLY,
    ("GET", "/api/me/orders/{order_id}/events"): B_ONLY,
    ("GET", "/api/me/ledger"): CUSTOMERS,
    # customers (the {customer_id} is B's: B's own id does not open staff routes)
    ("GET", "/api/customers"): STAFF,
    ("POST", "/api/customers"): STAFF,
    ("GET", "/api/customers/{customer_id}"): STAFF,
    ("PATCH", "/api/customers/{customer_id}"): STAFF,
    ("DELETE", "/api/customers/{customer_id}"): ADMINS,
    ("POST", "/api/customers/{customer_id}/balance"): ADMINS,
    ("GET", "/api/customers/{customer_id}/orders"): STAFF,
    ("GET", "/api/customers/{customer_id}/ledger"): STAFF,
    # any customer's cart, on their behalf
    ("GET", "/api/customers/{customer_id}/cart"): STAFF,
    ("DELETE", "/api/customers/{customer_id}/cart"): STAFF,
    ("PUT", "/api/customers/{customer_id}/cart/items/{product_id}"): STAFF,
    ("DELETE", "/api/customers/{customer_id}/cart/items/{product_id}"): STAFF,
    ("POST", "/api/customers/{customer_id}/cart/checkout"): STAFF,
    # orders
    ("GET", "/api/orders"): STAFF,
    ("POST", "/api/orders"): STAFF,
    ("GET", "/api/orders/by-number/{number}"): STAFF,
    ("GET", "/api/orders/{order_id}"): STAFF,
    ("PUT", "/api/orders/{order_id}"): STAFF,
    ("DELETE", "/api/orders/{order_id}"): STAFF,
    # the order workflow: described to anyone, driven by staff
    ("GET", "/api/workflow"): EVERYONE,
    ("GET", "/api/orders/{order_id}/actions"): STAFF,
    ("POST", "/api/orders/{order_id}/actions/process"): STAFF,
    ("POST", "/api/orders/{order_id}/actions/pay"): STAFF,
    ("POST", "/api/orders/{order_id}/actions/fulfill"): STAFF,
    ("POST", "/api/orders/{order_id}/actions/deliver"): STAFF,
    ("POST", "/api/orders/{order_id}/actions/cancel"): STAFF,
    ("POST", "/api/orders/{order_id}/actions/return"): STAFF,
    ("GET", "/api/orders/{order_id}/events"): STAFF,
    ("POST", "/api/orders/{order_id}/notes"): STAFF,
    # reordering: staff for anyone, a customer for their own order only
    ("POST", "/api/orders/{order_id}/reorder"): STAFF_OR_OWNER,
    # users, integration tokens and the audit log
    ("GET", "/api/users"): ADMINS,
    ("POST", "/api/users"): ADMINS,
    ("PATCH", "/api/users/{user_id}"): ADMINS,
    ("GET", "/api/users/{user_id}/tokens"): ADMINS,
    ("POST", "/api/users/{user_id}/tokens"): ADMINS,
    ("DELETE", "/api/tokens/{token_id}"): ADMINS,
    ("GET", "/api/audit"): ADMINS,
    # webhook endpoints, their secrets and deliveries
    ("GET", "/api/webhooks"): ADMINS,
    ("POST", "/api/webhooks"): ADMINS,
    ("GET", "/api/webhooks/{webhook_id}"): ADMINS,
    ("PATCH", "/api/webhooks/{webhook_id}"): ADMINS,
    ("DELETE", "/api/webhooks/{webhook_id}"): ADMINS,
    ("POST", "/api/webhooks/{webhook_id}/rotate-secret"): ADMINS,
    ("POST", "/api/webhooks/{webhook_id}/ping"): ADMINS,
    ("GET", "/api/webhooks/{webhook_id}/deliveries"): ADMINS,
    ("POST", "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): ADMINS,
}

# Routes outside /api/me that a customer may call on their own objects only: another
# customer's object is not found (404), as on /api/me.
OWN_OBJECT_ROUTES: Final = {("POST", "/api/orders/{order_id}/reorder")}

# Routes without a request body (POSTs that only name what they act on).
NO_BODY: Final = {
    ("POST", "/api/auth/logout"),
    ("POST", "/api/orders/{order_id}/actions/deliver"),
    ("POST", "/api/orders/{order_id}/reorder"),
    ("POST", "/api/webhooks/{webhook_id}/rotate-secret"),
    ("POST", "/api/webhooks/{webhook_id}/ping"),
    ("POST", "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
}

# Routes that are not API routes (no handler of ours, no data): Swagger UI and its schema,
# the pages and the files they load (/docs/assets: Swagger UI and ReDoc, served offline),
# and the files the store's own pages load (/static). The pages themselves have their own
# matrix (tests/pages/test_page_access.py).
DOCUMENTATION_ROUTES = {
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/docs/assets",
    "/redoc",
    "/static",
}


# ---------------------------------------------------------------- the route table


def api_route_contexts(app: FastAPI) -> Iterator[RouteContext]:
    """Every APIRoute of ``app``, with the path and dependencies it has once included."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and not is_page_path(str(context.path)):
            yield context


def route_keys(app: FastAPI) -> set[RouteKey]:
    return {
        (method, str(context.path))
        for context in api_route_contexts(app)
        for method in context.methods or ()
    }


def declared_permissions(context: RouteContext) -> list[Permission]:
    """The permissions ``requires(...)`` put anywhere in the route's dependency tree."""
    found: list[Permission] = []
    pending = list(context.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        permission = getattr(dependency.call, "permission", None)
        if permission is not None:
            found.append(permission)
        pending.extend(dependency.dependencies)
    return found


def permission_by_route(app: FastAPI) -> dict[RouteKey, list[Permission]]:
    return {
        (method, str(context.path)): declared_permissions(context)
        for context in api_route_contexts(app)
        for method in context.methods or ()
    }


@pytest.fixture(scope="module")
def route_table_app() -> FastAPI:
    """The app, for reading its route table only (no request reaches a database)."""
    return create_app(Settings(database_url="sqlite://"))


def test_every_api_route_of_the_app_has_a_row_in_the_table_and_no_row_is_stale(
    route_table_app: FastAPI,
) -> None:
    in_app = route_keys(route_table_app)

    missing = sorted(in_app - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - in_app)

    assert not missing, f"routes without an entry in EXPECTED: {missing}"
    assert not stale, f"entries in EXPECTED for routes the app no longer has: {stale}"


def test_the_only_routes_that_are_not_api_routes_are_the_documentation(
    route_table_app: FastAPI,
) -> None:
    others = {
        str(getattr(context, "path", context.original_route))
        for context in iter_route_contexts(route_table_app.routes)
        if not isinstance(context.original_route, APIRoute)
    }

    assert others == DOCUMENTATION_ROUTES


def test_every_api_route_declares_exactly_one_permission(route_table_app: FastAPI) -> None:
    permissions = permission_by_route(route_table_app)

    wrong = {key: found for key, found in permissions.items() if len(found) != 1}

    assert not wrong, (
        "each route must take exactly one requires(PERMISSION) dependency; "
        f"these have another number: {wrong}"
    )


def expected_from_the_role_table(principal: str, permission: Permission) -> set[Outcome]:
    """What ``ROLE_PERMISSIONS`` allows ``principal`` on a route needing ``permission``."""
    role = ROLE_OF[principal]
    if allows(role, permission):
        # A customer may be let in and still not find another customer's object.
        return {ALLOWED, 404} if role is Role.CUSTOMER else {ALLOWED}
    return {401} if role is Role.ANONYMOUS else {403}


def test_the_expected_table_agrees_with_the_role_permission_table_of_the_code(
    route_table_app: FastAPI,
) -> None:
    disagreements = []
    for key, found in sorted(permission_by_route(route_table_app).items()):
        if len(found) != 1 or key not in EXPECTED:
            continue  # reported by the two tests above
        for principal in PRINCIPALS:
            wanted = EXPECTED[key][principal]
            if wanted not in expected_from_the_role_table(principal, found[0]):
                disagreements.append((key, principal, found[0].value, wanted))

    assert not disagreements, (
        "(route, principal, permission, EXPECTED) where EXPECTED is not what "
        f"ROLE_PERMISSIONS grants: {disagreements}"
    )


def test_a_not_found_for_a_customer_is_only_ever_the_object_level_check() -> None:
    """404 in the table means "another customer's object", on the customer's own routes."""
    for (method, path), row in EXPECTED.items():
        for principal, outcome in row.items():
            if outcome == 404:
                assert principal == "customer_a", (path, principal)
                assert path.startswith("/api/me/") or (method, path) in OWN_OBJECT_ROUTES, path


# ---------------------------------------------------------------- a world to call into


@dataclass
class Scene:
    """Customers A and B with logins of their own, a staff member, an admin."""

    database: Database
    customer_a: int
    user_a: int
    customer_b: int
    user_b: int
    staff: int
    admin: int
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    last_webhook: int | None = None

    @classmethod
    def build(cls, database: Database) -> Scene:
        customer_a, user_a = factories.customer_login(database)
        customer_b, user_b = factories.customer_login(database)
        return cls(
            database,
            customer_a,
            user_a,
            customer_b,
            user_b,
            staff=factories.user(database, role="staff"),
            admin=factories.user(database, role="admin"),
        )

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self._seq)}"

    def user_of(self, principal: str) -> int | None:
        return {
            "anonymous": None,
            "customer_a": self.user_a,
            "customer_b": self.user_b,
            "staff": self.staff,
            "admin": self.admin,
        }[principal]

    def customer_of(self, principal: str) -> int | None:
        return {"customer_a": self.customer_a, "customer_b": self.customer_b}.get(principal)

    def headers_for(self, principal: str) -> dict[str, str]:
        """A fresh token per request, so logging out in one request spoils no other."""
        user_id = self.user_of(principal)
        if user_id is None:
            return {}
        return {"Authorization": f"Bearer {factories.token_for(self.database, user_id)}"}

    def product(self) -> int:
        return factories.product(self.database, price=10_00, stock=10)

    def order_of_b(self) -> int:
        """A fresh pending order of customer B (10.00, B holds 100.00)."""
        return factories.order(self.database, self.customer_b, (self.product(), 1))

    def order_of_b_in(self, status: str) -> int:
        """A fresh order of customer B, taken through the workflow to ``status``."""
        order_id = self.order_of_b()
        with self.database.write() as session:
            if status == "awaiting_payment":
                processing.process_order(session, order_id, flow=PaymentFlow.ADVANCE)
            elif status in ("processed", "fulfilled"):
                processing.process_order(session, order_id, flow=PaymentFlow.BALANCE)
                if status == "fulfilled":
                    workflow.fulfill(session, order_id)
            else:
                raise AssertionError(f"no recipe for an order in {status}")
        return order_id

    def customer_without_history(self) -> int:
        """A customer with no orders and no balance history: one that may be deleted."""
        return factories.customer(self.database, balance=0)

    def number_of(self, order_id: int) -> str:
        with self.database.read() as session:
            return order_views.get_order(session, order_id).number

    def staff_user(self) -> int:
        return factories.user(self.database, role="staff")

    def api_token(self) -> int:
        owner_id = self.staff_user()
        with self.database.write() as session:
            owner = accounts.get_user(session, owner_id)
            issued = accounts.issue_token(
                session, owner, kind=accounts.API, ttl=None, name="integration"
            )
            return issued.token_id

    def login_email(self) -> str:
        email = f"{self.unique('login')}@example.com"
        factories.user(self.database, role="staff", email=email)
        return email

    def reset_token(self) -> str:
        """A live password reset link's token, for a fresh staff login."""
        token, email = self.unique("reset-link-"), self.login_email()
        with self.database.write() as session:
            session.execute(
                insert(password_resets).values(
                    email=email,
                    token_hash=accounts.token_digest(token),
                    expires=utcnow() + timedelta(hours=1),
                )
            )
        return token

    def webhook(self) -> int:
        """A fresh webhook (to a public address: nothing is sent in these tests)."""
        with self.database.write() as session:
            issued = webhooks.create_webhook(
                session,
                url=PUBLIC_WEBHOOK_URL,
                events=[],
                description="",
                allow_private=False,
                actor=SYSTEM,
            )
            self.last_webhook = issued.webhook.id
            return issued.webhook.id

    def delivery_of_last_webhook(self) -> int:
        """A sent delivery of the webhook just made (a ping's)."""
        now = datetime.now(UTC)
        with self.database.write() as session:
            event_id = session.execute(
                insert(outbox_events)
                .values(type="webhook.ping", data={}, created=now, dispatched=now)
                .returning(outbox_events.c.id)
            ).scalar_one()
            return session.execute(
                insert(deliveries)
                .values(
                    event_id=event_id,
                    channel="webhook",
                    audience="endpoint",
                    recipient=PUBLIC_WEBHOOK_URL,
                    webhook_id=self.last_webhook,
                    message={"body": "{}"},
                    status="sent",
                    attempts=1,
                    next_attempt=now,
                    created=now,
                    sent=now,
                )
                .returning(deliveries.c.id)
            ).scalar_one()

    def fill_cart(self, customer_id: int) -> None:
        product_id = self.product()
        with self.database.write() as session:
            carts.set_cart_item(session, customer_id, product_id, 1)


# Actions that only succeed on an order further along than pending.
ORDER_STATUS_FOR: dict[RouteKey, str] = {
    ("POST", "/api/orders/{order_id}/actions/pay"): "awaiting_payment",
    ("POST", "/api/orders/{order_id}/actions/fulfill"): "processed",
    ("POST", "/api/orders/{order_id}/actions/deliver"): "fulfilled",
    ("POST", "/api/orders/{order_id}/actions/return"): "fulfilled",
}


def path_value(scene: Scene, name: str, key: RouteKey) -> Any:
    """A real id for path parameter ``name``; objects belong to customer B."""
    if name == "customer_id":
        if key == ("DELETE", "/api/customers/{customer_id}"):
            # B has orders and balance history, so B can't be deleted (409) by anyone.
            return scene.customer_without_history()
        return scene.customer_b
    if name == "product_id":
        return scene.product()
    if name == "order_id":
        if key in ORDER_STATUS_FOR:
            return scene.order_of_b_in(ORDER_STATUS_FOR[key])
        return scene.order_of_b()
    if name == "number":
        return scene.number_of(scene.order_of_b())
    if name == "user_id":
        return scene.staff_user()
    if name == "token_id":
        return scene.api_token()
    if name == "webhook_id":
        return scene.webhook()
    if name == "delivery_id":  # of the webhook named before it in the path
        return scene.delivery_of_last_webhook()
    raise AssertionError(f"no recipe for path parameter {{{name}}} of {key}: add one")


JsonRecipe = Callable[[Scene], dict[str, Any]]

JSON_BODIES: dict[RouteKey, JsonRecipe] = {
    ("POST", "/api/auth/signup"): lambda s: {
        "name": "Grace Hopper",
        "email": f"{s.unique('grace')}@example.com",
        "password": factories.PASSWORD,
    },
    ("POST", "/api/auth/password-reset"): lambda s: {"email": s.login_email()},
    ("POST", "/api/auth/password-reset/confirm"): lambda s: {
        "token": s.reset_token(),
        "password": factories.PASSWORD,
    },
    ("PATCH", "/api/me"): lambda s: {"name": "Ada Lovelace"},
    ("PUT", "/api/me/cart/items/{product_id}"): lambda s: {"quantity": 2},
    ("POST", "/api/me/cart/checkout"): lambda s: {"note": "Leave it at the door"},
    ("POST", "/api/customers"): lambda s: {
        "name": "Edsger Dijkstra",
        "email": f"{s.unique('edsger')}@example.com",
    },
    ("PATCH", "/api/customers/{customer_id}"): lambda s: {"name": "Barbara Liskov"},
    ("POST", "/api/customers/{customer_id}/balance"): lambda s: {
        "amount": "5.00",
        "reason": "goodwill",
    },
    ("PUT", "/api/customers/{customer_id}/cart/items/{product_id}"): lambda s: {"quantity": 2},
    ("POST", "/api/customers/{customer_id}/cart/checkout"): lambda s: {"note": "Gift wrap"},
    ("POST", "/api/products"): lambda s: {
        "name": "Teapot",
        "sku": s.unique("TEAPOT-"),
        "price": "24.00",
        "stock": 3,
    },
    ("PATCH", "/api/products/{product_id}"): lambda s: {"price": "11.00"},
    ("POST", "/api/products/{product_id}/stock"): lambda s: {
        "delta": -2,
        "reason": "broken in transit",
    },
    ("POST", "/api/orders"): lambda s: {
        "customer_id": s.customer_b,
        "items": [{"product_id": s.product(), "quantity": 1}],
    },
    ("PUT", "/api/orders/{order_id}"): lambda s: {"process": True},
    ("POST", "/api/orders/{order_id}/actions/process"): lambda s: {
        "strategy": "adjust",
        "flow": "balance",
    },
    ("POST", "/api/orders/{order_id}/actions/pay"): lambda s: {
        "amount": "10.00",
        "method": "bank_transfer",
        "reference": s.unique("TRANSFER-"),
    },
    ("POST", "/api/orders/{order_id}/actions/fulfill"): lambda s: {
        "carrier": "DHL",
        "tracking_number": s.unique("JD"),
    },
    ("POST", "/api/orders/{order_id}/actions/cancel"): lambda s: {"reason": "out of season"},
    ("POST", "/api/orders/{order_id}/actions/return"): lambda s: {
        "restock": True,
        "reason": "arrived damaged",
    },
    ("POST", "/api/orders/{order_id}/notes"): lambda s: {
        "text": "Called about the delivery",
        "visibility": "staff",
    },
    ("POST", "/api/me/orders/{order_id}/actions/cancel"): lambda s: {
        "reason": "ordered by mistake"
    },
    ("POST", "/api/users"): lambda s: {
        "email": f"{s.unique('clerk')}@example.com",
        "password": factories.PASSWORD,
        "role": "staff",
    },
    ("PATCH", "/api/users/{user_id}"): lambda s: {"disabled": True},
    ("POST", "/api/users/{user_id}/tokens"): lambda s: {"name": "Warehouse sync"},
    ("POST", "/api/webhooks"): lambda s: {
        "url": PUBLIC_WEBHOOK_URL,
        "events": ["order.created"],
        "description": "ERP",
    },
    ("PATCH", "/api/webhooks/{webhook_id}"): lambda s: {"description": "CRM"},
}
FORM_BODIES: dict[RouteKey, JsonRecipe] = {
    ("POST", "/api/auth/token"): lambda s: {
        "username": s.login_email(),
        "password": factories.PASSWORD,
    },
}


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    form: dict[str, Any] | None = None

    def send(self, client: TestClient) -> httpx.Response:
        if self.form is not None:
            return client.request(self.method, self.path, data=self.form, headers=self.headers)
        return client.request(self.method, self.path, json=self.json, headers=self.headers)


def prepare(scene: Scene, key: RouteKey, principal: str) -> Call:
    """The request a real client would make to route ``key`` as ``principal``."""
    method, template = key
    names = re.findall(r"{(\w+)}", template)
    path = template.format(**{name: path_value(scene, name, key) for name in names})
    if template.endswith("/cart/checkout"):  # an empty cart can't be checked out
        owner = scene.customer_of(principal) if template.startswith("/api/me") else scene.customer_b
        if owner is not None:
            scene.fill_cart(owner)
    call = Call(method, path, scene.headers_for(principal))
    if key in JSON_BODIES:
        call.json = JSON_BODIES[key](scene)
    elif key in FORM_BODIES:
        call.form = FORM_BODIES[key](scene)
    else:
        assert method not in {"POST", "PUT", "PATCH"} or key in NO_BODY, (
            f"no request body recipe for {key}: add one to JSON_BODIES or FORM_BODIES"
        )
    return call


def send(client: TestClient, scene: Scene, key: RouteKey, principal: str) -> httpx.Response:
    return prepare(scene, key, principal).send(client)


def outcome_problems(response: httpx.Response, wanted: Outcome) -> list[str]:
    """What is wrong with ``response`` for the outcome ``wanted`` (empty when right)."""
    status = response.status_code
    if status >= 500:
        return [f"server error {status}: {response.text}"]
    if wanted == ALLOWED:
        if not 200 <= status < 300:
            return [f"wanted the handler to succeed, got {status}: {response.text}"]
        return []
    if status != wanted:
        return [f"wanted {wanted}, got {status}: {response.text}"]
    wrong = []
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM_JSON:
        wrong.append(f"{status} is not {PROBLEM_JSON}: {response.headers.get('content-type')}")
    else:
        body = response.json()
        wanted_code = {401: "not_authenticated", 403: "forbidden"}.get(status)
        if body.get("status") != status or (wanted_code and body.get("code") != wanted_code):
            wrong.append(f"problem body does not match {status}: {body}")
    if status == 401 and response.headers.get("www-authenticate") != "Bearer":
        wrong.append(f"401 without WWW-Authenticate: Bearer ({response.headers})")
    return wrong


@pytest.fixture
def scene(database: Database) -> Scene:
    return Scene.build(database)


@pytest.fixture
def api(database: Database) -> Iterator[TestClient]:
    """The API without default credentials: each request carries its caller's token."""
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda key: f"{key[0]} {key[1]}")
def test_every_principal_gets_the_outcome_the_table_expects(
    key: RouteKey, api: TestClient, scene: Scene
) -> None:
    """Given B's ids and valid bodies, when each principal calls the route, then the table holds.

    Principals run in the table's order, admin last: the admin's call may delete
    what the others addressed (customer B, on DELETE /api/customers/{id}).
    """
    wrong = {}
    for principal in PRINCIPALS:
        response = send(api, scene, key, principal)
        problems = outcome_problems(response, EXPECTED[key][principal])
        if problems:
            wrong[principal] = problems

    assert not wrong, f"{key}: {wrong}"


# ---------------------------------------------------------------- object-level access


def test_customer_a_asking_for_customer_bs_order_gets_the_same_404_as_for_a_missing_order(
    api: TestClient, scene: Scene
) -> None:
    b_order = scene.order_of_b()
    missing = b_order + 1000
    as_a = scene.headers_for("customer_a")

    someone_elses = api.get(f"/api/me/orders/{b_order}", headers=as_a)
    nobodys = api.get(f"/api/me/orders/{missing}", headers=as_a)

    assert someone_elses.status_code == nobodys.status_code == 404
    assert someone_elses.headers["content-type"] == nobodys.headers["content-type"]
    assert someone_elses.headers["content-type"].split(";")[0] == PROBLEM_JSON
    assert someone_elses.json()["code"] == "order_not_found"
    assert someone_elses.text.replace(str(b_order), "ID") == nobodys.text.replace(
        str(missing), "ID"
    )
    assert set(someone_elses.headers) - {"content-length"} == set(nobodys.headers) - {
        "content-length"
    }


def test_customer_b_reads_the_same_order_that_a_was_refused(api: TestClient, scene: Scene) -> None:
    b_order = scene.order_of_b()

    response = api.get(f"/api/me/orders/{b_order}", headers=scene.headers_for("customer_b"))

    assert response.status_code == 200, response.text
    assert response.json()["id"] == b_order
    assert response.json()["customer_id"] == scene.customer_b


def routes_addressing_a_customer_or_order() -> list[RouteKey]:
    return sorted(key for key in EXPECTED if re.search(r"{(customer_id|order_id|number)}", key[1]))


def everything_of_b(database: Database, customer_id: int) -> tuple[Any, ...]:
    """Customer B's profile, cart and orders, to show nothing of them changed."""
    with database.read() as session:
        profile = catalog.get_customer(session, customer_id)
        cart = carts.get_cart(session, customer_id)
        orders = order_views.list_orders(
            session, order_views.OrderFilters(customer_id=customer_id), limit=500, cursor=None
        )
        return (
            (profile.name, profile.email, profile.balance),
            [(item.product_id, item.quantity) for item in cart.items],
            [(order.id, order.status, order.total) for order in orders.items],
        )


def test_customer_a_cannot_read_or_change_customer_bs_profile_cart_or_orders_by_any_route(
    api: TestClient, scene: Scene
) -> None:
    """Given B's ids, when A calls every route that takes a customer or an order, A gets nowhere.

    Staff routes refuse A (403) whatever the id; A's own routes don't find B's
    order (404). Either way the response shows nothing of B and B's rows stay as
    they were.
    """
    scene.fill_cart(scene.customer_b)
    with scene.database.read() as session:
        b_email = catalog.get_customer(session, scene.customer_b).email
    wrong = {}
    for key in routes_addressing_a_customer_or_order():
        call = prepare(scene, key, "customer_a")
        before = everything_of_b(scene.database, scene.customer_b)

        response = call.send(api)

        wanted = 404 if key[1].startswith("/api/me/") or key in OWN_OBJECT_ROUTES else 403
        problems = outcome_problems(response, wanted)
        if b_email in response.text:
            problems.append("the response shows B's email")
        if everything_of_b(scene.database, scene.customer_b) != before:
            problems.append("B's profile, cart or orders changed")
        if problems:
            wrong[key] = problems

    assert not wrong, wrong


def test_a_customer_id_in_the_query_does_not_change_whose_data_the_me_routes_show(
    api: TestClient, scene: Scene
) -> None:
    scene.order_of_b()
    scene.fill_cart(scene.customer_b)
    as_a = scene.headers_for("customer_a")
    smuggle = f"?customer_id={scene.customer_b}"

    profile = api.get(f"/api/me{smuggle}", headers=as_a)
    cart = api.get(f"/api/me/cart{smuggle}", headers=as_a)
    orders = api.get(f"/api/me/orders{smuggle}", headers=as_a)

    assert profile.status_code == 200, profile.text
    assert profile.json()["id"] == scene.customer_a
    assert cart.status_code == 200, cart.text
    assert cart.json() == {"customer_id": scene.customer_a, "items": [], "total": "0.00"}
    assert orders.status_code == 200, orders.text
    assert orders.json() == []
