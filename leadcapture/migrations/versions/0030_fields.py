"""fields: a form's own questions and where a lead came from

submissions get the answers (encrypted), the campaign tags and the referring page (encrypted);
people the answers copied on confirmation; funnel_counts a source dimension ("" for the rows
counted before sources were recorded).

Revision ID: 0030_fields
Revises: 0015_bounces
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030_fields"
down_revision = "0030_brands"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns and one with a default: a plain ADD COLUMN on SQLite and PostgreSQL alike,
    # no table rebuild (the submissions' requests and terms cascade from it).
    op.add_column("submissions", sa.Column("answers_enc", sa.Text(), nullable=True))
    op.add_column("submissions", sa.Column("utm_source", sa.String(length=100), nullable=True))
    op.add_column("submissions", sa.Column("utm_medium", sa.String(length=100), nullable=True))
    op.add_column("submissions", sa.Column("utm_campaign", sa.String(length=100), nullable=True))
    op.add_column("submissions", sa.Column("referrer_enc", sa.Text(), nullable=True))
    op.create_index("ix_submissions_utm_source", "submissions", ["utm_source"])
    op.add_column("people", sa.Column("answers_enc", sa.Text(), nullable=True))
    op.add_column(
        "funnel_counts", sa.Column("source", sa.String(length=100), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("funnel_counts", "source")
    op.drop_column("people", "answers_enc")
    op.drop_index("ix_submissions_utm_source", table_name="submissions")
    for column in ("referrer_enc", "utm_campaign", "utm_medium", "utm_source", "answers_enc"):
        op.drop_column("submissions", column)
