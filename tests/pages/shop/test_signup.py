"""Visitors create their account at /signup and are signed in to it; refusals keep the form."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.models import Customer, User
from ordermill.web.app import create_app
from ordermill.web.pages.sessions import CUSTOMER
from tests import factories
from tests.pages.forms import csrf_of, flashes, follow, shop_log_in, submit, text_of
from tests.pages.shop.conftest import Shopper
from tests.pages.test_page_access import snapshot

SECRET = "cobol forever!"


def sign_up(client: TestClient, page: str = "/signup", **fields: str) -> httpx.Response:
    data = {"name": "Grace Hopper", "email": "grace@example.com", "password": SECRET, **fields}
    return submit(client, page, "/signup", data)


def accounts_of(database: Database) -> list[tuple[Any, ...]]:
    """(customer name, email, phone, balance, login email, role) of every customer."""
    with database.read() as session:
        rows = session.execute(
            select(
                Customer.name,
                Customer.email,
                Customer.phone,
                Customer.balance,
                User.email,
                User.role,
            )
            .outerjoin(User, User.customer_id == Customer.id)
            .order_by(Customer.id)
        )
        return [tuple(row) for row in rows]


def test_signing_up_creates_one_customer_with_a_login_and_signs_them_in(
    visitor: TestClient, database: Database
) -> None:
    response = sign_up(visitor, email="Grace@Example.com", phone="+1 (555) 010-2030")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert f"{CUSTOMER.cookie}=" in response.headers["set-cookie"]
    assert accounts_of(database) == [
        ("Grace Hopper", "grace@example.com", "+15550102030", 0, "grace@example.com", "customer")
    ]
    landed = follow(visitor, response)
    assert ("ok", "Welcome, Grace Hopper: your account is ready.") in flashes(landed.text)
    account = visitor.get("/account")
    assert account.status_code == 200
    assert "grace@example.com" in text_of(account.text)


def test_the_new_password_logs_in_and_is_stored_only_as_a_hash(
    visitor: TestClient, database: Database
) -> None:
    sign_up(visitor)

    with database.read() as session:
        stored = session.scalar(select(User.password_hash))
    assert stored is not None
    assert stored.startswith("$argon2")
    visitor.cookies.clear()
    assert shop_log_in(visitor, "grace@example.com", SECRET).status_code == 303


def test_a_new_customer_goes_on_to_where_they_were_going(visitor: TestClient) -> None:
    response = sign_up(visitor, "/signup?next=/cart", next="/cart")

    assert response.headers["location"] == "/cart"


def test_a_next_on_another_site_is_ignored_for_the_catalogue(visitor: TestClient) -> None:
    response = sign_up(visitor, next="//evil.example/")

    assert response.headers["location"] == "/"


def test_a_taken_email_is_refused_in_the_apis_words_and_nothing_is_created(
    visitor: TestClient, database: Database
) -> None:
    factories.customer(database, email="taken@example.com")
    before = snapshot(database)

    response = sign_up(visitor, name="Copy Cat", email="Taken@Example.com")

    assert response.status_code == 409
    page = text_of(response.text)
    assert "A customer with email taken@example.com already exists." in page
    assert 'value="Copy Cat"' in response.text
    assert SECRET not in response.text
    assert CUSTOMER.cookie not in response.headers.get("set-cookie", "")
    assert snapshot(database) == before


def test_a_staff_members_email_is_taken_too(visitor: TestClient, database: Database) -> None:
    factories.user(database, role="staff", email="clerk@example.com")
    before = snapshot(database)

    response = sign_up(visitor, email="clerk@example.com")

    assert response.status_code == 409
    assert "A user with email clerk@example.com already exists." in text_of(response.text)
    assert snapshot(database) == before


def test_a_weak_password_is_refused_next_to_its_field_and_not_shown_again(
    visitor: TestClient, database: Database
) -> None:
    before = snapshot(database)

    response = sign_up(visitor, password="123456789")

    assert response.status_code == 400
    assert '<p class="field-error" id="password-error">Use at least 10 characters.</p>' in (
        response.text
    )
    assert "123456789" not in response.text
    assert 'value="grace@example.com"' in response.text
    assert snapshot(database) == before


def test_a_phone_number_that_is_not_one_is_refused_in_words(
    visitor: TestClient, database: Database
) -> None:
    before = snapshot(database)

    response = sign_up(visitor, phone="call me maybe")

    assert response.status_code == 400
    assert 'id="phone-error"' in response.text
    assert "+" in text_of(response.text).split("Create account")[0]  # says what it accepts
    assert 'value="call me maybe"' in response.text
    assert snapshot(database) == before


def test_too_long_a_name_and_no_email_are_refused_field_by_field(
    visitor: TestClient, database: Database
) -> None:
    before = snapshot(database)

    response = sign_up(visitor, name="G" * 201, email="")

    assert response.status_code == 400
    assert '<p class="field-error" id="name-error">Use at most 200 characters.</p>' in (
        response.text
    )
    assert '<p class="field-error" id="email-error">Fill this in.</p>' in response.text
    assert snapshot(database) == before


def test_the_same_form_sent_twice_creates_one_account(
    visitor: TestClient, database: Database
) -> None:
    token = csrf_of(visitor.get("/signup").text)
    data = {"name": "Grace", "email": "grace@example.com", "password": SECRET}

    first = visitor.post("/signup", data={**data, "csrf_token": token})
    visitor.cookies.delete(CUSTOMER.cookie)  # the second click left before the first answered
    second = visitor.post("/signup", data={**data, "csrf_token": token})

    assert first.status_code == 303
    assert second.status_code == 409
    assert len(accounts_of(database)) == 1


def test_a_signed_in_customer_is_sent_to_their_account(customer: Shopper) -> None:
    response = customer.browser.get("/signup")

    assert response.status_code == 303
    assert response.headers["location"] == "/account"


def test_a_store_without_sign_ups_says_so_and_creates_nothing(database: Database) -> None:
    settings = Settings(database_url=database.url, signup_enabled=False)
    app = create_app(settings, database)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as browser:
        opened = browser.get("/signup")
        token = csrf_of(browser.get("/login").text)
        data = {"name": "Grace", "email": "grace@example.com", "password": SECRET}
        posted = browser.post("/signup", data={**data, "csrf_token": token})

    assert opened.status_code == 403
    assert "This store does not take sign-ups." in text_of(opened.text)
    assert posted.status_code == 403
    assert accounts_of(database) == []
