"""What every ``ordermill`` command shares: consoles, settings, the database, error handling.

Errors are printed as ``error[code]: message`` (and ``hint: …`` where the catalogue
has one) on standard error, and the command exits with the code of the error's kind
(``errors.KINDS``). Only expected errors are printed so: ``OrdermillError`` and the
database's own failures that ``db.explain`` recognises. Anything else is a bug and
surfaces as the exception it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import DBAPIError
from typer.core import TyperArgument, TyperGroup, TyperOption

from ordermill.config import Settings, get_settings
from ordermill.db import Database, describe, explain, sqlite_path
from ordermill.errors import Code, OrdermillError, error, kind_of

console = Console()
err_console = Console(stderr=True)


def report(exc: OrdermillError) -> typer.Exit:
    """Print ``exc`` as ``error[code]: message``; raise the result to exit with its kind's code."""
    err_console.print(
        f"error[{exc.code}]: {exc.message}", markup=False, highlight=False, soft_wrap=True
    )
    if exc.hint:
        err_console.print(f"hint: {exc.hint}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(kind_of(exc).exit_code)


def fail(code: Code, message: str | None = None) -> typer.Exit:
    """Print an error of ``code`` (the catalogue's meaning unless ``message``); raise the result."""
    return report(error(code, message))


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Expected errors become ``error[code]: message`` and the kind's exit code.

    The root command already runs every command inside it; a command may use it to
    end with the error at a point of its choosing.
    """
    try:
        yield
    except OrdermillError as exc:
        raise report(exc) from None


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """The database's expected failures (no schema, unreachable, …) as ``OrdermillError``."""
    try:
        yield
    except DBAPIError as exc:
        known = explain(exc, url)
        if known is None:
            raise
        raise known from None


class OrdermillGroup(TyperGroup):
    """The root command: every subcommand runs inside ``friendly_errors``."""

    def invoke(self, ctx: Any) -> Any:
        with friendly_errors():
            return super().invoke(ctx)


def settings() -> Settings:
    """The settings; a wrong ``ORDERMILL_*`` value is a ``Misconfigured`` error."""
    return get_settings()


@contextmanager
def open_database(config: Settings, *, create: bool = False) -> Iterator[Database]:
    """The configured database, with its connections closed however the command ends.

    Unless ``create``, a SQLite file that doesn't exist is an error: SQLite would
    otherwise leave an empty file behind.
    """
    url = config.database_url
    path = sqlite_path(url)
    if not create and path is not None and not path.exists():
        raise error(Code.DATABASE_NOT_MIGRATED, f"there is no database at {describe(url)}")
    database = Database(url, config)
    try:
        with database_errors(url):
            yield database
    finally:
        database.dispose()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# ---------------------------------------------------------------- help text

# Typer (0.2x, which carries its own copy of Click) labels every parameter with its
# Python type in angle brackets, flags (`<bool>`) and variadic arguments
# (`<list[str]>`) included. A flag takes no value and `NAME...` already says an
# argument takes several: show them as Click does, arguments in capitals.
_option_type = TyperOption.display_type_rich
_argument_type = TyperArgument.display_type_rich


def _option_display_type(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag and not self.count and self.metavar is None:
        return None
    return _option_type(self, ctx)


def _argument_display_type(self: TyperArgument, ctx: Any) -> str | None:
    if self.nargs != 1 and self.metavar is None:
        return None
    return _argument_type(self, ctx)


def _argument_name(self: TyperArgument) -> str:
    return self.metavar if self.metavar is not None else (self.name or "").upper()


TyperOption.display_type_rich = _option_display_type  # type: ignore[method-assign]
TyperArgument.display_type_rich = _argument_display_type  # type: ignore[method-assign,assignment]
TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment,method-assign]
