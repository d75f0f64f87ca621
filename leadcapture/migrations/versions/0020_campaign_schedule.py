"""campaigns: a time a draft starts by itself

Revision ID: 0020_campaign_schedule
Revises: 0019_submission_terms
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_campaign_schedule"
down_revision = "0019_submission_terms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("scheduled_at")
