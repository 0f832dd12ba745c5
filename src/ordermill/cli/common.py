"""What every ``ordermill`` command shares: consoles, settings, the database, error handling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ordermill.config import Settings, get_settings
from ordermill.db import Database
from ordermill.errors import OrdermillError

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error; raise the result to exit with ``code``."""
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Expected errors become a message and a non-zero exit, never a traceback."""
    try:
        yield
    except OrdermillError as exc:
        raise fail(exc.message) from None
    except OperationalError as exc:
        raise fail(f"database unavailable: {exc.orig}") from None
    except SQLAlchemyError as exc:
        raise fail(f"database error: {exc}") from None
    except ValueError as exc:
        raise fail(str(exc)) from None


def settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise fail(f"invalid ORDERMILL_* setting: {exc}") from None


@contextmanager
def open_database(config: Settings) -> Iterator[Database]:
    """The configured database, with its connections closed however the command ends."""
    database = Database(config.database_url, config)
    try:
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
