"""submission_terms: blind indexes of the words of a submission's name and company, for the leads search

Revision ID: 0019_submission_terms
Revises: 0018_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_submission_terms"
down_revision = "0018_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submission_terms",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("term_index", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id", "term_index"),
    )
    op.create_index("ix_submission_terms_term_index", "submission_terms", ["term_index"])


def downgrade() -> None:
    op.drop_index("ix_submission_terms_term_index", table_name="submission_terms")
    op.drop_table("submission_terms")
