"""`ordermill users set-password`: staff set a login's password at the command line."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from ordermill.cli import app
from ordermill.db import Database
from ordermill.errors import Unauthenticated
from ordermill.services import accounts
from ordermill.services.tables import api_tokens, audit_log
from tests import factories
from tests.factories import PASSWORD


def can_log_in(database: Database, email: str, password: str) -> bool:
    try:
        with database.read() as session:
            accounts.authenticate(session, email=email, password=password)
    except Unauthenticated:
        return False
    return True


def test_set_password_reads_it_from_stdin_and_revokes_the_users_tokens(
    cli: CliRunner, database: Database
) -> None:
    user_id = factories.user(database, email="clerk@example.com")
    factories.token_for(database, user_id)

    result = cli.invoke(
        app,
        ["users", "set-password", "Clerk@Example.com", "--password-stdin"],
        input="a brand new secret\n",
    )

    assert result.exit_code == 0, result.output
    assert "clerk@example.com" in result.output
    assert "revoked" in result.output
    assert can_log_in(database, "clerk@example.com", "a brand new secret")
    assert not can_log_in(database, "clerk@example.com", PASSWORD)
    with database.read() as session:
        assert None not in session.scalars(select(api_tokens.c.revoked)).all()
        entry = session.execute(select(audit_log.c.actor, audit_log.c.action)).one()
    assert tuple(entry) == ("cli", "user.password_set")


def test_set_password_for_an_unknown_email_is_user_not_found_with_exit_3(
    cli: CliRunner, database: Database
) -> None:
    result = cli.invoke(
        app,
        ["users", "set-password", "nobody@example.com", "--password-stdin"],
        input="a brand new secret\n",
    )

    assert result.exit_code == 3, result.output
    assert "error[user_not_found]" in result.output


def test_set_password_refuses_a_weak_password_with_exit_2_and_keeps_the_old_one(
    cli: CliRunner, database: Database
) -> None:
    user_id = factories.user(database, email="clerk@example.com")
    token = factories.token_for(database, user_id)

    result = cli.invoke(
        app, ["users", "set-password", "clerk@example.com", "--password-stdin"], input="short\n"
    )

    assert result.exit_code == 2, result.output
    assert "error[validation_error]" in result.output
    assert can_log_in(database, "clerk@example.com", PASSWORD)
    with database.read() as session:
        assert accounts.resolve_token(session, token).user_id == user_id
