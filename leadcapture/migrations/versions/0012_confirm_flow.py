"""submissions.mailed_in: which confirmation mail lists a submission; outbox.not_before: delayed jobs

Revision ID: 0012_confirm_flow
Revises: 0011_ledger_keyed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_confirm_flow"
down_revision = "0011_ledger_keyed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mailed_in", sa.Integer(), nullable=True))
        batch_op.create_index("ix_submissions_mailed_in", ["mailed_in"])
    # Every confirmation mailed so far listed its own submission only.
    op.execute("UPDATE submissions SET mailed_in = id WHERE sends_confirmation")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("not_before")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_mailed_in")
        batch_op.drop_column("mailed_in")
