"""product description: optional plain text for the storefront's product page

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00.000000

A nullable column: existing products have no description, and adding it rewrites
no rows on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN in place, on SQLite too (3.35+): copying the table
    # to a new one would drop the old one, and with it, through the foreign keys,
    # every cart item holding a product and every order line's link to it.
    with op.batch_alter_table("products", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("description")
