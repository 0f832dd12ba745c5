"""Staff log in to the back office with a form; the session is a cookie checked on every process."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import accounts
from ordermill.web.app import create_app
from tests import factories
from tests.pages.forms import csrf_of, flashes, follow, log_in, text_of


def _cookie(response_headers: list[str], name: str) -> SimpleCookie:
    for header in response_headers:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no Set-Cookie for {name}: {response_headers}")


def test_the_login_page_opens_for_a_visitor_and_leads_to_the_dashboard(
    visitor: TestClient, database: Database
) -> None:
    factories.user(database, role="staff", email="ann@example.com")

    asked = visitor.get("/admin/login?next=/admin/login%3Fx%3D1")
    sent_away = visitor.get("/admin/logout")

    assert asked.status_code == 200
    assert sent_away.status_code == 405  # logging out is a form post
    landed = log_in(visitor, "ann@example.com")
    assert landed.status_code == 303
    assert landed.headers["location"] == "/admin"


def test_the_login_form_takes_email_and_password_and_sets_a_protected_session_cookie(
    visitor: TestClient, database: Database
) -> None:
    factories.user(database, role="admin", email="boss@example.com")

    response = log_in(visitor, "boss@example.com")

    cookie = _cookie(response.headers.get_list("set-cookie"), "ordermill_admin")["ordermill_admin"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "lax"
    assert cookie["path"] == "/"
    assert int(cookie["max-age"]) == 480 * 60  # expires with ORDERMILL_TOKEN_TTL_MINUTES
    assert not cookie["secure"]  # plain HTTP here; see the HTTPS test


def test_over_https_the_session_cookie_is_secure(database: Database) -> None:
    factories.user(database, role="staff", email="tls@example.com")
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, base_url="https://shop.example", follow_redirects=False) as browser:
        response = log_in(browser, "tls@example.com")

    cookie = _cookie(response.headers.get_list("set-cookie"), "ordermill_admin")["ordermill_admin"]
    assert cookie["secure"] is True


def test_a_customer_account_is_told_it_is_not_a_staff_account_and_gets_no_session(
    visitor: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, email="cust@example.com")
    factories.user(database, role="customer", customer_id=customer_id, email="cust@example.com")

    response = log_in(visitor, "cust@example.com")

    assert response.status_code == 400
    assert "not a staff account" in text_of(response.text)
    assert "ordermill_admin" not in response.headers.get("set-cookie", "")
    assert visitor.get("/admin/login").status_code == 200  # still not signed in


@pytest.mark.parametrize(
    ("email", "password"),
    [("staff-x@example.com", "wrong password"), ("nobody@example.com", factories.PASSWORD)],
)
def test_a_wrong_email_or_password_says_so_alike_and_keeps_the_email(
    visitor: TestClient, database: Database, email: str, password: str
) -> None:
    factories.user(database, role="staff", email="staff-x@example.com")

    response = log_in(visitor, email, password)

    assert response.status_code == 400
    assert "Email or password is wrong." in text_of(response.text)
    assert f'value="{email}"' in response.text


def test_repeated_failures_are_throttled_like_the_api_login(
    visitor: TestClient, database: Database
) -> None:
    factories.user(database, role="staff", email="target@example.com")
    statuses = [log_in(visitor, "target@example.com", "guess").status_code for _ in range(12)]

    assert statuses[0] == 400
    assert statuses[-1] == 429
    refused = log_in(visitor, "target@example.com")  # even the right password, for now
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0


def test_logging_out_revokes_the_session_at_once(staff: TestClient) -> None:
    cookie = staff.cookies["ordermill_admin"]

    logout = staff.post(
        "/admin/logout", data={"csrf_token": csrf_of(staff.get("/admin/nothing-here").text)}
    )
    staff.cookies.set("ordermill_admin", cookie)  # a copy of the cookie kept from before
    again = staff.get("/admin/login")

    assert logout.status_code == 303
    assert again.status_code == 200  # the login form: the session is gone


def test_disabling_a_user_ends_their_sessions_on_every_server_process(
    database: Database,
) -> None:
    user_id = factories.user(database, role="staff", email="leaver@example.com")
    one = create_app(Settings(database_url=database.url), database)
    other = create_app(Settings(database_url=database.url), database)
    with (
        TestClient(one, follow_redirects=False) as first,
        TestClient(other, follow_redirects=False) as second,
    ):
        assert log_in(first, "leaver@example.com").status_code == 303
        second.cookies.set("ordermill_admin", first.cookies["ordermill_admin"])
        assert second.get("/admin/login").status_code == 303  # the same session serves both

        with database.write() as session:
            accounts.set_disabled(session, accounts.get_user(session, user_id), True)

        assert first.get("/admin/login").status_code == 200
        assert second.get("/admin/login").status_code == 200


def test_an_expired_session_asks_for_the_login_again(database: Database) -> None:
    user_id = factories.user(database, role="staff")
    app = create_app(Settings(database_url=database.url), database)
    with database.write() as session:
        issued = accounts.open_session(session, user_id, ttl=timedelta(seconds=-1))
    with TestClient(app, follow_redirects=False) as browser:
        browser.cookies.set("ordermill_admin", issued.token)

        assert browser.get("/admin/login").status_code == 200


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_after_the_login_a_visitor_goes_only_to_a_page_of_this_site(
    visitor: TestClient, database: Database, target: str
) -> None:
    factories.user(database, role="staff", email="nav@example.com")
    page = visitor.get("/admin/login", params={"next": target}).text

    response = visitor.post(
        "/admin/login",
        data={
            "email": "nav@example.com",
            "password": factories.PASSWORD,
            "next": target,
            "csrf_token": csrf_of(page),
        },
    )

    assert response.headers["location"] == "/admin"


def test_logging_out_says_so(staff: TestClient) -> None:
    page = staff.get("/admin/login?next=/admin/login")
    assert page.status_code == 303  # signed in: the login page sends staff on
    token = csrf_of(staff.get("/admin/nothing").text)

    landed = follow(staff, staff.post("/admin/logout", data={"csrf_token": token}))

    assert ("ok", "You are logged out.") in flashes(landed.text)
