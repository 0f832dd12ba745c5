"""``ordermill users …`` and ``ordermill tokens …``: staff logins and integration tokens."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from ordermill.cli.common import console, fail, open_database, settings
from ordermill.domain.access import Role
from ordermill.errors import Code
from ordermill.services import accounts, password_resets
from ordermill.services.audit import CLI

users_app = typer.Typer(help="Staff and admin logins.", no_args_is_help=True)
tokens_app = typer.Typer(help="Long-lived API tokens for integrations.", no_args_is_help=True)


STAFF_ROLES = ("admin", "staff")


def _when(moment: datetime | None, missing: str = "-") -> str:
    """A timestamp short enough for a table in an 80-column terminal (UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else missing


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        raise fail(
            Code.VALIDATION_ERROR, "no terminal to ask for the password; pass --password-stdin"
        )
    return accounts.validate_password(password)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login email")],
    role: Annotated[str, typer.Option(help="admin or staff")] = "staff",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a staff or admin login (the password is asked for, never an argument)."""
    if role not in STAFF_ROLES:
        raise fail(Code.VALIDATION_ERROR, f"--role must be admin or staff, not '{role}'")
    password = _read_password(password_stdin)
    with open_database(settings()) as database, database.write() as session:
        user = accounts.create_user(session, email=email, password=password, role=Role(role))
        console.print(f"Created {user.role} {user.email} (id {user.id}).", highlight=False)


@users_app.command("list")
def users_list() -> None:
    """List staff and admin logins."""
    with open_database(settings()) as database, database.read() as session:
        table = Table()
        for column in ("id", "email", "role", "disabled", "last login (UTC)"):
            table.add_column(column, no_wrap=True)
        for user in accounts.list_users(session, staff_only=True):
            last = _when(user.last_login)
            table.add_row(str(user.id), user.email, user.role, str(user.disabled), last)
    console.print(table)


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="Login email")]) -> None:
    """Disable a login; its tokens stop working at once (on SQLite, a server running apart
    notices within ORDERMILL_TOKEN_CACHE_SECONDS)."""
    with open_database(settings()) as database, database.write() as session:
        user = accounts.set_disabled(session, accounts.find_user(session, email), True)
        console.print(f"Disabled {user.email}.", highlight=False)


@users_app.command("set-password")
def users_set_password(
    email: Annotated[str, typer.Argument(help="Login email")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Set a login's new password (asked for, never an argument); its tokens are revoked."""
    with open_database(settings()) as database:
        with database.read() as session:
            accounts.find_user(session, email)  # before asking for a password in vain
        password_hash = accounts.hash_password(_read_password(password_stdin))
        with database.write() as session:
            user = password_resets.set_password(
                session, email=email, password_hash=password_hash, actor=CLI
            )
            console.print(
                f"Set a new password for {user.role} {user.email}; "
                "their sessions and API tokens are revoked.",
                highlight=False,
            )


@users_app.command("ensure-admin")
def users_ensure_admin() -> None:
    """On first run, create an admin with a random password and print it once."""
    config = settings()
    with open_database(config) as database, database.write() as session:
        created = accounts.ensure_admin(session, config.admin_email)
    login = f"http://{config.host}:{config.port}/admin/login"
    if created is None:
        console.print(
            f"An admin account exists already: log in at {login} "
            "(`ordermill users set-password EMAIL` sets a new password).",
            highlight=False,
        )
        return
    email, password = created
    console.print(
        "[bold]Created the first admin account[/] (shown once, keep it safe):\n"
        f"  email:    {email}\n  password: {password}\n"
        f"  log in to the back office at {login}",
        highlight=False,
    )


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="Email of the token's user")],
    name: Annotated[str, typer.Option("--name", help="What the token is for")],
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Expire after N days (default: never)")
    ] = None,
) -> None:
    """Create an API token and print it once."""
    ttl = timedelta(days=expires_in_days) if expires_in_days else None
    with open_database(settings()) as database, database.write() as session:
        owner = accounts.find_user(session, user)
        issued = accounts.issue_token(session, owner, kind=accounts.API, ttl=ttl, name=name)
    console.print(f"Token {issued.token_id} for {owner.email} (shown once):", highlight=False)
    print(issued.token)


@tokens_app.command("list")
def tokens_list(user: Annotated[str, typer.Option("--user", help="Email of the user")]) -> None:
    """List a user's API tokens (never the tokens themselves)."""
    with open_database(settings()) as database, database.read() as session:
        table = Table()
        for column in ("id", "name", "created (UTC)", "expires", "revoked"):
            table.add_column(column, no_wrap=True)
        for token in accounts.list_tokens(session, accounts.find_user(session, user)):
            table.add_row(
                str(token.id),
                token.name or "-",
                _when(token.created),
                _when(token.expires, missing="never"),
                _when(token.revoked),
            )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="Token id", min=1)]) -> None:
    """Revoke a token at once (on SQLite, a server running apart notices within
    ORDERMILL_TOKEN_CACHE_SECONDS)."""
    with open_database(settings()) as database, database.write() as session:
        revoked_now = accounts.revoke_token(session, token_id)
        revoked_at = accounts.get_token(session, token_id).revoked
    if revoked_now:
        console.print(f"Revoked token {token_id}.")
    else:
        console.print(
            f"Token {token_id} was already revoked ({_when(revoked_at)} UTC).", highlight=False
        )
