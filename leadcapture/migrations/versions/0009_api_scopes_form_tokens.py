"""api_tokens: scopes (existing tokens keep every scope); used_form_tokens: a form token stores one submission

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ALL_SCOPES = "may-contact:read contacts:read"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.String(length=255), nullable=False, server_default=ALL_SCOPES))
    op.create_table(
        "used_form_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_used_form_tokens_expires_at", "used_form_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_used_form_tokens_expires_at", table_name="used_form_tokens")
    op.drop_table("used_form_tokens")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
