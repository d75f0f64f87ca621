"""ledger_events: ordered at insert (id), chained later by the sealer with a keyed hash; the head row always exists

Existing events keep their seq, prev_hash and hash and are marked hash_version 1 (unkeyed
SHA-256), so they stay verifiable; their id is their seq. The head row is created here, so that
no first append or seal has to race to create it.

Revision ID: 0011_ledger_keyed
Revises: 0014_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_ledger_keyed"
down_revision = "0014_webhooks"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
_COPIED = "occurred_at, event, method, person_id, purpose_key, payload_enc, payload_digest, prev_hash, hash"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_by_copy()
    op.execute(
        sa.text(
            "INSERT INTO ledger_head (id, seq, hash) SELECT 1, (SELECT COALESCE(MAX(seq), 0) FROM ledger_events), "
            "COALESCE((SELECT hash FROM ledger_events WHERE seq = (SELECT MAX(seq) FROM ledger_events)), :genesis) "
            "WHERE NOT EXISTS (SELECT 1 FROM ledger_head WHERE id = 1)"
        ).bindparams(genesis=GENESIS)
    )


def _upgrade_postgresql() -> None:
    for statement in (
        "ALTER TABLE ledger_events ADD COLUMN id BIGSERIAL NOT NULL",
        "UPDATE ledger_events SET id = seq",
        "SELECT setval(pg_get_serial_sequence('ledger_events', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) "
        "FROM ledger_events",
        "ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_pkey",
        "ALTER TABLE ledger_events ADD CONSTRAINT ledger_events_pkey PRIMARY KEY (id)",
        "ALTER TABLE ledger_events ALTER COLUMN seq DROP NOT NULL, ALTER COLUMN prev_hash DROP NOT NULL, "
        "ALTER COLUMN hash DROP NOT NULL",
        "ALTER TABLE ledger_events ADD COLUMN recorded_at TIMESTAMP WITH TIME ZONE, "
        "ADD COLUMN hash_version SMALLINT, ADD COLUMN key_id VARCHAR(16)",
        "UPDATE ledger_events SET recorded_at = occurred_at, hash_version = 1",
        "ALTER TABLE ledger_events ALTER COLUMN recorded_at SET NOT NULL",
    ):
        op.execute(statement)
    op.create_index("ix_ledger_events_seq", "ledger_events", ["seq"], unique=True)


def _upgrade_by_copy() -> None:
    """SQLite cannot change a primary key in place: build the new table and copy the events over."""
    op.create_table(
        "ledger_events_new",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("purpose_key", sa.String(length=64), nullable=True),
        sa.Column("payload_enc", sa.Text(), nullable=True),
        sa.Column("payload_digest", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.Column("hash_version", sa.SmallInteger(), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        f"INSERT INTO ledger_events_new (id, seq, recorded_at, hash_version, {_COPIED}) "
        f"SELECT seq, seq, occurred_at, 1, {_COPIED} FROM ledger_events"
    )
    op.drop_index("ix_ledger_events_person_id", table_name="ledger_events")
    op.drop_table("ledger_events")
    op.rename_table("ledger_events_new", "ledger_events")
    op.create_index("ix_ledger_events_person_id", "ledger_events", ["person_id"])
    op.create_index("ix_ledger_events_seq", "ledger_events", ["seq"], unique=True)


def downgrade() -> None:
    raise RuntimeError(
        "0011_ledger_keyed cannot be undone: keyed events have no place in the unkeyed chain it follows. "
        "Restore the database backup taken before the upgrade instead."
    )
