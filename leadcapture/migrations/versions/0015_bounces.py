"""bounces: every bounce and complaint received; messages: what came back for each

Revision ID: 0015_bounces
Revises: 0012_confirm_flow
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_bounces"
down_revision = "0012_confirm_flow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bounces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("detail_enc", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_bounces_person_id", "bounces", ["person_id"])
    op.create_index("ix_bounces_email_kind_received", "bounces", ["email_index", "kind", "received_at"])
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feedback", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_message_id", "messages", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_message_id", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("feedback_at")
        batch_op.drop_column("feedback")
    op.drop_index("ix_bounces_email_kind_received", table_name="bounces")
    op.drop_index("ix_bounces_person_id", table_name="bounces")
    op.drop_table("bounces")
