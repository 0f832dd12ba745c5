"""The audit log over HTTP: every change to an order, customer, product or balance says who made it.

Each mutating route is called by a real user with a real token; the log must then
name that user's id and email, the token's id, the action and the entity changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import accounts, processing
from ordermill.web.app import create_app
from tests import factories
from tests.api.helpers import assert_problem, assert_utc_timestamp, get_json, next_link

ENTRY_KEYS = {"id", "at", "actor", "user_id", "token_id", "action", "entity", "entity_id", "detail"}


@dataclass
class Caller:
    """A signed-in user making requests with one token."""

    http: TestClient
    token: str
    user_id: int
    token_id: int
    email: str

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} | kw.pop("headers", {})
        return self.http.request(method, url, headers=headers, **kw)

    def ok(self, method: str, url: str, **kw: Any) -> Any:
        """Make the request, insist it succeeded, return the JSON body (if any)."""
        response = self.request(method, url, **kw)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None


@dataclass
class Store:
    database: Database
    http: TestClient
    callers: dict[str, Caller] = field(default_factory=dict)

    def sign_in(self, user_id: int, *, kind: str = accounts.SESSION) -> Caller:
        with self.database.write() as session:
            user = accounts.get_user(session, user_id)
            issued = accounts.issue_token(session, user, kind=kind, ttl=None, name="test")
            email = user.email
        return Caller(self.http, issued.token, user_id, issued.token_id, email)

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        """GET /api/audit as the admin (``http`` carries their token), newest first."""
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        entries: list[dict[str, Any]] = get_json(self.http, f"/api/audit?limit=500&{query}")
        return entries


@pytest.fixture
def store(database: Database) -> Iterator[Store]:
    """A store with an admin, a staff member and a customer who has a login, each signed in."""
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, raise_server_exceptions=False) as http:
        shop = Store(database, http)
        admin = shop.sign_in(factories.user(database, role="admin", email="boss@example.com"))
        http.headers["Authorization"] = f"Bearer {admin.token}"
        shop.callers["admin"] = admin
        shop.callers["staff"] = shop.sign_in(
            factories.user(database, role="staff", email="clerk@example.com")
        )
        _, customer_user = factories.customer_login(database, balance=100_00)
        shop.callers["customer"] = shop.sign_in(customer_user)
        yield shop


def customer_of(store: Store, caller: Caller) -> int:
    with store.database.read() as session:
        customer_id = accounts.get_user(session, caller.user_id).customer_id
    assert customer_id is not None
    return customer_id


# ---------------------------------------------------------------- each mutating route


def create_customer(store: Store, me: Caller) -> int:
    body = me.ok("POST", "/api/customers", json={"name": "Ada", "email": "ada@example.com"})
    return int(body["id"])


def update_customer(store: Store, me: Caller) -> int:
    customer_id = factories.customer(store.database)
    me.ok("PATCH", f"/api/customers/{customer_id}", json={"name": "Ada King"})
    return customer_id


def delete_customer(store: Store, me: Caller) -> int:
    customer_id = factories.customer(store.database, balance=0)  # no ledger history
    me.ok("DELETE", f"/api/customers/{customer_id}")
    return customer_id


def adjust_balance(store: Store, me: Caller) -> int:
    customer_id = factories.customer(store.database, balance=10_00)
    me.ok(
        "POST",
        f"/api/customers/{customer_id}/balance",
        json={"amount": "25.00", "reason": "refund for a broken mug"},
    )
    return customer_id


def create_product(store: Store, me: Caller) -> int:
    body = me.ok(
        "POST", "/api/products", json={"name": "Mug", "sku": "MUG-1", "price": "8.50", "stock": 4}
    )
    return int(body["id"])


def update_product(store: Store, me: Caller) -> int:
    product_id = factories.product(store.database)
    me.ok("PATCH", f"/api/products/{product_id}", json={"price": "9.99"})
    return product_id


def delete_product(store: Store, me: Caller) -> int:
    product_id = factories.product(store.database)
    me.ok("DELETE", f"/api/products/{product_id}")
    return product_id


def _order_body(store: Store, **extra: Any) -> dict[str, Any]:
    customer_id = factories.customer(store.database, balance=100_00)
    product_id = factories.product(store.database, price=5_00, stock=10)
    return {
        "customer_id": customer_id,
        "items": [{"product_id": product_id, "quantity": 2}],
    } | extra


def create_order(store: Store, me: Caller) -> int:
    return int(me.ok("POST", "/api/orders", json=_order_body(store))["id"])


def create_and_process_order(store: Store, me: Caller) -> int:
    return int(me.ok("POST", "/api/orders", json=_order_body(store, process=True))["id"])


def _pending_order(store: Store) -> int:
    customer_id = factories.customer(store.database, balance=100_00)
    product_id = factories.product(store.database, price=5_00, stock=10)
    return factories.order(store.database, customer_id, (product_id, 2))


def process_order(store: Store, me: Caller) -> int:
    order_id = _pending_order(store)
    me.ok("PUT", f"/api/orders/{order_id}", json={"process": True})
    return order_id


def delete_order(store: Store, me: Caller) -> int:
    order_id = _pending_order(store)
    me.ok("DELETE", f"/api/orders/{order_id}")
    return order_id


def _fill_cart(store: Store, customer_id: int) -> None:
    product_id = factories.product(store.database, price=5_00, stock=10)
    store.callers["staff"].ok(
        "PUT", f"/api/customers/{customer_id}/cart/items/{product_id}", json={"quantity": 3}
    )


def staff_checkout(store: Store, me: Caller) -> int:
    customer_id = factories.customer(store.database, balance=100_00)
    _fill_cart(store, customer_id)
    return int(me.ok("POST", f"/api/customers/{customer_id}/cart/checkout")["id"])


def staff_checkout_and_process(store: Store, me: Caller) -> int:
    customer_id = factories.customer(store.database, balance=100_00)
    _fill_cart(store, customer_id)
    body = me.ok("POST", f"/api/customers/{customer_id}/cart/checkout", json={"process": True})
    return int(body["id"])


def my_checkout(store: Store, me: Caller) -> int:
    product_id = factories.product(store.database, price=5_00, stock=10)
    me.ok("PUT", f"/api/me/cart/items/{product_id}", json={"quantity": 1})
    return int(me.ok("POST", "/api/me/cart/checkout")["id"])


def my_profile_update(store: Store, me: Caller) -> int:
    me.ok("PATCH", "/api/me", json={"name": "Ada the Customer"})
    return customer_of(store, me)


@dataclass(frozen=True)
class Change:
    make: Callable[[Store, Caller], int]
    role: str
    entity: str
    actions: tuple[str, ...]  # in the order they happen
    detail: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.make.__name__


CHANGES = [
    Change(create_customer, "staff", "customer", ("customer.created",)),
    Change(update_customer, "staff", "customer", ("customer.updated",), {"name": "Ada King"}),
    Change(delete_customer, "admin", "customer", ("customer.deleted",)),
    Change(
        adjust_balance,
        "admin",
        "customer",
        ("balance.adjusted",),
        {"amount": 25_00, "balance": 35_00, "reason": "refund for a broken mug"},
    ),
    Change(create_product, "staff", "product", ("product.created",), {"sku": "MUG-1"}),
    Change(update_product, "staff", "product", ("product.updated",), {"price": 9_99}),
    Change(delete_product, "staff", "product", ("product.deleted",)),
    Change(create_order, "staff", "order", ("order.created",)),
    Change(create_and_process_order, "staff", "order", ("order.created", "order.processed")),
    Change(process_order, "staff", "order", ("order.processed",), {"total": 10_00}),
    Change(delete_order, "staff", "order", ("order.deleted",)),
    Change(staff_checkout, "staff", "order", ("order.created",)),
    Change(staff_checkout_and_process, "staff", "order", ("order.created", "order.processed")),
    Change(my_checkout, "customer", "order", ("order.created",)),
    Change(my_profile_update, "customer", "customer", ("customer.updated",)),
]


@pytest.mark.parametrize("change", CHANGES, ids=str)
def test_every_change_records_the_user_token_action_and_entity(
    store: Store, change: Change
) -> None:
    me = store.callers[change.role]

    entity_id = change.make(store, me)

    mine = [e for e in store.audit(entity=change.entity, entity_id=entity_id) if e["user_id"]]
    assert [e["action"] for e in reversed(mine)] == list(change.actions)
    for entry in mine:
        assert set(entry) == ENTRY_KEYS
        assert entry["user_id"] == me.user_id
        assert entry["token_id"] == me.token_id
        assert entry["actor"] == me.email
        assert entry["entity"] == change.entity
        assert entry["entity_id"] == entity_id
        assert_utc_timestamp(entry["at"])
    assert mine[0]["detail"].items() >= change.detail.items()


def test_a_change_made_with_an_integration_token_names_that_token(store: Store) -> None:
    clerk = store.callers["staff"]
    integration = store.sign_in(clerk.user_id, kind=accounts.API)
    assert integration.token_id != clerk.token_id

    product_id = create_product(store, integration)

    [entry] = store.audit(entity="product", entity_id=product_id)
    assert (entry["user_id"], entry["token_id"]) == (clerk.user_id, integration.token_id)


def test_changes_by_different_users_are_told_apart(store: Store) -> None:
    customer_id = factories.customer(store.database)
    clerk, boss = store.callers["staff"], store.callers["admin"]

    clerk.ok("PATCH", f"/api/customers/{customer_id}", json={"name": "First"})
    boss.ok(
        "POST",
        f"/api/customers/{customer_id}/balance",
        json={"amount": "-1.00", "reason": "correction"},
    )

    entries = store.audit(entity="customer", entity_id=customer_id)
    by_action = {e["action"]: e for e in entries}
    assert by_action["customer.updated"]["user_id"] == clerk.user_id
    assert by_action["balance.adjusted"]["user_id"] == boss.user_id
    assert by_action["balance.adjusted"]["detail"]["amount"] == -100


def test_an_idempotent_retry_is_recorded_once(store: Store) -> None:
    clerk = store.callers["staff"]
    body = _order_body(store)
    headers = {"Idempotency-Key": "order-77"}

    first = clerk.request("POST", "/api/orders", json=body, headers=headers)
    again = clerk.request("POST", "/api/orders", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    entries = store.audit(entity="order", entity_id=first.json()["id"])
    assert [e["action"] for e in entries] == ["order.created"]


def test_a_sign_up_records_the_new_customer_without_naming_any_staff_member(
    store: Store,
) -> None:
    response = store.http.post(
        "/api/auth/signup",
        json={"name": "Grace", "email": "grace@example.com", "password": "cobol forever!"},
        headers={"Authorization": ""},
    )
    assert response.status_code == 201, response.text
    customer_id = response.json()["id"]

    [entry] = store.audit(entity="customer", entity_id=customer_id)

    assert entry["action"] == "customer.created"
    staff_ids = {store.callers["admin"].user_id, store.callers["staff"].user_id}
    assert entry["user_id"] not in staff_ids
    assert entry["actor"] not in {"boss@example.com", "clerk@example.com"}


# ---------------------------------------------------------------- failed changes leave no trace


def delete_customer_with_orders(store: Store, me: Caller) -> httpx.Response:
    order_id = _pending_order(store)
    customer_id = get_json(store.http, f"/api/orders/{order_id}")["customer_id"]
    return me.request("DELETE", f"/api/customers/{customer_id}")


def process_without_money(store: Store, me: Caller) -> httpx.Response:
    broke = factories.customer(store.database, balance=0)
    product_id = factories.product(store.database, price=5_00, stock=10)
    order_id = factories.order(store.database, broke, (product_id, 1))
    return me.request("PUT", f"/api/orders/{order_id}", json={"process": True})


def create_and_process_without_money(store: Store, me: Caller) -> httpx.Response:
    broke = factories.customer(store.database, balance=0)
    product_id = factories.product(store.database, price=5_00, stock=10)
    body = {"customer_id": broke, "items": [{"product_id": product_id, "quantity": 1}]}
    return me.request("POST", "/api/orders", json=body | {"process": True})


def register_a_taken_email(store: Store, me: Caller) -> httpx.Response:
    factories.customer(store.database, email="taken@example.com")
    return me.request("POST", "/api/customers", json={"name": "X", "email": "taken@example.com"})


def delete_a_processed_order(store: Store, me: Caller) -> httpx.Response:
    order_id = _pending_order(store)
    with store.database.write() as session:
        processing.process_order(session, order_id)
    return me.request("DELETE", f"/api/orders/{order_id}")


def update_a_product_with_a_stale_etag(store: Store, me: Caller) -> httpx.Response:
    product_id = factories.product(store.database)
    return me.request(
        "PATCH",
        f"/api/products/{product_id}",
        json={"price": "1.00"},
        headers={"If-Match": '"stale"'},
    )


def top_up_an_unknown_customer(store: Store, me: Caller) -> httpx.Response:
    return me.request(
        "POST", "/api/customers/999/balance", json={"amount": "5.00", "reason": "typo"}
    )


def check_out_an_empty_cart(store: Store, me: Caller) -> httpx.Response:
    return me.request("POST", "/api/me/cart/checkout")


def staff_deletes_a_customer(store: Store, me: Caller) -> httpx.Response:
    customer_id = factories.customer(store.database)
    return me.request("DELETE", f"/api/customers/{customer_id}")


@pytest.mark.parametrize(
    ("attempt", "role", "status"),
    [
        (delete_customer_with_orders, "admin", 409),
        (process_without_money, "staff", 409),
        (create_and_process_without_money, "staff", 409),
        (register_a_taken_email, "staff", 409),
        (delete_a_processed_order, "staff", 409),
        (update_a_product_with_a_stale_etag, "staff", 412),
        (top_up_an_unknown_customer, "admin", 404),
        (check_out_an_empty_cart, "customer", 409),
        (staff_deletes_a_customer, "staff", 403),
    ],
    ids=lambda v: v.__name__ if callable(v) else str(v),
)
def test_a_refused_change_records_nothing(
    store: Store,
    attempt: Callable[[Store, Caller], httpx.Response],
    role: str,
    status: int,
) -> None:
    me = store.callers[role]

    response = attempt(store, me)  # its setup goes through services, as the system

    assert response.status_code == status, response.text
    assert [e for e in store.audit() if e["user_id"] is not None] == []
    assert {e["actor"] for e in store.audit()} <= {"system"}


# ---------------------------------------------------------------- reading the log


def test_the_log_lists_entries_newest_first_and_filters_by_entity(store: Store) -> None:
    clerk = store.callers["staff"]
    first = create_product(store, clerk)
    clerk.ok("PATCH", f"/api/products/{first}", json={"stock": 7})
    second = create_customer(store, clerk)

    everything = store.audit()
    for_product = store.audit(entity="product", entity_id=first)
    customers = store.audit(entity="customer")

    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    assert [e["action"] for e in for_product] == ["product.updated", "product.created"]
    assert for_product[0]["detail"] == {"stock": 7}
    assert {e["entity"] for e in customers} == {"customer"}
    assert second in {e["entity_id"] for e in customers}


def test_the_log_filters_by_user(store: Store) -> None:
    clerk, boss = store.callers["staff"], store.callers["admin"]
    create_product(store, clerk)
    create_customer(store, boss)

    clerks = store.audit(user_id=clerk.user_id)

    assert [(e["action"], e["actor"]) for e in clerks] == [("product.created", "clerk@example.com")]


def test_the_log_pages_with_a_next_link(store: Store) -> None:
    clerk = store.callers["staff"]
    for n in range(3):
        clerk.ok("POST", "/api/products", json={"name": f"P{n}", "sku": f"P-{n}", "price": "1.00"})

    first = store.http.get("/api/audit?entity=product&limit=2")
    link = next_link(first)
    assert link is not None
    second = store.http.get(link)

    assert first.status_code == second.status_code == 200
    assert len(first.json()) == 2
    assert len(second.json()) == 1
    assert next_link(second) is None
    skus = [e["detail"]["sku"] for e in first.json() + second.json()]
    assert skus == ["P-2", "P-1", "P-0"]


@pytest.mark.parametrize("role", ["staff", "customer"])
def test_only_admins_read_the_log(store: Store, role: str) -> None:
    response = store.callers[role].request("GET", "/api/audit")

    assert_problem(response, 403, "forbidden")


def test_anonymous_callers_cannot_read_the_log(anonymous_client: TestClient) -> None:
    assert_problem(anonymous_client.get("/api/audit"), 401, "not_authenticated")
