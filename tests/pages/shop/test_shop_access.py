"""Who may open each storefront page and post each form, generated from the app's routes.

Every storefront route is either open to everyone on purpose (``page_visitor``, or one
of the sign-in forms) or needs a signed-in customer (``page_requires`` with the
customer audience). Someone who is not signed in is sent to ``/login``; a staff
session is not a customer's; every form post checks this browser's CSRF token, and
one without it is refused with 403 and changes nothing.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.services import processing as processing_service
from ordermill.web.app import create_app
from ordermill.web.pages.sessions import CUSTOMER
from tests import factories
from tests.pages.forms import csrf_of
from tests.pages.shop.conftest import Shopper
from tests.pages.test_page_access import PageRoute, fill, page_routes, snapshot, str_key

# The forms someone who is not signed in must reach: signing in, up, and resetting.
SIGN_IN_FORMS = {
    (method, path)
    for path in ("/login", "/signup", "/forgot-password", "/reset-password")
    for method in ("GET", "POST")
}

ROUTES = [
    r
    for r in page_routes(create_app(Settings(database_url="sqlite://")), prefix="/")
    if not r.path.startswith(("/admin", "/api", "/docs", "/redoc", "/openapi", "/health"))
]
OPEN = [r for r in ROUTES if r.public or str_key(r) in SIGN_IN_FORMS]
CLOSED = [r for r in ROUTES if r not in OPEN]
GETS = [r for r in CLOSED if r.method == "GET"]
POSTS = [r for r in ROUTES if r.method == "POST"]


def test_the_storefront_has_the_pages_the_customer_needs() -> None:
    paths = {r.path for r in ROUTES}

    assert {"/login", "/logout"} <= paths


def test_every_storefront_route_is_either_open_on_purpose_or_needs_a_customer() -> None:
    undeclared = [str(r) for r in CLOSED if r.permission is None]
    staff_only = [str(r) for r in CLOSED if r.permission is not Permission.SELF_SERVICE]

    assert undeclared == []
    assert staff_only == []


def test_every_storefront_form_post_checks_the_csrf_token() -> None:
    assert [str(r) for r in POSTS if not r.checks_csrf] == []


def test_storefront_pages_answer_only_get_and_post() -> None:
    assert {r.method for r in ROUTES} <= {"GET", "POST"}


@pytest.fixture
def sample(database: Database, customer: Shopper) -> dict[str, str]:
    """One of each object a storefront path can name, all the signed-in customer's own."""
    product_id = factories.product(database, stock=50)
    order_id = factories.order(database, customer.customer_id, (product_id, 2))
    with database.write() as session:
        order = processing_service.process_order(session, order_id)  # charged: paid
    return {"number": str(order.number), "product_id": str(product_id)}


@pytest.mark.parametrize("route", GETS, ids=str)
def test_someone_not_signed_in_is_sent_to_the_login_and_back(
    route: PageRoute, visitor: TestClient, sample: dict[str, str]
) -> None:
    path = fill(route.path, sample)

    response = visitor.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize("route", [r for r in OPEN if r.method == "GET"], ids=str)
def test_open_pages_open_for_someone_not_signed_in(
    route: PageRoute, visitor: TestClient, sample: dict[str, str]
) -> None:
    response = visitor.get(fill(route.path, sample))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.method == "GET"], ids=str)
def test_each_page_opens_for_a_signed_in_customer(
    route: PageRoute, customer: Shopper, sample: dict[str, str]
) -> None:
    response = customer.browser.get(fill(route.path, sample))

    assert response.status_code in (200, 303), response.text[:400]
    if response.status_code == 303:  # a sign-in form sends a signed-in customer on
        assert str_key(route) in SIGN_IN_FORMS


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_a_staff_session_is_not_a_customers(
    role: str, database: Database, sample: dict[str, str]
) -> None:
    user_id = factories.user(database, role=role, email=f"{role}-shop@example.com")
    token = factories.token_for(database, user_id)
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as browser:
        browser.cookies.set(CUSTOMER.cookie, token)
        answers = {str(r): browser.get(fill(r.path, sample)).status_code for r in GETS}

    assert set(answers.values()) <= {303}, answers


def test_a_customers_session_on_the_back_office_gets_the_staff_login(
    customer: Shopper,
) -> None:
    response = customer.browser.get("/admin")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")


@pytest.mark.parametrize("route", POSTS, ids=str)
def test_a_form_post_without_the_browsers_token_is_refused_and_changes_nothing(
    route: PageRoute, database: Database, customer: Shopper, sample: dict[str, str]
) -> None:
    before = snapshot(database)
    without = customer.browser.post(fill(route.path, sample), data={})
    wrong = customer.browser.post(fill(route.path, sample), data={"csrf_token": "f" * 64})

    assert without.status_code == 403
    assert wrong.status_code == 403
    assert "Nothing was changed" in without.text
    assert snapshot(database) == before


def test_the_token_of_one_customers_browser_is_refused_in_anothers(
    database: Database, customer: Shopper, other_customer: Shopper
) -> None:
    token = csrf_of(customer.browser.get("/account/no-such-page").text)
    before = snapshot(database)

    response = other_customer.browser.post("/logout", data={"csrf_token": token})

    assert response.status_code == 403
    assert snapshot(database) == before  # the session was not revoked
