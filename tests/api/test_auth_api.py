"""/api/auth over HTTP: sign-up, logging in for a token, logging out, who am I, throttling."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import CLIENT_POLICY
from ordermill.models import ApiToken, Customer, User, utcnow
from ordermill.services import accounts
from ordermill.web.app import create_app
from tests import factories
from tests.api.helpers import assert_money, assert_problem, error_fields
from tests.factories import PASSWORD


def log_in(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post("/api/auth/token", data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def whoami(client: TestClient, token: str) -> httpx.Response:
    return client.get("/api/auth/whoami", headers=bearer(token))


def token_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def app_client(database: Database, **settings: Any) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database.url, **settings), database)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def count(database: Database, model: type[Any]) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- sign-up


def test_signing_up_creates_a_customer_who_can_then_log_in_and_see_their_profile(
    anonymous_client: TestClient,
) -> None:
    response = anonymous_client.post(
        "/api/auth/signup",
        json={"name": "Grace Hopper", "email": "grace@example.com", "password": "cobol forever!"},
    )

    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/me"
    customer = response.json()
    assert customer["name"] == "Grace Hopper"
    assert customer["email"] == "grace@example.com"
    assert_money(customer["balance"], "0.00")
    assert "password" not in response.text

    token = token_of(log_in(anonymous_client, "grace@example.com", "cobol forever!"))
    me = anonymous_client.get("/api/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["id"] == customer["id"]
    who = whoami(anonymous_client, token).json()
    assert who["role"] == "customer"
    assert who["customer_id"] == customer["id"]


@pytest.fixture
def closed_store(database: Database) -> Iterator[TestClient]:
    """A store that has turned self-signup off."""
    yield from app_client(database, signup_enabled=False)


def test_a_store_with_signup_turned_off_refuses_sign_ups_with_403(
    closed_store: TestClient, database: Database
) -> None:
    response = closed_store.post(
        "/api/auth/signup",
        json={"name": "Grace", "email": "grace@example.com", "password": "cobol forever!"},
    )

    assert_problem(response, 403, "signup_disabled")
    assert count(database, Customer) == 0
    assert count(database, User) == 0


def test_signing_up_with_a_registered_email_is_a_409_and_creates_nothing(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.customer(database, email="taken@example.com")

    response = anonymous_client.post(
        "/api/auth/signup",
        json={"name": "Copy", "email": "Taken@Example.com", "password": "cobol forever!"},
    )

    assert_problem(response, 409, "email_taken")
    assert count(database, User) == 0


def test_signing_up_with_a_staff_members_email_is_a_409_and_creates_no_customer(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")

    response = anonymous_client.post(
        "/api/auth/signup",
        json={"name": "Clerk", "email": "clerk@example.com", "password": "cobol forever!"},
    )

    assert_problem(response, 409, "email_taken")
    assert count(database, Customer) == 0


def test_a_sign_up_password_shorter_than_10_characters_is_a_400_naming_the_field(
    anonymous_client: TestClient, database: Database
) -> None:
    response = anonymous_client.post(
        "/api/auth/signup",
        json={"name": "Brief", "email": "brief@example.com", "password": "123456789"},
    )

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {"password"}
    assert count(database, Customer) == 0


@pytest.mark.parametrize(
    "extra", [{"role": "admin"}, {"balance": "1000.00"}, {"customer_id": 1}, {"disabled": False}]
)
def test_a_sign_up_cannot_set_its_own_role_balance_or_link(
    anonymous_client: TestClient, database: Database, extra: dict[str, Any]
) -> None:
    body = {"name": "Mallory", "email": "mallory@example.com", "password": "cobol forever!"}

    response = anonymous_client.post("/api/auth/signup", json=body | extra)

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == set(extra)
    assert count(database, Customer) == 0
    assert count(database, User) == 0


# ---------------------------------------------------------------- logging in


def test_logging_in_returns_a_bearer_token_that_identifies_the_user(
    anonymous_client: TestClient, database: Database
) -> None:
    user_id = factories.user(database, role="staff", email="clerk@example.com")

    response = log_in(anonymous_client, "clerk@example.com", PASSWORD)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 8 * 60 * 60  # the default lifetime: 480 minutes
    assert response.headers["cache-control"] == "no-store"
    who = whoami(anonymous_client, body["access_token"])
    assert who.status_code == 200
    assert who.json() == {
        "user_id": user_id,
        "email": "clerk@example.com",
        "role": "staff",
        "customer_id": None,
    }


def test_the_login_email_is_matched_whatever_its_case(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")

    response = log_in(anonymous_client, "  Clerk@EXAMPLE.com", PASSWORD)

    assert response.status_code == 200, response.text


def test_logging_in_records_the_time_of_the_last_login(
    anonymous_client: TestClient, database: Database
) -> None:
    user_id = factories.user(database, email="clerk@example.com")
    before = utcnow()

    token_of(log_in(anonymous_client, "clerk@example.com", PASSWORD))

    with database.read() as session:
        last_login = accounts.get_user(session, user_id).last_login
    assert last_login is not None
    assert before <= last_login <= utcnow()


def test_a_login_token_is_stored_only_as_a_hash(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")

    token = token_of(log_in(anonymous_client, "clerk@example.com", PASSWORD))

    with database.read() as session:
        rows = session.execute(text("SELECT * FROM api_tokens")).all()
    assert len(rows) == 1
    assert token not in repr([tuple(row) for row in rows])
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def quarter_hour_tokens(database: Database) -> Iterator[TestClient]:
    """A store whose login tokens last 15 minutes."""
    yield from app_client(database, token_ttl_minutes=15)


def test_the_token_lifetime_comes_from_the_token_ttl_setting(
    quarter_hour_tokens: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    before = utcnow()

    response = log_in(quarter_hour_tokens, "clerk@example.com", PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 900
    with database.read() as session:
        expires = session.scalar(select(ApiToken.expires))
    assert expires is not None
    assert before + timedelta(minutes=15) <= expires <= utcnow() + timedelta(minutes=15)


def test_a_wrong_password_and_an_unknown_email_get_the_same_401(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")

    wrong_password = log_in(anonymous_client, "clerk@example.com", "not the password")
    unknown_email = log_in(anonymous_client, "nobody@example.com", PASSWORD)

    first = assert_problem(wrong_password, 401, "invalid_credentials")
    second = assert_problem(unknown_email, 401, "invalid_credentials")
    assert first == second
    assert wrong_password.headers["www-authenticate"] == "Bearer"
    assert unknown_email.headers["www-authenticate"] == "Bearer"


def test_a_username_that_is_no_email_is_a_401_not_a_400(anonymous_client: TestClient) -> None:
    response = log_in(anonymous_client, "root", PASSWORD)

    assert_problem(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "username",
    ["a" * 400 + "@example.com", "nul\x00@example.com"],
    ids=["longer than any email", "with a NUL character"],
)
def test_a_username_no_account_could_have_is_a_plain_401_on_every_database(
    anonymous_client: TestClient, username: str
) -> None:
    # Every failure is counted against the account's throttle key, so the
    # username must not break the write of that count (a 500 on PostgreSQL).
    response = log_in(anonymous_client, username, PASSWORD)

    assert_problem(response, 401, "invalid_credentials")


def test_a_login_without_a_password_field_is_a_400(anonymous_client: TestClient) -> None:
    response = anonymous_client.post("/api/auth/token", data={"username": "a@example.com"})

    assert_problem(response, 400, "validation_error")


def test_a_disabled_user_cannot_log_in_with_the_right_password(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="gone@example.com", disabled=True)

    response = log_in(anonymous_client, "gone@example.com", PASSWORD)

    assert_problem(response, 401, "invalid_credentials")
    assert count(database, ApiToken) == 0


def test_a_customer_login_works_the_same_way(
    anonymous_client: TestClient, database: Database
) -> None:
    customer_id, user_id = factories.customer_login(database)
    with database.read() as session:
        email = accounts.get_user(session, user_id).email

    token = token_of(log_in(anonymous_client, email, PASSWORD))

    assert whoami(anonymous_client, token).json()["customer_id"] == customer_id


# ---------------------------------------------------------------- using and ending a token


def test_whoami_without_a_token_is_a_401_asking_for_a_bearer_token(
    anonymous_client: TestClient,
) -> None:
    response = anonymous_client.get("/api/auth/whoami")

    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_made_up_token_is_a_401_even_on_a_public_route(anonymous_client: TestClient) -> None:
    response = anonymous_client.get("/api/products", headers=bearer("oms_made-up-token"))

    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"


def test_logging_out_revokes_the_token_at_once_but_not_the_users_other_tokens(
    anonymous_client: TestClient, database: Database
) -> None:
    user_id = factories.user(database)
    token = factories.token_for(database, user_id)
    other = factories.token_for(database, user_id)
    assert whoami(anonymous_client, token).status_code == 200

    response = anonymous_client.post("/api/auth/logout", headers=bearer(token))

    assert response.status_code == 204
    assert_problem(whoami(anonymous_client, token), 401, "invalid_token")
    assert_problem(
        anonymous_client.get("/api/customers", headers=bearer(token)), 401, "invalid_token"
    )
    assert whoami(anonymous_client, other).status_code == 200


def test_logging_out_twice_with_the_same_token_is_a_401_the_second_time(
    anonymous_client: TestClient, database: Database
) -> None:
    token = factories.token_for(database, factories.user(database))
    anonymous_client.post("/api/auth/logout", headers=bearer(token))

    response = anonymous_client.post("/api/auth/logout", headers=bearer(token))

    assert_problem(response, 401, "invalid_token")


def test_logging_out_without_a_token_is_a_401(anonymous_client: TestClient) -> None:
    response = anonymous_client.post("/api/auth/logout")

    assert_problem(response, 401, "not_authenticated")


def test_a_customer_can_log_out_too(anonymous_client: TestClient, database: Database) -> None:
    _, user_id = factories.customer_login(database)
    token = factories.token_for(database, user_id)

    assert anonymous_client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
    assert_problem(anonymous_client.get("/api/me", headers=bearer(token)), 401, "invalid_token")


def test_an_expired_token_is_refused_with_401(
    anonymous_client: TestClient, database: Database
) -> None:
    user_id = factories.user(database)
    with database.write() as session:
        expired = accounts.issue_token(
            session,
            accounts.get_user(session, user_id),
            kind=accounts.SESSION,
            ttl=timedelta(minutes=60),
            now=utcnow() - timedelta(minutes=61),
        )

    response = anonymous_client.get("/api/customers", headers=bearer(expired.token))

    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"


def test_disabling_a_user_stops_their_tokens_at_once(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database)
    token = factories.token_for(database, staff_id)
    assert anonymous_client.get("/api/customers", headers=bearer(token)).status_code == 200

    disabled = client.patch(f"/api/users/{staff_id}", json={"disabled": True})

    assert disabled.status_code == 200, disabled.text
    response = anonymous_client.get("/api/customers", headers=bearer(token))
    assert_problem(response, 401, "invalid_token")


def test_whoami_shows_a_customer_their_customer_id(
    anonymous_client: TestClient, database: Database
) -> None:
    customer_id, user_id = factories.customer_login(database)

    response = whoami(anonymous_client, factories.token_for(database, user_id))

    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == user_id
    assert body["role"] == "customer"
    assert body["customer_id"] == customer_id


# ---------------------------------------------------------------- throttling


def test_the_sixth_login_after_five_wrong_passwords_is_429_even_with_the_right_password(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    # One account, whatever case its email is typed in.
    typed = ["clerk@example.com", "Clerk@example.com", "CLERK@EXAMPLE.COM", " clerk@example.com"]
    for guess in [*typed, "clerk@Example.com"]:
        assert_problem(log_in(anonymous_client, guess, "wrong guess!"), 401, "invalid_credentials")

    response = log_in(anonymous_client, "clerk@example.com", PASSWORD)

    assert_problem(response, 429, "too_many_attempts")
    assert 1 <= int(response.headers["retry-after"]) <= 30
    assert "access_token" not in response.text


def test_a_blocked_account_does_not_block_another_account_from_the_same_address(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    factories.user(database, email="other@example.com")
    for _ in range(5):
        log_in(anonymous_client, "clerk@example.com", "wrong guess!")
    assert log_in(anonymous_client, "clerk@example.com", PASSWORD).status_code == 429

    response = log_in(anonymous_client, "other@example.com", PASSWORD)

    assert response.status_code == 200, response.text


def test_a_successful_login_resets_the_accounts_failure_count(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    for _ in range(4):
        log_in(anonymous_client, "clerk@example.com", "wrong guess!")
    assert log_in(anonymous_client, "clerk@example.com", PASSWORD).status_code == 200
    for _ in range(4):
        log_in(anonymous_client, "clerk@example.com", "wrong guess!")

    response = log_in(anonymous_client, "clerk@example.com", PASSWORD)

    assert response.status_code == 200, response.text


def test_the_twentieth_failure_from_one_address_blocks_it_even_for_an_unblocked_account(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    # Given 19 failures already counted against this address ("testclient" is
    # the address TestClient reports), each for a different account.
    _account_key, client_key = accounts.throttle_keys("anyone", "testclient")
    for _ in range(19):
        with database.write() as session:
            accounts.record_failure(session, client_key, CLIENT_POLICY)
    assert log_in(anonymous_client, "guess@example.com", PASSWORD).status_code == 401

    response = log_in(anonymous_client, "clerk@example.com", PASSWORD)

    assert_problem(response, 429, "too_many_attempts")
    assert 1 <= int(response.headers["retry-after"]) <= 60
