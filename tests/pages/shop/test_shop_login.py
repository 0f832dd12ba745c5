"""Customers log in to the storefront at /login and out again; staff are sent to theirs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ordermill.db import Database
from ordermill.services import catalog
from ordermill.web.pages.sessions import CUSTOMER, STAFF
from tests import factories
from tests.pages.forms import csrf_of, flashes, shop_log_in, submit, text_of
from tests.pages.shop.conftest import Shopper


def _customer_email(database: Database) -> str:
    customer_id, _ = factories.customer_login(database)
    with database.read() as session:
        return catalog.get_customer(session, customer_id).email


def test_a_customer_logs_in_and_lands_where_they_were_going(
    visitor: TestClient, database: Database
) -> None:
    email = _customer_email(database)

    response = submit(
        visitor,
        "/login?next=/account/orders",
        "/login",
        {"email": email, "password": factories.PASSWORD, "next": "/account/orders"},
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/account/orders"
    cookie = response.headers["set-cookie"]
    assert f"{CUSTOMER.cookie}=" in cookie
    assert "httponly" in cookie.lower()
    assert STAFF.cookie not in cookie


def test_a_wrong_password_shows_the_form_again_with_the_reason(
    visitor: TestClient, database: Database
) -> None:
    email = _customer_email(database)

    response = shop_log_in(visitor, email, "not the password")

    assert response.status_code == 400
    assert "Email or password is wrong." in text_of(response.text)
    assert CUSTOMER.cookie not in response.headers.get("set-cookie", "")


def test_a_staff_member_is_told_to_use_the_back_office_and_gets_no_session(
    visitor: TestClient, database: Database
) -> None:
    factories.user(database, role="staff", email="clerk@example.com")

    response = shop_log_in(visitor, "clerk@example.com")

    assert response.status_code == 400
    assert "staff log in to the back office at /admin/login" in text_of(response.text)
    assert CUSTOMER.cookie not in response.headers.get("set-cookie", "")


def test_login_never_sends_the_customer_to_another_site(
    visitor: TestClient, database: Database
) -> None:
    email = _customer_email(database)

    response = submit(
        visitor,
        "/login",
        "/login",
        {"email": email, "password": factories.PASSWORD, "next": "//evil.example/"},
    )

    assert response.headers["location"] == CUSTOMER.home_path


def test_logging_out_ends_the_session_everywhere(customer: Shopper, database: Database) -> None:
    cookie = customer.browser.cookies.get(CUSTOMER.cookie)
    assert cookie

    token = csrf_of(customer.browser.get("/account/no-such-page").text)

    response = customer.browser.post("/logout", data={"csrf_token": token})

    assert response.status_code == 303
    assert ("ok", "You are logged out.") in flashes(customer.browser.get("/login").text)
    customer.browser.cookies.set(CUSTOMER.cookie, cookie)  # a copy kept somewhere
    assert customer.browser.get("/login").status_code == 200  # the form, not "signed in"
