"""Who may open each back-office page and post each form, generated from the app's routes.

Like the API's authorization matrix, the expectations come from the route table:
every page route declares one permission (``page_requires``) and every POST route
checks the form's CSRF token (``CsrfChecked``). A visitor who is not signed in is
sent to the login page; staff get 403 where only admins may go; a form posted
without this browser's token is refused with 403 and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import ROLE_PERMISSIONS, Permission, Role
from ordermill.models import Base
from ordermill.services import accounts
from ordermill.services import processing as processing_service
from ordermill.web.app import create_app
from ordermill.web.pages.sessions import route_checks_csrf, route_is_public
from tests import factories
from tests.pages.forms import csrf_of

# Reachable without signing in: the login form itself.
PUBLIC_PAGES = {("GET", "/admin/login"), ("POST", "/admin/login")}


@dataclass(frozen=True)
class PageRoute:
    method: str
    path: str
    permission: Permission | None
    checks_csrf: bool
    public: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _permissions(dependant: Any) -> list[Permission]:
    found: list[Permission] = []
    pending = list(dependant.dependencies)
    while pending:
        dependency = pending.pop()
        permission = getattr(dependency.call, "permission", None)
        if permission is not None:
            found.append(permission)
        pending.extend(dependency.dependencies)
    return found


def page_routes(app: FastAPI, prefix: str = "/admin") -> list[PageRoute]:
    """The page routes under ``prefix`` (the back office's by default)."""
    routes = []
    for context in iter_route_contexts(app.routes):
        path = str(context.path)
        if not isinstance(context.original_route, APIRoute) or not path.startswith(prefix):
            continue
        permissions = _permissions(context.dependant)
        assert len(permissions) <= 1, (path, permissions)
        for method in sorted(context.methods or ()):
            routes.append(
                PageRoute(
                    method,
                    path,
                    permissions[0] if permissions else None,
                    route_checks_csrf(context.dependant),
                    route_is_public(context.dependant),
                )
            )
    return routes


def str_key(route: PageRoute) -> tuple[str, str]:
    return (route.method, route.path)


ROUTES = page_routes(create_app(Settings(database_url="sqlite://")))
GETS = [r for r in ROUTES if r.method == "GET" and str_key(r) not in PUBLIC_PAGES]
POSTS = [r for r in ROUTES if r.method == "POST"]


def test_every_page_route_but_the_login_declares_its_permission() -> None:
    undeclared = [str(r) for r in ROUTES if r.permission is None and str_key(r) not in PUBLIC_PAGES]

    assert undeclared == []


def test_every_form_post_checks_the_csrf_token() -> None:
    assert POSTS, "the back office has forms"
    assert [str(r) for r in POSTS if not r.checks_csrf] == []


def test_pages_answer_only_get_and_post() -> None:
    assert {r.method for r in ROUTES} <= {"GET", "POST"}


# ---------------------------------------------------------------- the objects paths name


@pytest.fixture
def sample(database: Database) -> dict[str, str]:
    """One of each object a page path can name, for filling in its parameters."""
    customer_id, customer_user = factories.customer_login(database, balance=500_00)
    product_id = factories.product(database, stock=50)
    order_id = factories.order(database, customer_id, (product_id, 2))
    with database.write() as session:
        order = processing_service.process_order(session, order_id)  # charged: paid
        user = accounts.get_user(session, customer_user)
        token = accounts.issue_token(session, user, kind=accounts.API, ttl=None, name="sample")
    return {
        "ref": order.number or str(order.id),
        "order_id": str(order.id),
        "customer_id": str(customer_id),
        "product_id": str(product_id),
        "user_id": str(customer_user),
        "token_id": str(token.token_id),
    }


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: what a refused post must leave exactly as it was."""
    with database.read() as session:
        return {
            table.name: sorted(
                (tuple(map(repr, row)) for row in session.execute(select(table))), key=repr
            )
            for table in Base.metadata.sorted_tables
        }


def fill(path: str, sample: dict[str, str]) -> str:
    filled = path
    for name, value in sample.items():
        filled = filled.replace("{" + name + "}", value)
    assert "{" not in filled, f"add the object {filled!r} names to the sample fixture"
    return filled


def _client(database: Database) -> TestClient:
    app = create_app(Settings(database_url=database.url), database)
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def _signed_in(database: Database, role: Role) -> TestClient:
    email = f"{role.value}-matrix@example.com"
    factories.user(database, role=role.value, email=email)
    client = _client(database)
    page = client.get("/admin/login").text
    response = client.post(
        "/admin/login",
        data={"email": email, "password": factories.PASSWORD, "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 303, response.text
    return client


@pytest.mark.parametrize("route", GETS, ids=str)
def test_a_visitor_who_is_not_signed_in_is_sent_to_the_login(
    route: PageRoute, database: Database, sample: dict[str, str]
) -> None:
    with _client(database) as visitor:
        path = fill(route.path, sample)
        response = visitor.get(path)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
@pytest.mark.parametrize("route", GETS, ids=str)
def test_each_page_opens_for_the_roles_its_permission_names_and_is_403_for_the_others(
    route: PageRoute, role: Role, database: Database, sample: dict[str, str]
) -> None:
    assert route.permission is not None
    with _signed_in(database, role) as browser:
        response = browser.get(fill(route.path, sample))

    expected = 200 if route.permission in ROLE_PERMISSIONS[role] else 403
    assert response.status_code == expected, response.text[:400]
    assert response.headers["content-type"].startswith(
        ("text/html", "text/csv", "application/pdf", "image/svg+xml")
    )


def test_a_customers_session_does_not_open_the_back_office(
    database: Database, sample: dict[str, str]
) -> None:
    with database.write() as session:
        user = accounts.get_user(session, int(sample["user_id"]))
        issued = accounts.issue_token(session, user, kind=accounts.SESSION, ttl=None)
    with _client(database) as browser:
        browser.cookies.set("ordermill_admin", issued.token)
        answers = {str(r): browser.get(fill(r.path, sample)).status_code for r in GETS}

    assert set(answers.values()) <= {303}, answers


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
@pytest.mark.parametrize("route", POSTS, ids=str)
def test_a_form_post_without_the_browsers_token_is_refused(
    route: PageRoute, role: Role, database: Database, sample: dict[str, str]
) -> None:
    with _signed_in(database, role) as browser:
        before = snapshot(database)
        without = browser.post(fill(route.path, sample), data={})
        wrong = browser.post(fill(route.path, sample), data={"csrf_token": "f" * 64})

    assert without.status_code == 403
    assert wrong.status_code == 403
    assert "Nothing was changed" in without.text
    assert snapshot(database) == before


ADMIN_ONLY_POSTS = [
    r
    for r in POSTS
    if str_key(r) not in PUBLIC_PAGES and r.permission not in ROLE_PERMISSIONS[Role.STAFF]
]


@pytest.mark.parametrize("route", ADMIN_ONLY_POSTS, ids=str)
def test_staff_posting_a_form_only_admins_may_use_get_403_with_a_valid_token(
    route: PageRoute, database: Database, sample: dict[str, str]
) -> None:
    with _signed_in(database, Role.STAFF) as browser:
        token = csrf_of(browser.get("/admin/not-a-page").text)
        before = snapshot(database)
        response = browser.post(fill(route.path, sample), data={"csrf_token": token})

    assert response.status_code == 403
    assert snapshot(database) == before
