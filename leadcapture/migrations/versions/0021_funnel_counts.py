"""funnel_counts: per form, day, purpose and step, counts that hold no personal data

The counts of submissions, confirmations and withdrawals so far are computed once from the
requests and consents that still exist (what an erasure took before today is gone either way);
views and downloads start at zero.

Revision ID: 0021_funnel_counts
Revises: 0020_campaign_schedule
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0021_funnel_counts"
down_revision = "0020_campaign_schedule"
branch_labels = None
depends_on = None

_BACKFILL = {
    "submitted": """
        SELECT DATE(s.created_at), v.form_id, COALESCE(r.purpose_key, 'asset'), COUNT(*)
        FROM requests r JOIN submissions s ON s.id = r.submission_id JOIN form_versions v ON v.id = s.form_version_id
        GROUP BY DATE(s.created_at), v.form_id, COALESCE(r.purpose_key, 'asset')""",
    "confirmed": """
        SELECT DATE(r.confirmed_at), v.form_id, COALESCE(r.purpose_key, 'asset'), COUNT(*)
        FROM requests r JOIN submissions s ON s.id = r.submission_id JOIN form_versions v ON v.id = s.form_version_id
        WHERE r.confirmed_at IS NOT NULL
        GROUP BY DATE(r.confirmed_at), v.form_id, COALESCE(r.purpose_key, 'asset')""",
    "withdrawn": """
        SELECT DATE(c.withdrawn_at), v.form_id, c.purpose_key, COUNT(*)
        FROM consents c JOIN form_versions v ON v.id = c.form_version_id
        WHERE c.state = 'withdrawn' AND c.withdrawn_at IS NOT NULL
        GROUP BY DATE(c.withdrawn_at), v.form_id, c.purpose_key""",
}


def _date(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value  # SQLite's DATE() is text


def upgrade() -> None:
    op.create_table(
        "funnel_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("purpose_key", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["form_id"], ["forms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_funnel_counts_form_day", "funnel_counts", ["form_id", "day"])
    bind = op.get_bind()
    table = sa.table(
        "funnel_counts",
        sa.column("day", sa.Date),
        sa.column("form_id", sa.Integer),
        sa.column("purpose_key", sa.String),
        sa.column("stage", sa.String),
        sa.column("count", sa.Integer),
    )
    for stage, query in _BACKFILL.items():
        rows = [
            {"day": _date(day), "form_id": form_id, "purpose_key": key, "stage": stage, "count": count}
            for day, form_id, key, count in bind.execute(sa.text(query))
        ]
        if rows:
            op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_funnel_counts_form_day", table_name="funnel_counts")
    op.drop_table("funnel_counts")
