"""What the `ordermill` command says when something is wrong: `error[code]: message`, the
kind's exit code, never a traceback; and a bug is not disguised as a friendly message."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select
from typer.testing import CliRunner, Result

from ordermill.cli import app
from ordermill.config import get_settings
from ordermill.db import Database
from ordermill.migrate import alembic_config, downgrade
from ordermill.models import ApiToken, Customer
from ordermill.services import order_views
from ordermill.services import orders as order_service
from tests import factories

TRACEBACK_MARKERS = ("Traceback", "sqlalche.me", "Background on this error", "SELECT ")


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(monkeypatch: pytest.MonkeyPatch, args: list[str], **env: str) -> Result:
    """Run ``ordermill args`` with ``env`` set (ORDERMILL_* names without the prefix)."""
    for name, value in env.items():
        monkeypatch.setenv(f"ORDERMILL_{name.upper()}", value)
    get_settings.cache_clear()
    return CliRunner().invoke(app, args)


def assert_clean_error(result: Result, exit_code: int, first_line: str) -> None:
    """One ``error[code]: message`` line (and maybe a hint) on stderr, and the exit code."""
    assert result.exit_code == exit_code, result.output
    assert result.stderr.startswith(first_line), result.stderr
    assert result.stdout == ""
    for marker in TRACEBACK_MARKERS:
        assert marker not in result.output
    assert isinstance(result.exception, SystemExit)


# ---------------------------------------------------------------- the error format


def test_an_error_is_printed_with_its_code_and_hint_and_exits_with_its_kinds_code(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(monkeypatch, ["orders", "show", "404"], database_url=database.url)

    assert_clean_error(result, 3, "error[order_not_found]: Order 404 does not exist.\n")
    assert result.stderr.splitlines()[1] == (
        "hint: orders are named by id (42) or number (2026-00042)"
    )


@pytest.mark.parametrize(
    ("args", "exit_code", "code"),
    [
        (["users", "disable", "nobody@example.com"], 3, "user_not_found"),
        (["tokens", "revoke", "999"], 3, "token_not_found"),
        (["orders", "expire", "--older-than", "soon"], 2, "validation_error"),
        (["db", "reset"], 2, "validation_error"),
    ],
)
def test_each_kind_of_error_has_its_own_exit_code(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    exit_code: int,
    code: str,
) -> None:
    result = run(monkeypatch, args, database_url=database.url)

    assert_clean_error(result, exit_code, f"error[{code}]: ")


def test_a_refusal_by_the_current_state_exits_with_4(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    factories.user(database, email="owner@example.com", role="admin")

    result = run(monkeypatch, ["users", "disable", "owner@example.com"], database_url=database.url)

    assert_clean_error(result, 4, "error[last_admin]: ")


def test_a_usage_error_keeps_the_usual_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(monkeypatch, ["orders", "show"])

    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_a_programming_error_surfaces_as_the_exception_it_is(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(order_views, "resolve_order", broken)

    result = run(monkeypatch, ["orders", "show", "1"], database_url=database.url)

    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError)
    assert "error[" not in result.output


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "url",
    ["mysql://root@127.0.0.1/db", "mysql+pymysql://root@127.0.0.1/db", "oracle://a@b/c", "junk"],
)
@pytest.mark.parametrize("args", [["db", "upgrade"], ["orders", "show", "1"], ["serve"]])
def test_an_unsupported_database_url_is_refused_by_every_command(
    monkeypatch: pytest.MonkeyPatch, url: str, args: list[str]
) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served anyway"))

    result = run(monkeypatch, args, database_url=url)

    assert_clean_error(result, 7, "error[unsupported_database]: ORDERMILL_DATABASE_URL: ")
    assert "unsupported database URL" in result.stderr
    assert "hint: use sqlite:///PATH or postgresql://" in result.stderr
    assert "root@" not in result.stderr  # a URL may hold a password: only its scheme is named


def test_an_unknown_log_level_names_the_allowed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served anyway"))

    result = run(monkeypatch, ["serve"], log_level="loud")

    assert_clean_error(
        result,
        7,
        "error[invalid_setting]: ORDERMILL_LOG_LEVEL must be one of critical, error, warning, "
        "info, debug, trace, not 'loud'\n",
    )


@pytest.mark.parametrize(
    ("name", "value", "accepts"),
    [
        ("port", "abc", "a whole number from 1 to 65535"),
        ("workers", "0", "a whole number from 1 to 64"),
        ("db_pre_ping", "maybe", "true or false"),
        ("payment_flow", "cash", "one of balance, advance"),
        ("currency", "EURO", "a three-letter ISO 4217 code such as USD"),
        ("sqlite_busy_timeout_ms", "-1", "a whole number, at least 0"),
        (
            "smtp_url",
            "mail.example.com",
            "smtp://USER:PASSWORD@HOST:PORT, smtp+starttls://… or smtps://…",
        ),
        ("timezone", "Mars/Base", "an IANA time zone such as Europe/Paris or UTC"),
        ("worker_concurrency", "0", "a whole number from 1 to 64"),
        ("webhook_allow_private", "perhaps", "true or false"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_the_variable_and_what_it_accepts(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, accepts: str
) -> None:
    result = run(monkeypatch, ["orders", "show", "1"], **{name: value})

    variable = f"ORDERMILL_{name.upper()}"
    assert_clean_error(
        result, 7, f"error[invalid_setting]: {variable} must be {accepts}, not '{value}'\n"
    )
    assert "http" not in result.stderr  # no pydantic text with its documentation link


# ---------------------------------------------------------------- the database


def test_a_read_command_on_a_missing_sqlite_file_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nowhere.db"

    result = run(monkeypatch, ["orders", "show", "1"], database_url=f"sqlite:///{path}")

    assert_clean_error(result, 7, f"error[database_not_migrated]: there is no database at {path}")
    assert "hint: run `ordermill db upgrade`" in result.stderr
    assert not path.exists()


def test_a_database_never_migrated_says_it_has_no_ordermill_schema(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An existing database without ordermill's tables (on SQLite: an empty file).
    engine = create_engine(empty_database_url)
    engine.connect().close()
    engine.dispose()

    result = run(monkeypatch, ["orders", "show", "1"], database_url=empty_database_url)

    assert_clean_error(result, 7, "error[database_not_migrated]: the database at ")
    assert "has no ordermill schema\nhint: run `ordermill db upgrade`\n" in result.stderr


def test_a_file_that_is_not_a_database_is_named_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notes.db"
    path.write_text("shopping list: flour, eggs\n" * 100)

    result = run(monkeypatch, ["orders", "show", "1"], database_url=f"sqlite:///{path}")

    assert_clean_error(
        result, 7, f"error[database_unreadable]: the file at {path} is not a SQLite database"
    )


@pytest.mark.parametrize(
    ("where", "reason"),
    [("missing-dir/shop.db", "its directory"), ("a-directory", "it is a directory")],
)
def test_a_path_that_cannot_be_opened_is_named_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, reason: str
) -> None:
    (tmp_path / "a-directory").mkdir()
    path = tmp_path / where

    result = run(monkeypatch, ["db", "upgrade"], database_url=f"sqlite:///{path}")

    assert_clean_error(
        result, 7, f"error[database_unreadable]: can't open the database at {path}: {reason}"
    )


def test_an_unreachable_postgresql_server_is_database_unavailable_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Port 1 on the loopback: nothing listens there, the connection is refused at once.
    url = "postgresql://shop:secret@127.0.0.1:1/orders"

    result = run(monkeypatch, ["orders", "show", "1"], database_url=url)

    assert_clean_error(
        result, 6, "error[database_unavailable]: can't reach the database at 127.0.0.1:1/orders: "
    )
    assert len(result.stderr.splitlines()) == 2  # the error and its hint
    assert "secret" not in result.stderr


def test_a_sqlite_file_locked_by_another_writer_is_database_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    assert run(monkeypatch, ["db", "upgrade"], database_url=url).exit_code == 0
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = run(
            monkeypatch,
            ["tokens", "revoke", "1"],
            database_url=url,
            sqlite_busy_timeout_ms="0",
        )
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert_clean_error(
        result, 6, f"error[database_unavailable]: the database at {path} is locked by another"
    )


# ---------------------------------------------------------------- db upgrade


def test_db_upgrade_says_what_it_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"

    created = run(monkeypatch, ["db", "upgrade"], database_url=url)
    again = run(monkeypatch, ["db", "upgrade"], database_url=url)
    downgrade(url, "0002")
    upgraded = run(monkeypatch, ["db", "upgrade"], database_url=url)

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert created.stdout.startswith(f"Created the schema at revision {head} in ")
    assert again.stdout.startswith(f"Already up to date at revision {head} ")
    assert upgraded.stdout.startswith("Upgraded ")
    assert f"from revision 0002 to {head}" in upgraded.stdout


# ---------------------------------------------------------------- seed


def test_seed_checks_everything_before_writing_anything(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["seed", "--customers", "2", "--products", "0", "--orders", "5"]

    result = run(monkeypatch, args, database_url=database.url)

    assert_clean_error(result, 2, "error[validation_error]: seeding orders needs at least one")
    assert "no active products and --products is 0" in result.stderr
    with database.read() as session:
        assert session.scalars(select(Customer)).all() == []


def test_seed_counts_the_products_the_store_has_already(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    factories.product(database, stock=50)
    args = ["seed", "--customers", "2", "--products", "0", "--orders", "5"]

    result = run(monkeypatch, args, database_url=database.url)

    assert result.exit_code == 0, result.output
    with database.read() as session:
        assert order_service.count_orders(session, "pending") == 5


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize("name", ["", "   "])
def test_a_token_needs_a_name(
    database: Database, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    factories.user(database, email="clerk@example.com", role="staff")

    result = run(
        monkeypatch,
        ["tokens", "create", "--user", "clerk@example.com", "--name", name],
        database_url=database.url,
    )

    assert_clean_error(result, 2, "error[validation_error]: an API token needs a name")
    with database.read() as session:
        assert session.scalars(select(ApiToken)).all() == []


def test_revoking_a_revoked_token_says_it_was_already_revoked(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    factories.user(database, email="clerk@example.com", role="staff")
    created = run(
        monkeypatch,
        ["tokens", "create", "--user", "clerk@example.com", "--name", "till"],
        database_url=database.url,
    )
    assert created.exit_code == 0, created.output
    with database.read() as session:
        token_id = session.scalars(select(ApiToken.id)).one()

    first = run(monkeypatch, ["tokens", "revoke", str(token_id)])
    again = run(monkeypatch, ["tokens", "revoke", str(token_id)])

    assert first.exit_code == 0, first.output
    assert first.stdout == f"Revoked token {token_id}.\n"
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"Token {token_id} was already revoked (")


# ---------------------------------------------------------------- export into a closed pipe


def test_an_export_read_by_head_ends_quietly(database: Database, tmp_path: Path) -> None:
    customer = factories.customer(database)
    cake = factories.product(database, stock=10_000)
    for _ in range(600):  # far more than a pipe holds
        factories.order(database, customer, (cake, 1))
    env = {**os.environ, "ORDERMILL_DATABASE_URL": database.url}
    ordermill = Path(sys.executable).parent / "ordermill"

    exporter = subprocess.Popen(
        [str(ordermill), "orders", "export", "--batch-size", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert exporter.stdout is not None
    header = exporter.stdout.readline()
    exporter.stdout.close()  # what `head -1` does after its line
    _, stderr = exporter.communicate(timeout=60)

    assert header.startswith(b"order_id,")
    assert stderr == b""
    assert exporter.returncode in (0, 128 + 13)


# ---------------------------------------------------------------- help


@pytest.mark.parametrize(
    "command",
    [
        ["orders", "process"],
        ["orders", "expire"],
        ["orders", "show"],
        ["db", "reset"],
        ["seed"],
        ["users", "create"],
        [],
    ],
)
def test_help_shows_flags_without_a_type_and_variadic_arguments_as_name_dots(
    command: list[str],
) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "120"})

    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "<list[" not in result.output


def test_help_of_orders_process_shows_its_refs_as_a_list() -> None:
    result = CliRunner().invoke(app, ["orders", "process", "--help"], env={"COLUMNS": "120"})

    assert "[REFS]..." in result.output
    assert "REFS..." in result.output


def test_the_top_level_help_explains_the_error_format_and_exit_codes() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})

    assert "error[code]: message" in result.output
    assert "6 database unavailable" in result.output
