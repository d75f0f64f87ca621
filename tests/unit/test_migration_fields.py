"""Migration 0030_fields on SQLite and PostgreSQL: rows kept, old funnel counts without a source, and back."""

from __future__ import annotations

import os
import secrets

import pytest
import sqlalchemy as sa
from alembic import command

from leadcapture.db import Database
from leadcapture.migrations import alembic_config, upgrade

SERVER = os.environ.get("LEADCAPTURE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
ROWS = [
    "INSERT INTO brands (id, slug, name, controller, sender_name, sender_address, reply_to, sales_address, colour,"
    " authority_name, authority_url, logo_version, created_at, updated_at) VALUES (1, 'b', 'B', 'B B.V.', '', '', '',"
    " '', '#0b5cab', 'AP', 'https://autoriteitpersoonsgegevens.nl', 0, '2025-01-01', '2025-01-01')",
    "INSERT INTO forms (id, slug, brand_id, created_at) VALUES (1, 'f', 1, '2025-01-01')",
    "INSERT INTO form_versions (id, form_id, number, content_hash, definition_json, created_at)"
    " VALUES (1, 1, 1, 'h', '{}', '2025-01-01')",
    "INSERT INTO people (id, public_id, email_index, email_enc, language, created_at, last_activity_at)"
    " VALUES (1, 'p1', 'i1', 'e', 'nl', '2025-01-01', '2025-01-01')",
    "INSERT INTO submissions (id, public_id, person_id, form_version_id, language, sends_confirmation, created_at)"
    " VALUES (1, 's1', 1, 1, 'nl', true, '2025-01-01')",
    "INSERT INTO requests (id, public_id, submission_id, kind, state) VALUES (1, 'r1', 1, 'asset', 'pending')",
    "INSERT INTO funnel_counts (day, form_id, purpose_key, stage, count)"
    " VALUES ('2025-01-01', 1, 'asset', 'submitted', 4)",
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database(request, tmp_path):
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'm.db'}")
        yield db
        db.dispose()
        return
    import psycopg

    name = f"lc_fields_{secrets.token_hex(4)}"
    admin = SERVER.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    db = Database(f"{SERVER}/{name}")
    yield db
    db.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def columns(db: Database, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns(table)}


def test_the_migration_keeps_every_row_and_goes_back(database):
    # Given a database at the revision before, with a lead and a funnel count
    upgrade(database, "0030_brands")
    with database.engine.begin() as connection:
        for statement in ROWS:
            connection.execute(sa.text(statement))
    # When it is migrated to the head
    upgrade(database)
    # Then the lead is kept without a source or answers, and the old count has no source ("")
    assert {"answers_enc", "utm_source", "utm_medium", "utm_campaign", "referrer_enc"} <= columns(
        database, "submissions"
    )
    assert "answers_enc" in columns(database, "people")
    with database.engine.begin() as connection:
        lead = connection.execute(sa.text("SELECT utm_source, answers_enc, referrer_enc FROM submissions")).one()
        assert tuple(lead) == (None, None, None)
        assert connection.execute(sa.text("SELECT source, count FROM funnel_counts")).one() == ("", 4)
        assert connection.scalar(sa.text("SELECT count(*) FROM requests")) == 1  # nothing cascaded away
        # and a count written without naming the source (an older process during a deploy) still works
        connection.execute(
            sa.text(
                "INSERT INTO funnel_counts (day, form_id, purpose_key, stage, count)"
                " VALUES ('2025-01-02', 1, '', 'view', 1)"
            )
        )
    # And it goes back to the revision before, and forward again
    with database.engine.connect() as connection:
        config = alembic_config(database.url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0030_brands")
        connection.commit()
    assert "utm_source" not in columns(database, "submissions") and "source" not in columns(database, "funnel_counts")
    upgrade(database)
    assert "source" in columns(database, "funnel_counts")
