"""Password resets over HTTP: asking for a link, setting a new password with it, claiming
an account the store created, and the throttle on asking."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import Row, insert, select

from ordermill.db import Database
from ordermill.models import OutboxEvent, User, utcnow
from ordermill.services import accounts
from ordermill.services.password_resets import ADDRESS_POLICY, CLIENT_POLICY
from ordermill.services.tables import audit_log, password_resets
from tests import factories
from tests.api.helpers import assert_problem, error_fields
from tests.factories import PASSWORD

SENT = {"status": "If an account exists for this address, we sent a link to it."}
NEW_PASSWORD = "a brand new secret"


def ask(client: TestClient, email: str) -> httpx.Response:
    return client.post("/api/auth/password-reset", json={"email": email})


def confirm(client: TestClient, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": password}
    )


def log_in(client: TestClient, email: str, password: str) -> httpx.Response:
    return client.post("/api/auth/token", data={"username": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def resets(database: Database) -> list[Row[Any]]:
    with database.read() as session:
        return list(session.execute(select(password_resets).order_by(password_resets.c.id)))


def audit_entries(database: Database, action: str) -> list[tuple[Any, ...]]:
    """(user_id, entity, entity_id, detail) of each audit entry of ``action``."""
    with database.read() as session:
        rows = session.execute(
            select(
                audit_log.c.user_id, audit_log.c.entity, audit_log.c.entity_id, audit_log.c.detail
            )
            .where(audit_log.c.action == action)
            .order_by(audit_log.c.id)
        )
        return [tuple(row) for row in rows]


def reset_events(database: Database) -> list[dict[str, Any]]:
    with database.read() as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.type == "account.password_reset")
            .order_by(OutboxEvent.id)
        )
        return [row.data for row in rows]


def token_sent_to(client: TestClient, database: Database, email: str) -> str:
    """Ask for a link for ``email``; the token its message carries."""
    assert ask(client, email).status_code == 202
    data = reset_events(database)[-1]
    assert data["email"] == email
    token: str = data["token"]
    return token


def insert_reset(database: Database, email: str, token: str, expires: datetime) -> None:
    with database.write() as session:
        session.execute(
            insert(password_resets).values(
                email=email,
                token_hash=accounts.token_digest(token),
                created=expires - timedelta(hours=1),
                expires=expires,
            )
        )


# ---------------------------------------------------------------- asking for a link


def test_a_known_an_unknown_and_a_disabled_address_get_the_same_answer_and_only_the_known_a_link(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    factories.user(database, email="gone@example.com", disabled=True)

    answers = [
        ask(anonymous_client, email)
        for email in ("clerk@example.com", "nobody@example.com", "gone@example.com")
    ]

    for answer in answers:
        assert answer.status_code == 202, answer.text
        assert answer.json() == SENT
    assert len({answer.content for answer in answers}) == 1
    rows = resets(database)
    assert [row.email for row in rows] == ["clerk@example.com"]
    events = reset_events(database)
    assert len(events) == 1
    assert events[0]["email"] == "clerk@example.com"
    assert hashlib.sha256(events[0]["token"].encode()).hexdigest() == rows[0].token_hash


def test_the_link_expires_after_the_configured_minutes_and_the_event_says_when(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    before = utcnow()

    ask(anonymous_client, "Clerk@Example.com")

    (row,) = resets(database)
    assert row.used is None
    assert before + timedelta(minutes=60) <= row.expires <= utcnow() + timedelta(minutes=60)
    expires = datetime.fromisoformat(reset_events(database)[0]["expires"])
    assert expires == row.expires
    assert expires.utcoffset() == timedelta(0)


def test_a_customer_login_gets_a_link_addressed_by_the_customers_name(
    anonymous_client: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, name="Ada Lovelace", email="ada@example.com")
    factories.user(database, role="customer", customer_id=customer_id, email="ada@example.com")

    ask(anonymous_client, "ada@example.com")

    (data,) = reset_events(database)
    assert data["name"] == "Ada Lovelace"
    assert set(data) == {"email", "name", "token", "expires"}


# ---------------------------------------------------------------- setting the password


def test_the_link_sets_the_password_and_revokes_every_session_and_api_token(
    anonymous_client: TestClient, database: Database
) -> None:
    user_id = factories.user(database, email="clerk@example.com")
    session_token = factories.token_for(database, user_id)
    with database.write() as session:
        api_token = accounts.issue_token(
            session, accounts.get_user(session, user_id), kind=accounts.API, ttl=None, name="erp"
        ).token
    token = token_sent_to(anonymous_client, database, "clerk@example.com")

    response = confirm(anonymous_client, token)

    assert response.status_code == 204, response.text
    assert log_in(anonymous_client, "clerk@example.com", NEW_PASSWORD).status_code == 200
    assert log_in(anonymous_client, "clerk@example.com", PASSWORD).status_code == 401
    for old in (session_token, api_token):
        whoami = anonymous_client.get("/api/auth/whoami", headers=bearer(old))
        assert_problem(whoami, 401, "invalid_token")
    assert audit_entries(database, "user.password_reset") == [
        (user_id, "user", user_id, {"claimed": False})
    ]


def test_a_used_link_does_not_work_a_second_time(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    token = token_sent_to(anonymous_client, database, "clerk@example.com")
    assert confirm(anonymous_client, token).status_code == 204

    again = confirm(anonymous_client, token, "yet another secret")

    assert_problem(again, 400, "invalid_reset_token")
    assert log_in(anonymous_client, "clerk@example.com", NEW_PASSWORD).status_code == 200


def test_an_expired_link_is_refused_and_changes_nothing(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    insert_reset(database, "clerk@example.com", "old-link", utcnow() - timedelta(seconds=1))

    response = confirm(anonymous_client, "old-link")

    assert_problem(response, 400, "invalid_reset_token")
    assert log_in(anonymous_client, "clerk@example.com", PASSWORD).status_code == 200
    assert resets(database)[0].used is None


def test_an_unknown_token_is_refused(anonymous_client: TestClient, database: Database) -> None:
    assert_problem(confirm(anonymous_client, "made-up"), 400, "invalid_reset_token")


def test_a_weak_password_gets_the_sign_up_error_and_the_link_still_works_afterwards(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    token = token_sent_to(anonymous_client, database, "clerk@example.com")

    weak = confirm(anonymous_client, token, "123456789")

    problem = assert_problem(weak, 400, "validation_error")
    assert error_fields(problem) == {"password"}
    assert log_in(anonymous_client, "clerk@example.com", PASSWORD).status_code == 200
    assert confirm(anonymous_client, token).status_code == 204


def test_setting_the_password_uses_up_every_other_link_for_the_address(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    first = token_sent_to(anonymous_client, database, "clerk@example.com")
    second = token_sent_to(anonymous_client, database, "clerk@example.com")

    assert confirm(anonymous_client, second).status_code == 204

    assert_problem(confirm(anonymous_client, first), 400, "invalid_reset_token")
    assert all(row.used is not None for row in resets(database))


def test_a_link_of_a_user_disabled_since_it_was_sent_is_refused(
    anonymous_client: TestClient, database: Database
) -> None:
    user_id = factories.user(database, email="clerk@example.com")
    token = token_sent_to(anonymous_client, database, "clerk@example.com")
    with database.write() as session:
        accounts.set_disabled(session, accounts.get_user(session, user_id), True)

    assert_problem(confirm(anonymous_client, token), 400, "invalid_reset_token")


# ---------------------------------------------------------------- claiming an account


def test_a_customer_the_store_created_claims_their_account_and_sees_their_own_orders(
    client: TestClient, anonymous_client: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, name="Grace Hopper", email="grace@example.com")
    product_id = factories.product(database)
    order_id = factories.order(database, customer_id, (product_id, 1))
    refused = anonymous_client.post(
        "/api/auth/signup",
        json={"name": "Grace", "email": "grace@example.com", "password": NEW_PASSWORD},
    )
    assert_problem(refused, 409, "email_taken")

    token = token_sent_to(anonymous_client, database, "grace@example.com")
    assert reset_events(database)[0]["name"] == "Grace Hopper"
    assert confirm(anonymous_client, token).status_code == 204

    session_token = log_in(anonymous_client, "grace@example.com", NEW_PASSWORD).json()
    headers = bearer(session_token["access_token"])
    who = anonymous_client.get("/api/auth/whoami", headers=headers).json()
    assert (who["role"], who["customer_id"]) == ("customer", customer_id)
    assert anonymous_client.get("/api/me", headers=headers).json()["id"] == customer_id
    orders = anonymous_client.get("/api/me/orders", headers=headers).json()
    assert [order["id"] for order in orders] == [order_id]
    ((claimer, _entity, _id, detail),) = audit_entries(database, "user.password_reset")
    assert claimer == who["user_id"]
    assert detail == {"claimed": True}


def test_a_claimed_account_cannot_be_claimed_twice_with_an_older_link(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.customer(database, email="grace@example.com")
    first = token_sent_to(anonymous_client, database, "grace@example.com")
    second = token_sent_to(anonymous_client, database, "grace@example.com")

    assert confirm(anonymous_client, first).status_code == 204
    assert_problem(confirm(anonymous_client, second), 400, "invalid_reset_token")

    with database.read() as session:
        assert session.scalars(select(User.email)).all() == ["grace@example.com"]


# ---------------------------------------------------------------- throttling


def test_many_requests_from_one_client_are_refused_with_429_and_retry_after(
    anonymous_client: TestClient, database: Database
) -> None:
    for n in range(CLIENT_POLICY.limit):
        assert ask(anonymous_client, f"someone{n}@example.com").status_code == 202

    refused = ask(anonymous_client, "someone@example.com")

    assert_problem(refused, 429, "too_many_attempts")
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_many_requests_for_one_address_are_answered_alike_but_send_at_most_a_few_links(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")

    answers = [ask(anonymous_client, "clerk@example.com") for _ in range(ADDRESS_POLICY.limit + 3)]

    assert all(answer.status_code == 202 for answer in answers)
    assert all(answer.json() == SENT for answer in answers)
    assert len(resets(database)) == ADDRESS_POLICY.limit
    assert len(reset_events(database)) == ADDRESS_POLICY.limit


def test_asking_for_links_does_not_throttle_logging_in(
    anonymous_client: TestClient, database: Database
) -> None:
    factories.user(database, email="clerk@example.com")
    for _ in range(CLIENT_POLICY.limit + 1):
        ask(anonymous_client, "clerk@example.com")

    assert log_in(anonymous_client, "clerk@example.com", PASSWORD).status_code == 200
