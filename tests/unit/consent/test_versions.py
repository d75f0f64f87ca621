"""Which version of a form is live, as a process reads it: cached for LIVE_TTL, read afresh after its own writes."""

from __future__ import annotations

import time
from types import SimpleNamespace

from sqlalchemy import create_engine, select, text

from leadcapture.consent import versions
from leadcapture.models import Form, utcnow
from tests.support.sql import statements_on
from tests.unit.consent.test_formdefs import demo_copy


def test_a_form_page_shown_again_needs_no_database(client, services, demo_form):
    assert client.get("/f/sales-machine").status_code == 200
    with statements_on(services.db.engine) as again:
        client.get("/f/sales-machine")
    assert again == []


def test_a_new_version_or_an_archive_in_this_process_shows_at_once(runner, client, services, tmp_path):
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path))])
    assert "met salestips." in client.get("/f/sales-machine").get_data(as_text=True)
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path, {"met salestips.": "met de beste tips."}))])
    assert "met de beste tips." in client.get("/f/sales-machine").get_data(as_text=True)
    with services.db.session() as session:
        session.scalar(select(Form).where(Form.slug == "sales-machine")).archived_at = utcnow()
    assert client.get("/f/sales-machine").status_code == 404


def test_a_change_by_another_process_shows_within_the_ttl(runner, client, services, tmp_path, monkeypatch):
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path))])
    assert client.get("/f/sales-machine").status_code == 200
    # Another process archives the form (its own connection: nothing here hears of it)
    other = create_engine(services.db.url)
    with other.begin() as conn:
        conn.execute(text("UPDATE forms SET archived_at = CURRENT_TIMESTAMP"))
    other.dispose()
    assert client.get("/f/sales-machine").status_code == 200  # this process still shows it
    later = time.monotonic() + versions.LIVE_TTL + 1
    monkeypatch.setattr(versions, "time", SimpleNamespace(monotonic=lambda: later))
    assert client.get("/f/sales-machine").status_code == 404
