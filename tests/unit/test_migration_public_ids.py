"""The public-ids migration on a SQLite database with data: every row kept, named, never renumbered."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from leadcapture.db import Database
from leadcapture.migrations import upgrade

ROWS = [
    "INSERT INTO forms (id, slug, created_at) VALUES (1, 'f', '2025-01-01')",
    "INSERT INTO form_versions (id, form_id, number, content_hash, definition_json, created_at)"
    " VALUES (1, 1, 1, 'h', '{}', '2025-01-01')",
    *(
        "INSERT INTO people (id, email_index, email_enc, language, created_at, last_activity_at)"
        f" VALUES ({n}, 'i{n}', 'e', 'nl', '2025-01-01', '2025-01-01')"
        for n in (1, 2, 3)
    ),
    *(
        "INSERT INTO submissions (id, person_id, form_version_id, language, sends_confirmation, created_at)"
        f" VALUES ({n}, {n}, 1, 'nl', 1, '2025-01-01')"
        for n in (1, 2, 3)
    ),
    *(
        f"INSERT INTO requests (id, submission_id, kind, state) VALUES ({n}, {n}, 'asset', 'pending')"
        for n in (1, 2, 3)
    ),
    "INSERT INTO consents (id, person_id, purpose_key, channel, state, form_version_id, last_activity_at)"
    " VALUES (1, 3, 'news', 'email', 'confirmed', 1, '2025-01-01')",
]
NAMED = ("people", "submissions", "requests")


def test_existing_rows_get_their_own_public_id_and_ids_are_never_reused(tmp_path):
    # Given a database one step before, with people, submissions, requests and a consent
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db, "0009")
    with db.engine.begin() as connection:
        for statement in ROWS:
            connection.execute(sa.text(statement))
    # When it is migrated to the head (SQLite enforces foreign keys here, as in production)
    upgrade(db)
    with db.engine.begin() as connection:
        # Then nothing cascaded away and every row has a distinct, unguessable public id
        for table in NAMED:
            public_ids = connection.execute(sa.text(f"SELECT public_id FROM {table}")).scalars().all()
            assert len(public_ids) == 3 and len(set(public_ids)) == 3, table
            assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", p) for p in public_ids), table
        assert connection.scalar(sa.text("SELECT count(*) FROM consents")) == 1
        assert connection.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1  # back on after the migration
        # And when the newest person is deleted, the next one never takes their id
        connection.execute(sa.text("DELETE FROM people WHERE id = 3"))
        assert connection.scalar(sa.text("SELECT count(*) FROM consents")) == 0  # the cascade still works
        connection.execute(
            sa.text(
                "INSERT INTO people (email_index, email_enc, language, created_at, last_activity_at, public_id)"
                " VALUES ('i4', 'e', 'nl', '2025-01-01', '2025-01-01', 'x')"
            )
        )
        assert connection.scalar(sa.text("SELECT max(id) FROM people")) == 4
        # And two rows can never share a public id
        duplicate = connection.execute(sa.text("SELECT public_id FROM submissions WHERE id = 1")).scalar()
        with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():
            connection.execute(sa.text(f"UPDATE submissions SET public_id = '{duplicate}' WHERE id = 2"))
    db.dispose()
