"""/api/users and /api/tokens over HTTP: admins manage logins and integration tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from ordermill.db import Database
from ordermill.models import User
from ordermill.services import accounts
from tests import factories
from tests.api.helpers import assert_problem, assert_utc_timestamp, error_fields, get_json
from tests.factories import PASSWORD

USER_KEYS = {"id", "email", "role", "customer_id", "disabled", "created", "last_login"}
TOKEN_KEYS = {"id", "user_id", "name", "created", "expires", "revoked"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_user(client: TestClient, token: str, method: str, url: str, **kw: Any) -> httpx.Response:
    """A request made with ``token`` instead of the client's admin token."""
    return client.request(method, url, headers=bearer(token), **kw)


def the_admin(client: TestClient) -> dict[str, Any]:
    """The admin the ``client`` fixture is signed in as."""
    who: dict[str, Any] = get_json(client, "/api/auth/whoami")
    return who


def user_row(database: Database, user_id: int) -> tuple[str, bool]:
    with database.read() as session:
        user = accounts.get_user(session, user_id)
        return user.role, user.disabled


def new_user(client: TestClient, email: str, role: str = "staff") -> dict[str, Any]:
    response = client.post(
        "/api/users", json={"email": email, "password": "a long password", "role": role}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def new_token(client: TestClient, user_id: int, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/users/{user_id}/tokens", json={"name": "shop sync"} | body)
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued


# ---------------------------------------------------------------- who may manage users


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"email": "x@example.com", "password": PASSWORD, "role": "admin"}),
        ("PATCH", "/api/users/1", {"role": "admin"}),
        ("GET", "/api/users/1/tokens", None),
        ("POST", "/api/users/1/tokens", {"name": "sneaky"}),
        ("DELETE", "/api/tokens/1", None),
        ("GET", "/api/audit", None),
    ],
)
def test_staff_and_customers_get_403_and_anonymous_callers_401_on_user_management(
    anonymous_client: TestClient,
    database: Database,
    method: str,
    url: str,
    body: dict[str, Any] | None,
) -> None:
    # User 1 is this staff member and token 1 their token: the targets they would like to hit.
    staff = factories.token_for(database, factories.user(database, role="staff"))
    _, customer_user = factories.customer_login(database)
    customer = factories.token_for(database, customer_user)

    for token in (staff, customer):
        response = as_user(anonymous_client, token, method, url, json=body)
        assert_problem(response, 403, "forbidden")
    anonymous = anonymous_client.request(method, url, json=body)

    assert_problem(anonymous, 401, "not_authenticated")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 2
        assert session.scalar(select(User.role).where(User.id == 1)) == "staff"
    assert as_user(anonymous_client, staff, "GET", "/api/orders").status_code == 200


# ---------------------------------------------------------------- listing and creating


def test_listing_users_shows_every_login_without_any_password_hash(
    client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database, role="staff", email="clerk@example.com")
    customer_id, customer_user = factories.customer_login(database)

    users = get_json(client, "/api/users")

    by_id = {user["id"]: user for user in users}
    assert set(by_id) == {the_admin(client)["user_id"], staff_id, customer_user}
    assert all(set(user) == USER_KEYS for user in users)
    assert by_id[staff_id]["email"] == "clerk@example.com"
    assert by_id[staff_id]["role"] == "staff"
    assert by_id[customer_user]["role"] == "customer"
    assert by_id[customer_user]["customer_id"] == customer_id
    assert "argon2" not in str(users)


def test_an_admin_creates_a_staff_login_whose_password_is_hashed_and_works(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    response = client.post(
        "/api/users",
        json={"email": "Clerk@Example.com", "password": "the clerk's secret", "role": "staff"},
    )

    assert response.status_code == 201, response.text
    user = response.json()
    assert response.headers["location"] == f"/api/users/{user['id']}"
    assert set(user) == USER_KEYS
    assert (user["email"], user["role"], user["disabled"]) == ("clerk@example.com", "staff", False)
    assert user["customer_id"] is None
    assert user["last_login"] is None
    assert_utc_timestamp(user["created"])
    with database.read() as session:
        stored = session.execute(text("SELECT * FROM users WHERE id = :id"), {"id": user["id"]})
        row = stored.one()
    assert row.password_hash.startswith("$argon2id$")
    assert "the clerk's secret" not in repr(tuple(row))
    login = anonymous_client.post(
        "/api/auth/token", data={"username": "clerk@example.com", "password": "the clerk's secret"}
    )
    assert login.status_code == 200, login.text


def test_an_admin_can_create_another_admin(client: TestClient, database: Database) -> None:
    user = new_user(client, "boss@example.com", role="admin")

    assert user_row(database, user["id"]) == ("admin", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "c@example.com", "password": PASSWORD, "role": "customer"}, "role"),
        ({"email": "c@example.com", "password": PASSWORD, "role": "root"}, "role"),
        ({"email": "c@example.com", "password": "too short", "role": "staff"}, "password"),
        ({"email": "not an email", "password": PASSWORD, "role": "staff"}, "email"),
        ({"email": "c@example.com", "role": "staff"}, "password"),
        (
            {"email": "c@example.com", "password": PASSWORD, "role": "staff", "disabled": True},
            "disabled",
        ),
        (
            {"email": "c@example.com", "password": PASSWORD, "role": "staff", "customer_id": 1},
            "customer_id",
        ),
    ],
)
def test_creating_a_user_with_a_bad_or_unknown_field_is_a_400_that_creates_nobody(
    client: TestClient, database: Database, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/users", json=body)

    problem = assert_problem(response, 400, "validation_error")
    assert field in error_fields(problem)
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1  # the admin


def test_creating_a_user_with_an_email_in_use_is_a_409(
    client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")

    response = client.post(
        "/api/users", json={"email": "CLERK@example.com", "password": PASSWORD, "role": "admin"}
    )

    assert_problem(response, 409, "email_taken")


# ---------------------------------------------------------------- disabling and roles


def test_disabling_a_staff_login_answers_the_user_and_stops_their_token(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database, role="staff")
    token = factories.token_for(database, staff_id)

    response = client.patch(f"/api/users/{staff_id}", json={"disabled": True})

    assert response.status_code == 200, response.text
    assert response.json()["disabled"] is True
    assert user_row(database, staff_id) == ("staff", True)
    assert_problem(as_user(anonymous_client, token, "GET", "/api/orders"), 401, "invalid_token")


def test_a_disabled_login_can_be_enabled_again_and_log_in(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database, email="clerk@example.com", disabled=True)

    response = client.patch(f"/api/users/{staff_id}", json={"disabled": False})

    assert response.status_code == 200, response.text
    assert response.json()["disabled"] is False
    login = anonymous_client.post(
        "/api/auth/token", data={"username": "clerk@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text


def test_promoting_staff_to_admin_takes_effect_on_their_current_token(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database, role="staff")
    token = factories.token_for(database, staff_id)
    assert as_user(anonymous_client, token, "GET", "/api/users").status_code == 403

    response = client.patch(f"/api/users/{staff_id}", json={"role": "admin"})

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert as_user(anonymous_client, token, "GET", "/api/users").status_code == 200


def test_an_admin_can_step_down_while_another_admin_remains(
    client: TestClient, database: Database
) -> None:
    me = the_admin(client)["user_id"]
    factories.user(database, role="admin")

    response = client.patch(f"/api/users/{me}", json={"role": "staff"})

    assert response.status_code == 200, response.text
    assert user_row(database, me) == ("staff", False)
    assert_problem(client.get("/api/users"), 403, "forbidden")


@pytest.mark.parametrize("change", [{"disabled": True}, {"role": "staff"}])
def test_the_last_enabled_admin_cannot_be_disabled_or_demoted(
    client: TestClient, database: Database, change: dict[str, Any]
) -> None:
    me = the_admin(client)["user_id"]
    factories.user(database, role="admin", disabled=True)  # doesn't count
    factories.user(database, role="staff")

    response = client.patch(f"/api/users/{me}", json=change)

    assert_problem(response, 409, "last_admin")
    assert user_row(database, me) == ("admin", False)
    assert client.get("/api/users").status_code == 200


def test_another_admin_can_be_disabled_while_the_caller_remains(
    client: TestClient, database: Database
) -> None:
    other = factories.user(database, role="admin")

    response = client.patch(f"/api/users/{other}", json={"disabled": True})

    assert response.status_code == 200, response.text
    assert user_row(database, other) == ("admin", True)


def test_a_customer_login_cannot_be_given_a_staff_role(
    client: TestClient, database: Database
) -> None:
    _, customer_user = factories.customer_login(database)

    response = client.patch(f"/api/users/{customer_user}", json={"role": "admin"})

    assert_problem(response, 409, "role_not_changeable")
    assert user_row(database, customer_user) == ("customer", False)


def test_a_customer_login_can_be_disabled(client: TestClient, database: Database) -> None:
    _, customer_user = factories.customer_login(database)

    response = client.patch(f"/api/users/{customer_user}", json={"disabled": True})

    assert response.status_code == 200, response.text
    assert user_row(database, customer_user) == ("customer", True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "customer"}, "role"),
        ({"email": "new@example.com"}, "email"),
        ({"password": "a new long password"}, "password"),
        ({"customer_id": 1}, "customer_id"),
    ],
)
def test_a_patch_may_only_change_disabled_and_a_staff_role(
    client: TestClient, database: Database, body: dict[str, Any], field: str
) -> None:
    staff_id = factories.user(database, role="staff")

    response = client.patch(f"/api/users/{staff_id}", json=body)

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {field}
    assert user_row(database, staff_id) == ("staff", False)


# ---------------------------------------------------------------- integration tokens


def test_a_new_api_token_is_shown_once_and_works_as_a_bearer_token(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database, role="staff", email="sync@example.com")

    response = client.post(f"/api/users/{staff_id}/tokens", json={"name": "shop sync"})

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    issued = response.json()
    assert set(issued) == TOKEN_KEYS | {"token"}
    assert issued["user_id"] == staff_id
    assert issued["name"] == "shop sync"
    assert issued["expires"] is None
    assert issued["revoked"] is None
    who = as_user(anonymous_client, issued["token"], "GET", "/api/auth/whoami")
    assert who.status_code == 200
    assert who.json()["email"] == "sync@example.com"
    with database.read() as session:
        stored = repr(session.execute(text("SELECT * FROM api_tokens")).all())
    assert issued["token"] not in stored


def test_listing_a_users_tokens_never_shows_the_token(
    client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database)
    first = new_token(client, staff_id, name="shop sync")
    second = new_token(client, staff_id, name="accounting", expires_in_days=30)
    factories.token_for(database, staff_id)  # a login session: not an integration token

    listed = get_json(client, f"/api/users/{staff_id}/tokens")

    assert [t["id"] for t in listed] == [first["id"], second["id"]]
    assert [t["name"] for t in listed] == ["shop sync", "accounting"]
    assert all(set(t) == TOKEN_KEYS for t in listed)
    text_of_list = str(listed)
    assert first["token"] not in text_of_list
    assert second["token"] not in text_of_list


def test_a_token_with_expires_in_days_expires_that_many_days_after_its_creation(
    client: TestClient, database: Database
) -> None:
    issued = new_token(client, factories.user(database), expires_in_days=30)

    created = assert_utc_timestamp(issued["created"])
    expires = assert_utc_timestamp(issued["expires"])
    assert expires - created == timedelta(days=30)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ok", "expires_in_days": 3651}, "expires_in_days"),
        ({"name": "ok", "token": "om_chosen-by-client"}, "token"),
    ],
)
def test_a_bad_token_request_is_a_400(
    client: TestClient, database: Database, body: dict[str, Any], field: str
) -> None:
    staff_id = factories.user(database)

    response = client.post(f"/api/users/{staff_id}/tokens", json=body)

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {field}
    assert get_json(client, f"/api/users/{staff_id}/tokens") == []


def test_a_token_name_with_a_nul_character_is_refused_not_a_server_error(
    client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database)

    response = client.post(f"/api/users/{staff_id}/tokens", json={"name": "shop\x00sync"})

    assert response.status_code in (201, 400), response.text


def test_revoking_a_token_stops_it_at_once_and_the_list_shows_when(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database)
    revoked = new_token(client, staff_id, name="old sync")
    kept = new_token(client, staff_id, name="new sync")

    response = client.delete(f"/api/tokens/{revoked['id']}")

    assert response.status_code == 204
    assert_problem(
        as_user(anonymous_client, revoked["token"], "GET", "/api/orders"), 401, "invalid_token"
    )
    assert as_user(anonymous_client, kept["token"], "GET", "/api/orders").status_code == 200
    listed = {t["id"]: t for t in get_json(client, f"/api/users/{staff_id}/tokens")}
    assert_utc_timestamp(listed[revoked["id"]]["revoked"])
    assert listed[kept["id"]]["revoked"] is None


def test_revoking_a_token_twice_is_harmless(client: TestClient, database: Database) -> None:
    issued = new_token(client, factories.user(database))
    client.delete(f"/api/tokens/{issued['id']}")
    first = get_json(client, f"/api/users/{issued['user_id']}/tokens")[0]["revoked"]

    response = client.delete(f"/api/tokens/{issued['id']}")

    assert response.status_code == 204
    assert get_json(client, f"/api/users/{issued['user_id']}/tokens")[0]["revoked"] == first


def test_an_admin_can_revoke_a_login_session_token_too(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database)
    token = factories.token_for(database, staff_id)
    with database.read() as session:
        token_id = accounts.resolve_token(session, token).token_id

    assert client.delete(f"/api/tokens/{token_id}").status_code == 204

    assert_problem(as_user(anonymous_client, token, "GET", "/api/orders"), 401, "invalid_token")


def test_a_disabled_users_api_token_stops_working_at_once(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    staff_id = factories.user(database)
    issued = new_token(client, staff_id)

    client.patch(f"/api/users/{staff_id}", json={"disabled": True})

    assert_problem(
        as_user(anonymous_client, issued["token"], "GET", "/api/orders"), 401, "invalid_token"
    )
