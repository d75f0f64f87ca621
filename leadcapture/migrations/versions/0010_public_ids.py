"""public ids: links name people, submissions and requests by a random id; SQLite ids are never reused

Revision ID: 0010_public_ids
Revises: 0021_funnel_counts
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010_public_ids"
down_revision = "0021_funnel_counts"
branch_labels = None
depends_on = None

NAMED = ("people", "submissions", "requests")  # the rows links name
# Every table whose ids outlive their rows (ledger events, message dedupe keys) becomes
# AUTOINCREMENT on SQLite, so a new row never takes a deleted row's id.
NEVER_REUSED = ("people", "submissions", "requests", "consents")


def upgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    for table in NAMED:
        op.add_column(table, sa.Column("public_id", sa.String(length=22), nullable=True))
        _fill_public_ids(connection, table)
    # On SQLite this rebuilds each table (with foreign keys off: leadcapture.migrations.upgrade).
    for table in NEVER_REUSED:
        with op.batch_alter_table(
            table, recreate="always" if sqlite else "auto", table_kwargs={"sqlite_autoincrement": True}
        ) as batch_op:
            if table in NAMED:
                batch_op.alter_column("public_id", existing_type=sa.String(length=22), nullable=False)
                batch_op.create_index(f"ix_{table}_public_id", ["public_id"], unique=True)


def downgrade() -> None:
    for table in NAMED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(f"ix_{table}_public_id")
            batch_op.drop_column("public_id")


def _fill_public_ids(connection, table: str) -> None:
    """Every existing row gets its own public id (as models.new_public_id makes them)."""
    ids = connection.execute(sa.text(f"SELECT id FROM {table}")).scalars().all()  # noqa: S608 - our table names
    update = sa.text(f"UPDATE {table} SET public_id = :public_id WHERE id = :id")  # noqa: S608
    for start in range(0, len(ids), 1000):
        rows = [{"id": row_id, "public_id": secrets.token_urlsafe(16)} for row_id in ids[start : start + 1000]]
        connection.execute(update, rows)
