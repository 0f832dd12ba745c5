"""Schema migrations, driven from code (``ordermill db upgrade``, ``serve``, tests)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"


class Upgraded(NamedTuple):
    """The schema's revision before and after an upgrade (None: no schema)."""

    before: str | None
    after: str | None


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None when it has no schema."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> Upgraded:
    """Bring the database at ``url`` up to ``revision``."""
    before = current_revision(url)
    command.upgrade(alembic_config(url), revision)
    return Upgraded(before, current_revision(url))


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
