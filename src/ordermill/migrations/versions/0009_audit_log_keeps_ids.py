"""audit log keeps the ids of who acted, without foreign keys to users and tokens

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 09:00:00.000000

Every write made through a token adds an audit entry naming its user and token. The
foreign keys made each of those inserts take a share lock on the user's and the token's
rows, and concurrent writes through one token (an integration importing orders) shared
those locks: on PostgreSQL every second locker of a row makes a multixact, about one per
order under load, which PostgreSQL must keep, look up and freeze. The entry keeps the
ids as they were, like the entity it names, and a user or token deleted later no longer
rewrites the history (the foreign keys set the ids to NULL).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_log_token_id_api_tokens", type_="foreignkey")
        batch_op.drop_constraint("fk_audit_log_user_id_users", type_="foreignkey")


def downgrade() -> None:
    # The foreign keys can't hold ids of users and tokens deleted since: those become NULL,
    # as the foreign keys would have made them.
    op.execute(
        "UPDATE audit_log SET user_id = NULL WHERE user_id IS NOT NULL"
        " AND user_id NOT IN (SELECT id FROM users)"
    )
    op.execute(
        "UPDATE audit_log SET token_id = NULL WHERE token_id IS NOT NULL"
        " AND token_id NOT IN (SELECT id FROM api_tokens)"
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_audit_log_token_id_api_tokens", "api_tokens", ["token_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
        batch_op.create_foreign_key(
            "fk_audit_log_user_id_users", "users", ["user_id"], ["id"], ondelete="SET NULL"
        )
