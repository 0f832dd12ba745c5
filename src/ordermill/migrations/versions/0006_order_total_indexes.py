"""orders sortable by total: indexes for the back office's order table

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09 10:12:41.201733
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_total_id", ["total", "id"], unique=False)
        batch_op.create_index("ix_orders_status_total", ["status", "total", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_status_total")
        batch_op.drop_index("ix_orders_total_id")
