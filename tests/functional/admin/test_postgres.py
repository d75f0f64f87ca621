"""The admin's SQL on PostgreSQL (funnel buckets, contact export, migration 0002); skipped without it."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

import pytest

from leadcapture import create_app
from leadcapture.backoffice import funnel
from leadcapture.backoffice.contacts import contact_rows
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.db import Database
from leadcapture.migrations import upgrade
from tests.functional.admin.test_ids import assert_huge_ids_are_refused
from tests.functional.test_hostile_input import assert_nul_is_refused
from tests.support.admin import confirm_all, signed_in, withdraw
from tests.support.app import DEMO_FORM, Runner, make_config, submit

pytestmark = pytest.mark.integration
SERVER = os.environ.get("LEADCAPTURE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.fixture
def pg_app(tmp_path):
    import psycopg

    name = f"lc_issue4_{secrets.token_hex(4)}"
    admin_url = SERVER.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    db = Database(f"{SERVER}/{name}")
    upgrade(db)
    db.dispose()
    app = create_app(make_config(tmp_path, DATABASE_URL=f"{SERVER}/{name}"))
    yield app
    app.extensions["leadcapture"].db.dispose()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_funnel_and_contact_export_on_postgres(pg_app):
    services = pg_app.extensions["leadcapture"]
    definition, asset = load_toml(DEMO_FORM)
    with services.db.session() as session:
        version, _ = save(session, definition, asset)
        form_id = version.form_id
    client = pg_app.test_client()
    for n in range(3):
        submit(client, f"p{n}@example.com", ["newsletter"], name=f"P {n}")
    confirm_all(services, "p0@example.com")
    confirm_all(services, "p1@example.com")
    withdraw(services, "p1@example.com")
    since, until = funnel.default_range()
    with services.db.session() as session:
        for period in funnel.PERIODS:
            rows = {r.key: r for r in funnel.funnel(session, form_id, since, until, period).rows}
            assert [rows["newsletter"].total(s) for s in funnel.STAGES] == [3, 2, 0, 1]
            today = funnel.bucket_of(until, period)
            assert rows["newsletter"].series["submitted"] == {today: 3}
        assert funnel.roll_up(session, until + timedelta(days=1)) > 0  # the scheduler's sums, on PostgreSQL
        rows = {r.key: r for r in funnel.funnel(session, form_id, since, until).rows}
        assert [rows["newsletter"].total(s) for s in funnel.STAGES] == [3, 2, 0, 1]
    csv_text = "".join(contact_rows(services, "newsletter", "email", batch=1))
    assert csv_text.splitlines()[1].startswith("p0@example.com,P 0,")
    marketer = signed_in(pg_app, services, "marketer")
    assert "Confirmation rate: <strong>67%</strong>" in marketer.get("/admin/forms/sales-machine/funnel").get_data(
        as_text=True
    )


def test_huge_ids_in_admin_urls_are_a_404_on_postgres(pg_app):
    services = pg_app.extensions["leadcapture"]
    definition, asset = load_toml(DEMO_FORM)
    with services.db.session() as session:
        save(session, definition, asset)
    assert_huge_ids_are_refused(pg_app, services)


def test_a_nul_anywhere_is_refused_on_postgres(pg_app):
    services = pg_app.extensions["leadcapture"]
    definition, asset = load_toml(DEMO_FORM)
    with services.db.session() as session:
        save(session, definition, asset)
    assert_nul_is_refused(pg_app, services)


def test_huge_ids_on_the_command_line_are_a_usage_error_on_postgres(pg_app):
    runner = Runner(pg_app)
    for args in (["campaigns", "status", "9" * 12], ["webhooks", "deliveries", "--endpoint", "9" * 12]):
        result = runner.invoke(args)
        assert result.exit_code == 2 and "is not in the range" in result.output, (args, result.output)
    result = runner.invoke(["webhooks", "remove", "9" * 12, "--yes"])
    assert result.exit_code == 1 and "there is no webhook endpoint" in result.output
