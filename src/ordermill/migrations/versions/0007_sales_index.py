"""the dashboard's sales index: processed orders by when they were processed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00.000000

Pending orders (``processed`` NULL) stay out of it, so placing an order does not
write to it. On PostgreSQL, building it on 1,000,000 orders takes about a second
and blocks writes to ``orders`` meanwhile.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_sales",
            ["processed", "status", "currency", "total", "refunded"],
            unique=False,
            postgresql_where=sa.text("processed IS NOT NULL"),
            sqlite_where=sa.text("processed IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_sales")
