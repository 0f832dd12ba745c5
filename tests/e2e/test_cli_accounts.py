"""`ordermill users …` and `ordermill tokens …`, and who the CLI's changes are recorded as."""

from __future__ import annotations

import re
import types

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from ordermill.cli import accounts as cli_accounts
from ordermill.cli import app
from ordermill.config import get_settings
from ordermill.db import Database
from ordermill.errors import Unauthenticated
from ordermill.models import AuditLog, User
from ordermill.services import accounts, order_views
from tests import factories
from tests.factories import PASSWORD

TOKEN = re.compile(r"^(om_\S+)$", re.MULTILINE)


def can_log_in(database: Database, email: str, password: str) -> bool:
    try:
        with database.read() as session:
            accounts.authenticate(session, email=email, password=password)
    except Unauthenticated:
        return False
    return True


def users_by_email(database: Database) -> dict[str, tuple[str, bool]]:
    with database.read() as session:
        return {u.email: (u.role, u.disabled) for u in session.scalars(select(User))}


def table_rows(output: str) -> dict[str, list[str]]:
    """The body rows of a rich table, keyed by their second cell (an email or a name)."""
    rows = {}
    for line in output.splitlines():
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.strip("│").split("│")]
            rows[cells[1]] = cells
    return rows


def whoami(client: TestClient, token: str) -> int:
    return client.get("/api/auth/whoami", headers={"Authorization": f"Bearer {token}"}).status_code


# ---------------------------------------------------------------- users create


def test_users_create_reads_the_password_from_stdin_and_stores_only_its_hash(
    cli: CliRunner, database: Database
) -> None:
    result = cli.invoke(
        app,
        ["users", "create", "--email", "Clerk@Example.com", "--role", "staff", "--password-stdin"],
        input="the clerk's secret\n",
    )

    assert result.exit_code == 0, result.output
    assert "Created staff clerk@example.com" in result.output
    assert users_by_email(database) == {"clerk@example.com": ("staff", False)}
    assert can_log_in(database, "clerk@example.com", "the clerk's secret")
    with database.read() as session:
        stored = repr(session.execute(text("SELECT * FROM users")).all())
    assert "the clerk's secret" not in stored
    assert "$argon2id$" in stored


def test_users_create_asks_for_the_password_twice_at_a_terminal(
    cli: CliRunner, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = types.SimpleNamespace(stdin=types.SimpleNamespace(isatty=lambda: True))
    monkeypatch.setattr(cli_accounts, "sys", terminal)

    result = cli.invoke(
        app,
        ["users", "create", "--email", "boss@example.com", "--role", "admin"],
        input="the boss's secret\nthe boss's secret\n",
    )

    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "the boss's secret" not in result.output
    assert users_by_email(database) == {"boss@example.com": ("admin", False)}
    assert can_log_in(database, "boss@example.com", "the boss's secret")


def test_users_create_without_a_terminal_or_password_stdin_refuses_with_exit_2(
    cli: CliRunner, database: Database
) -> None:
    result = cli.invoke(app, ["users", "create", "--email", "clerk@example.com"], input="")

    assert result.exit_code == 2, result.output
    assert "--password-stdin" in result.output
    assert users_by_email(database) == {}


@pytest.mark.parametrize("role", ["customer", "root", "anonymous"])
def test_users_create_takes_only_admin_or_staff_as_role(
    cli: CliRunner, database: Database, role: str
) -> None:
    result = cli.invoke(
        app,
        ["users", "create", "--email", "x@example.com", "--role", role, "--password-stdin"],
        input=f"{PASSWORD}\n",
    )

    assert result.exit_code == 2, result.output
    assert "admin or staff" in result.output
    assert users_by_email(database) == {}


def test_users_create_refuses_a_short_password(cli: CliRunner, database: Database) -> None:
    result = cli.invoke(
        app,
        ["users", "create", "--email", "clerk@example.com", "--password-stdin"],
        input="short\n",
    )

    assert result.exit_code == 2, result.output
    assert "password must be 10 to 1024 characters" in result.output
    assert "Traceback" not in result.output
    assert users_by_email(database) == {}


def test_users_create_refuses_an_email_already_in_use(cli: CliRunner, database: Database) -> None:
    factories.user(database, email="clerk@example.com", role="staff")

    result = cli.invoke(
        app,
        ["users", "create", "--email", "clerk@example.com", "--role", "admin", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )

    assert result.exit_code == 4, result.output
    assert "already exists" in result.output
    assert users_by_email(database) == {"clerk@example.com": ("staff", False)}


# ---------------------------------------------------------------- users list and disable


def test_users_list_shows_staff_and_admins_but_not_customer_logins(
    cli: CliRunner, database: Database
) -> None:
    factories.user(database, role="admin", email="boss@example.com")
    factories.user(database, role="staff", email="clerk@example.com", disabled=True)
    _, customer_user = factories.customer_login(database)
    with database.read() as session:
        customer_email = accounts.get_user(session, customer_user).email

    result = cli.invoke(app, ["users", "list"])

    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert set(rows) == {"boss@example.com", "clerk@example.com"}
    assert rows["boss@example.com"][2:4] == ["admin", "False"]
    assert rows["clerk@example.com"][2:4] == ["staff", "True"]
    assert customer_email not in result.output


def test_users_disable_stops_the_users_tokens_at_once(
    cli: CliRunner, database: Database, anonymous_client: TestClient
) -> None:
    staff_id = factories.user(database, email="clerk@example.com")
    token = factories.token_for(database, staff_id)
    assert whoami(anonymous_client, token) == 200

    result = cli.invoke(app, ["users", "disable", "Clerk@example.com"])

    assert result.exit_code == 0, result.output
    assert "Disabled clerk@example.com." in result.output
    assert users_by_email(database)["clerk@example.com"] == ("staff", True)
    assert whoami(anonymous_client, token) == 401
    assert not can_log_in(database, "clerk@example.com", PASSWORD)


def test_users_disable_refuses_to_disable_the_last_admin(
    cli: CliRunner, database: Database
) -> None:
    factories.user(database, role="admin", email="boss@example.com")

    result = cli.invoke(app, ["users", "disable", "boss@example.com"])

    assert result.exit_code == 4, result.output
    assert "at least one enabled admin" in result.output
    assert users_by_email(database)["boss@example.com"] == ("admin", False)


def test_users_disable_of_an_unknown_email_fails_clearly(cli: CliRunner) -> None:
    result = cli.invoke(app, ["users", "disable", "ghost@example.com"])

    assert result.exit_code == 3, result.output
    assert "No user has the email ghost@example.com" in result.output


# ---------------------------------------------------------------- users ensure-admin


def test_ensure_admin_on_first_run_creates_an_admin_and_prints_the_password_once(
    cli: CliRunner, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERMILL_ADMIN_EMAIL", "owner@example.com")
    get_settings.cache_clear()

    first = cli.invoke(app, ["users", "ensure-admin"])

    assert first.exit_code == 0, first.output
    email = re.search(r"email:\s+(\S+)", first.output)
    password = re.search(r"password:\s+(\S+)", first.output)
    assert email is not None
    assert password is not None
    assert email.group(1) == "owner@example.com"
    assert "log in to the back office at http://127.0.0.1:8000/admin/login" in first.output
    assert users_by_email(database) == {"owner@example.com": ("admin", False)}
    assert can_log_in(database, "owner@example.com", password.group(1))

    again = cli.invoke(app, ["users", "ensure-admin"])

    assert again.exit_code == 0, again.output
    assert "exists already" in again.output
    assert password.group(1) not in again.output
    assert "password:" not in again.output
    assert can_log_in(database, "owner@example.com", password.group(1))


def test_ensure_admin_does_nothing_when_an_enabled_admin_exists(
    cli: CliRunner, database: Database
) -> None:
    factories.user(database, role="admin", email="boss@example.com")

    result = cli.invoke(app, ["users", "ensure-admin"])

    assert result.exit_code == 0, result.output
    assert "An admin account exists already" in result.output
    assert "log in at http://127.0.0.1:8000/admin/login" in " ".join(result.output.split())
    assert users_by_email(database) == {"boss@example.com": ("admin", False)}


def test_ensure_admin_passwords_differ_from_store_to_store(
    cli: CliRunner, database: Database
) -> None:
    seen = set()
    for _ in range(2):
        with database.write() as session:
            session.execute(text("DELETE FROM users"))
        result = cli.invoke(app, ["users", "ensure-admin"])
        found = re.search(r"password:\s+(\S+)", result.output)
        assert found is not None, result.output
        seen.add(found.group(1))

    assert len(seen) == 2


# ---------------------------------------------------------------- tokens


def create_token(cli: CliRunner, email: str, name: str = "shop sync") -> tuple[int, str]:
    result = cli.invoke(app, ["tokens", "create", "--user", email, "--name", name])
    assert result.exit_code == 0, result.output
    token_id = re.search(r"Token (\d+) for", result.output)
    token = TOKEN.search(result.output)
    assert token_id is not None, result.output
    assert token is not None, result.output
    return int(token_id.group(1)), token.group(1)


def test_tokens_create_prints_a_token_once_that_works_as_a_bearer_token(
    cli: CliRunner, database: Database, anonymous_client: TestClient
) -> None:
    staff_id = factories.user(database, email="sync@example.com")

    token_id, token = create_token(cli, "sync@example.com")

    response = anonymous_client.get(
        "/api/auth/whoami", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == staff_id
    with database.read() as session:
        stored = repr(session.execute(text("SELECT * FROM api_tokens")).all())
        principal = accounts.resolve_token(session, token)
    assert token not in stored
    assert principal.token_id == token_id


def test_tokens_list_shows_a_users_tokens_but_never_the_token_itself(
    cli: CliRunner, database: Database
) -> None:
    factories.user(database, email="sync@example.com")
    factories.user(database, email="other@example.com")
    first_id, first = create_token(cli, "sync@example.com", "shop sync")
    second_id, second = create_token(cli, "sync@example.com", "accounting")
    create_token(cli, "other@example.com", "elsewhere")

    result = cli.invoke(app, ["tokens", "list", "--user", "sync@example.com"])

    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert set(rows) == {"shop sync", "accounting"}
    assert rows["shop sync"][0] == str(first_id)
    assert rows["accounting"][0] == str(second_id)
    assert rows["shop sync"][3:] == ["never", "-"]
    assert first not in result.output
    assert second not in result.output


def test_tokens_revoke_stops_the_token_at_once(
    cli: CliRunner, database: Database, anonymous_client: TestClient
) -> None:
    factories.user(database, email="sync@example.com")
    token_id, token = create_token(cli, "sync@example.com")
    assert whoami(anonymous_client, token) == 200

    result = cli.invoke(app, ["tokens", "revoke", str(token_id)])

    assert result.exit_code == 0, result.output
    assert f"Revoked token {token_id}." in result.output
    assert whoami(anonymous_client, token) == 401
    listed = table_rows(cli.invoke(app, ["tokens", "list", "--user", "sync@example.com"]).output)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", listed["shop sync"][4])


def test_tokens_create_for_an_unknown_user_fails_and_creates_nothing(
    cli: CliRunner, database: Database
) -> None:
    result = cli.invoke(app, ["tokens", "create", "--user", "ghost@example.com", "--name", "x"])

    assert result.exit_code == 3, result.output
    assert "No user has the email ghost@example.com" in result.output
    assert TOKEN.search(result.output) is None
    with database.read() as session:
        assert session.execute(text("SELECT count(*) FROM api_tokens")).scalar_one() == 0


def test_tokens_revoke_of_an_unknown_id_fails_clearly(cli: CliRunner) -> None:
    result = cli.invoke(app, ["tokens", "revoke", "999"])

    assert result.exit_code == 3, result.output
    assert "Token 999 does not exist." in result.output


# ---------------------------------------------------------------- the CLI in the audit log


def test_bulk_processing_records_the_changes_as_the_cli_and_the_os_user(
    cli: CliRunner, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "warehouse")
    rich = factories.customer(database, balance=100_00)
    broke = factories.customer(database, balance=0)
    mug = factories.product(database, price=5_00, stock=10)
    paid = [factories.order(database, rich, (mug, 1)) for _ in range(3)]
    unpaid = factories.order(database, broke, (mug, 1))

    result = cli.invoke(app, ["orders", "process", "--all-pending", "--batch-size", "2"])

    assert result.exit_code == 3, result.output
    with database.read() as session:
        processed = session.execute(
            select(AuditLog.entity_id, AuditLog.actor, AuditLog.user_id, AuditLog.token_id)
            .where(AuditLog.action == "order.processed")
            .order_by(AuditLog.entity_id)
        ).all()
        unpaid_status = order_views.get_order(session, unpaid).status
    assert [tuple(row) for row in processed] == [
        (order_id, "cli:warehouse", None, None) for order_id in paid
    ]
    assert unpaid_status == "pending"


def test_processing_orders_by_number_records_the_cli_user_too(
    cli: CliRunner, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "night-shift")
    order_id = factories.order(
        database, factories.customer(database), (factories.product(database, stock=5), 1)
    )
    with database.read() as session:
        number = order_views.get_order(session, order_id).number

    result = cli.invoke(app, ["orders", "process", number])

    assert result.exit_code == 0, result.output
    with database.read() as session:
        actors = session.scalars(
            select(AuditLog.actor).where(
                AuditLog.entity == "order",
                AuditLog.entity_id == order_id,
                AuditLog.action == "order.processed",
            )
        ).all()
    assert actors == ["cli:night-shift"]
