"""The hardening migration on a database with data: nothing is lost, leftovers are cleaned."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from leadcapture.db import Database
from leadcapture.migrations import alembic_config, upgrade

ROWS = [
    "INSERT INTO forms (id, slug, created_at) VALUES (1, 'f', '2025-01-01')",
    "INSERT INTO form_versions (id, form_id, number, content_hash, definition_json, created_at)"
    " VALUES (1, 1, 1, 'h', '{}', '2025-01-01')",
    "INSERT INTO people (id, email_index, email_enc, language, created_at, last_activity_at, last_confirmation_at)"
    " VALUES (1, 'i', 'e', 'nl', '2025-01-01', '2025-01-01', '2025-01-01')",
    "INSERT INTO submissions (id, person_id, form_version_id, language, page_url, sends_confirmation, created_at)"
    " VALUES (1, 1, 1, 'nl', 'https://user:pw@www.example.com/offer?email=ann%40example.com#top', 1, '2025-01-01')",
    "INSERT INTO submissions (id, person_id, form_version_id, language, page_url, sends_confirmation, created_at)"
    " VALUES (2, 1, 1, 'nl', 'https://www.example.com/plain', 1, '2025-01-01')",
    "INSERT INTO consents (id, person_id, purpose_key, channel, state, form_version_id, last_activity_at)"
    " VALUES (1, 1, 'news', 'email', 'confirmed', 1, '2025-01-01')",
    "INSERT INTO admin_users (id, email, role, password_hash, session_epoch, created_at)"
    " VALUES (1, 'ｄpo@example.com', 'privacy', 'x', 0, '2025-01-01')",
]


def test_the_hardening_migration_keeps_every_row_and_strips_page_url_queries(tmp_path):
    # Given a database one step before, with a person, submissions, a consent and an account
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db, ScriptDirectory.from_config(alembic_config(db.url)).get_revision("0008").down_revision)
    with db.engine.begin() as connection:
        for statement in ROWS:
            connection.execute(sa.text(statement))
    # When it is migrated to the head (SQLite enforces foreign keys here, as in production)
    upgrade(db)
    # Then nothing cascaded away, and the leftovers are cleaned
    with db.engine.connect() as connection:
        count = {
            t: connection.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in ("people", "submissions", "consents")
        }
        assert count == {"people": 1, "submissions": 2, "consents": 1}
        urls = connection.execute(sa.text("SELECT page_url FROM submissions ORDER BY id")).scalars().all()
        assert urls == ["https://www.example.com/offer", "https://www.example.com/plain"]
        assert connection.scalar(sa.text("SELECT email FROM admin_users")) == "dpo@example.com"
        columns = {row[1] for row in connection.execute(sa.text("PRAGMA table_info(people)"))}
        assert "last_confirmation_at" not in columns
    db.dispose()
