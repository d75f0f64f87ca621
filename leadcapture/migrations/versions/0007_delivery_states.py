"""messages: claimed / retry_pending with the claim's holder and time; outbox: rows that cannot be published

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    # 'sending' meant "in flight" or "retry pending", which cannot be told apart now. Claimed as
    # of the upgrade is the safe reading: a job in flight keeps it, and anything else is taken
    # over once the claim's lease has run out.
    op.execute(
        sa.text("UPDATE messages SET status = 'claimed', claimed_at = CURRENT_TIMESTAMP WHERE status = 'sending'")
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("failed_at")
    op.execute(sa.text("UPDATE messages SET status = 'sending' WHERE status IN ('claimed', 'retry_pending')"))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claimed_by")
