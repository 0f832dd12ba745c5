"""customer search: a trigram index on names and emails (PostgreSQL)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 18:20:00.000000
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite reads the table for a search
    # pg_trgm is a trusted extension: a database owner may install it. Where the
    # server refuses, search still works, without the index.
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        log.warning("pg_trgm is not available (%s): customer search works without its index", exc)
        return
    op.create_index(
        "ix_customers_search",
        "customers",
        ["name", "email"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops", "email": "gin_trgm_ops"},
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customers_search")
