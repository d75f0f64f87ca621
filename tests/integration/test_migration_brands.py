"""The brands migration on a database with forms, consents and a campaign, on PostgreSQL and on SQLite."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from leadcapture.db import Database
from leadcapture.migrations import upgrade
from tests.support.pg import create_database, drop_database, sqlalchemy_url

from .services import PG_SERVER

A = "A B.V., Stationsplein 1, Utrecht, privacy@a.example"
C = "Cé Ltd, 1 Main Street, London"


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request, tmp_path):
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'brands.db'}")
        yield db
        db.dispose()
        return
    request.getfixturevalue("pg_templates")  # skips (or fails in CI) when PostgreSQL is away
    name = create_database(PG_SERVER, "lc_brands")
    db = Database(sqlalchemy_url(PG_SERVER, name))
    yield db
    db.dispose()
    drop_database(PG_SERVER, name)


def _rows(connection) -> None:
    when = "2025-01-01 00:00:00"
    for form_id, controller in ((1, A), (2, A), (3, C)):
        connection.execute(
            sa.text("INSERT INTO forms (id, slug, created_at) VALUES (:id, :slug, :when)"),
            {"id": form_id, "slug": f"f{form_id}", "when": when},
        )
        connection.execute(
            sa.text(
                "INSERT INTO form_versions (id, form_id, number, content_hash, definition_json, created_at)"
                " VALUES (:id, :id, 1, :hash, :json, :when)"
            ),
            {"id": form_id, "hash": f"h{form_id}", "json": json.dumps({"controller": controller}), "when": when},
        )
        connection.execute(sa.text("UPDATE forms SET current_version_id = :id WHERE id = :id"), {"id": form_id})
    for person in (1, 2, 3):
        connection.execute(
            sa.text(
                "INSERT INTO people (id, public_id, email_index, email_enc, language, created_at, last_activity_at)"
                " VALUES (:id, :pid, :index, 'e', 'nl', :when, :when)"
            ),
            {"id": person, "pid": f"p{person:021d}", "index": f"i{person}", "when": when},
        )
    # People 1 and 2 consented to "news" on forms of controller A, person 3 on C's form.
    for consent_id, person, version in ((1, 1, 1), (2, 2, 2), (3, 3, 3)):
        connection.execute(
            sa.text(
                "INSERT INTO consents (id, person_id, purpose_key, channel, state, form_version_id, last_activity_at)"
                " VALUES (:id, :person, 'news', 'email', 'confirmed', :version, :when)"
            ),
            {"id": consent_id, "person": person, "version": version, "when": when},
        )
    connection.execute(
        sa.text("INSERT INTO content_items (id, purpose_key, welcome, created_at) VALUES (1, 'news', :no, :when)"),
        {"no": False, "when": when},
    )
    connection.execute(
        sa.text(
            "INSERT INTO campaigns (id, item_id, purpose_key, status, cursor_person_id, fanout_done, total, sent,"
            " skipped, failed, created_at) VALUES (1, 1, 'news', 'done', 0, :yes, 0, 0, 0, 0, :when)"
        ),
        {"yes": True, "when": when},
    )


def test_existing_forms_get_one_brand_per_controller_and_consents_follow_their_form(database):
    # Given a database one step before brands, with three forms of two controllers
    upgrade(database, "0015_bounces")
    with database.engine.begin() as connection:
        _rows(connection)
    # When it is migrated to the head
    upgrade(database)
    with database.engine.begin() as connection:
        brands = dict(connection.execute(sa.text("SELECT controller, id FROM brands")).all())
        slugs = set(connection.execute(sa.text("SELECT slug FROM brands")).scalars())
        forms = dict(connection.execute(sa.text("SELECT id, brand_id FROM forms")).all())
        consents = dict(connection.execute(sa.text("SELECT person_id, brand_id FROM consents")).all())
        campaign = connection.scalar(sa.text("SELECT brand_id FROM campaigns WHERE id = 1"))
        defaults = connection.execute(sa.text("SELECT sender_address, authority_name, colour FROM brands")).all()
    # Then each controller text is one brand, and the forms and consents belong to theirs
    assert set(brands) == {A, C} and slugs == {"a-b-v", "ce-ltd"}
    assert forms == {1: brands[A], 2: brands[A], 3: brands[C]}
    assert consents == {1: brands[A], 2: brands[A], 3: brands[C]}
    assert campaign == brands[A]  # the brand most of the purpose's consents belong to
    assert set(defaults) == {("", "Autoriteit Persoonsgegevens", "#1f4e79")}
    # And one person may now consent to the same purpose at each brand, but only once per brand
    insert = sa.text(
        "INSERT INTO consents (id, person_id, brand_id, purpose_key, channel, state, form_version_id, last_activity_at)"
        " VALUES (:id, 1, :brand, 'news', 'email', 'confirmed', 3, '2025-01-02 00:00:00')"
    )
    with database.engine.begin() as connection:
        connection.execute(insert, {"id": 10, "brand": brands[C]})
    with pytest.raises(sa.exc.IntegrityError, match="(?i)unique"), database.engine.begin() as connection:
        connection.execute(insert, {"id": 11, "brand": brands[A]})
