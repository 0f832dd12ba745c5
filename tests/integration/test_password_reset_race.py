"""Two confirms racing with one password reset link on PostgreSQL: exactly one wins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from ordermill.db import Database
from ordermill.errors import OrdermillError
from ordermill.models import utcnow
from ordermill.services import accounts, password_resets
from ordermill.services.tables import api_tokens, audit_log, users
from ordermill.services.tables import password_resets as resets_table
from tests import factories
from tests.concurrency import run_at_once

pytestmark = pytest.mark.postgres_only

OK = "ok"


def confirm(database: Database, token: str, password: str) -> str:
    """One confirm in its own write unit of work: "ok", or the refusal's code."""
    password_hash = accounts.hash_password(password)
    try:
        with database.write() as session:
            password_resets.confirm_reset(session, token=token, password_hash=password_hash)
    except OrdermillError as exc:
        return exc.code
    return OK


def live_link(database: Database, email: str, token: str) -> None:
    with database.write() as session:
        session.execute(
            insert(resets_table).values(
                email=email,
                token_hash=accounts.token_digest(token),
                expires=utcnow() + timedelta(hours=1),
            )
        )


def can_log_in(database: Database, email: str, password: str) -> bool:
    try:
        with database.read() as session:
            accounts.authenticate(session, email=email, password=password)
    except OrdermillError:
        return False
    return True


def test_two_confirms_with_one_link_at_once_exactly_one_sets_its_password(
    pg_database: Database,
) -> None:
    user_id = factories.user(pg_database, email="clerk@example.com")
    factories.token_for(pg_database, user_id)
    live_link(pg_database, "clerk@example.com", "the-one-link")
    passwords = ["first new secret", "second new secret"]

    outcomes = run_at_once(2, lambda i: confirm(pg_database, "the-one-link", passwords[i]))

    assert sorted(outcomes) == sorted([OK, "invalid_reset_token"])
    winner = passwords[outcomes.index(OK)]
    loser = passwords[1 - outcomes.index(OK)]
    assert can_log_in(pg_database, "clerk@example.com", winner)
    assert not can_log_in(pg_database, "clerk@example.com", loser)
    with pg_database.read() as session:
        assert session.scalars(select(audit_log.c.action)).all() == ["user.password_reset"]
        assert None not in session.scalars(select(api_tokens.c.revoked)).all()


def test_two_claims_of_one_customer_with_two_links_at_once_make_one_login(
    pg_database: Database,
) -> None:
    factories.customer(pg_database, email="grace@example.com")
    live_link(pg_database, "grace@example.com", "link-one")
    live_link(pg_database, "grace@example.com", "link-two")
    tokens = ["link-one", "link-two"]

    outcomes = run_at_once(2, lambda i: confirm(pg_database, tokens[i], f"new secret {i}"))

    assert sorted(outcomes) == sorted([OK, "invalid_reset_token"])
    with pg_database.read() as session:
        assert session.scalars(select(users.c.email)).all() == ["grace@example.com"]
