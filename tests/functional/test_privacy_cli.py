"""`people export|erase|unsuppress`, `register`, `keys`, `scheduler` as an operator runs them."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadcapture import scheduler
from leadcapture.consent import lifecycle
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.models import Lock, Person, Suppression
from leadcapture.privacy import records as register
from tests.support.app import DEMO_FORM, submit
from tests.support.cli import leadcapture
from tests.support.people import confirmed_person
from tests.support.settings import reconfigure

pytestmark = pytest.mark.usefixtures("demo_form")


def test_people_export_prints_json_with_the_proof(client, worker, mailbox, runner):
    confirmed_person(client, worker, mailbox)
    assert runner.invoke(["ledger", "seal"]).stdout == "sealed 4 event(s)\n"
    result = runner.invoke(["people", "export", "Jan@Example.com"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["subject"]["email"] == "jan@example.com"
    assert {c["purpose"] for c in data["consents"]} == {"newsletter", "call"}
    call = next(c for c in data["consents"] if c["purpose"] == "call")
    assert call["lapses_at"][:10] == lifecycle.add_months(datetime.now(UTC), 6).date().isoformat()
    assert all(e["hash"] and e["key_id"] for e in data["ledger"])
    assert [e["seq"] for e in data["ledger"]] == [1, 2, 3, 4]


def test_people_export_shows_events_not_sealed_yet_as_such(client, worker, mailbox, runner):
    confirmed_person(client, worker, mailbox)
    data = json.loads(runner.invoke(["people", "export", "jan@example.com"]).stdout)
    assert {(e["seq"], e["hash"]) for e in data["ledger"]} == {(None, None)}
    page = runner.invoke(["people", "export", "jan@example.com", "--format", "html"]).stdout
    assert "ledger event not sealed yet" in page and "None" not in page


def test_people_export_html_is_a_printable_proof_page(client, worker, mailbox, runner):
    confirmed_person(client, worker, mailbox)
    result = runner.invoke(["people", "export", "jan@example.com", "--format", "html"])
    assert result.exit_code == 0
    page = result.stdout
    assert page.startswith("<!doctype html>") and "Proof of consent" in page and "@media print" in page
    assert "&ldquo;Stuur mij de maandelijkse nieuwsbrief met salestips.&rdquo;" in page
    assert "confirm_page" in page and "jan@example.com" in page


def test_people_export_of_an_unknown_address_exits_1(runner):
    result = runner.invoke(["people", "export", "nobody@example.com"])
    assert result.exit_code == 1 and "no person with address nobody@example.com" in result.stderr


def test_people_erase_asks_then_erases_and_reports(client, worker, mailbox, runner, services):
    confirmed_person(client, worker, mailbox)
    refused = runner.invoke(["people", "erase", "jan@example.com"], input="n\n")
    assert refused.exit_code == 1 and "nothing erased" in refused.stderr
    result = runner.invoke(["people", "erase", "jan@example.com"], input="y\n")
    assert result.exit_code == 0
    assert "2 consent(s), 1 submission(s), 4 ledger payload(s); the address is suppressed" in result.stdout
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0
        assert session.scalar(select(Suppression.reason)) == "erased"
    again = runner.invoke(["people", "export", "jan@example.com"])
    assert again.exit_code == 1 and "on the suppression list (reason: erased" in again.stderr
    assert runner.invoke(["ledger", "seal"]).exit_code == 0
    assert runner.invoke(["ledger", "verify"]).exit_code == 0
    assert runner.invoke(["people", "erase", "jan@example.com", "--yes"]).exit_code == 1


def test_unsuppress_of_an_address_that_is_not_suppressed_exits_1(runner):
    result = runner.invoke(["people", "unsuppress", "nobody@example.com"])
    assert result.exit_code == 1 and "is not suppressed" in result.stderr


def test_the_register_lists_every_purpose_of_every_form(runner, services, app, tmp_path):
    other = DEMO_FORM.read_text().replace('slug = "sales-machine"', 'slug = "events"')
    other = other.replace('key = "call"', 'key = "event_invites"').replace('language = "nl"', 'language = "en"')
    (tmp_path / "events.toml").write_text(other)
    (tmp_path / "sales-machine.pdf").write_bytes((DEMO_FORM.parent / "sales-machine.pdf").read_bytes())
    with services.db.session() as session:
        save(session, *load_toml(tmp_path / "events.toml"))
    reconfigure(app, mail_url="smtp://relay.example.net:587", crm_webhook_urls="https://crm.example.org/hooks/consent")
    with services.db.session() as session:
        data = register.build(session, app.extensions["leadcapture"].settings)
    keys = {(a["form"], a.get("purpose_key")) for a in data["activities"]}
    expected = {
        (form, key)
        for form in ("sales-machine", "events")
        for key in (None, "newsletter", "product_news", "call" if form == "sales-machine" else "event_invites")
    }
    assert keys == expected
    assert data["controllers"] == ["Voorbeeld B.V., Stationsplein 1, 3511 ED Utrecht, privacy@example.com"]
    names = [r["name"] for r in data["recipients"]]
    assert "mail relay relay.example.net" in names and "CRM webhook crm.example.org" in names
    call = next(a for a in data["activities"] if a.get("purpose_key") == "call")
    assert "consent, GDPR Art. 6(1)(a)" in call["legal_basis"] and "6 months" in call["retention"]
    assert "deleted after 30 days" in data["retention"]["unconfirmed_requests"]
    assert any("AES-256-GCM" in m for m in data["security_measures"])
    for fmt, marker in (("markdown", "# Records of processing"), ("html", "<h1>Records"), ("json", '"schema"')):
        result = runner.invoke(["register", "--format", fmt])
        assert result.exit_code == 0 and marker in result.stdout
        assert "Jullie mogen mij bellen over sales outsourcing." in result.stdout
        assert "event_invites" in result.stdout
    assert json.loads(runner.invoke(["register", "--format", "json"]).stdout)["schema"] == register.SCHEMA


def test_the_lease_lets_one_process_run_the_jobs(services):
    now = datetime.now(UTC)
    ttl = timedelta(minutes=10)
    assert scheduler.acquire(services.db, "scheduler", "a", ttl, now)
    assert not scheduler.acquire(services.db, "scheduler", "b", ttl, now + timedelta(minutes=5))
    assert scheduler.acquire(services.db, "scheduler", "a", ttl, now + timedelta(minutes=5))  # renewal
    assert scheduler.run_once(services, "b", now + timedelta(minutes=6)) is None
    assert scheduler.acquire(services.db, "scheduler", "b", ttl, now + timedelta(minutes=16))  # a died
    scheduler.release(services.db, "scheduler", "b")
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Lock)) == 0


def test_scheduler_once_runs_and_gives_the_lease_back(runner, services):
    for _ in range(2):
        result = runner.invoke(["scheduler", "--once"])
        assert result.exit_code == 0 and "expired 0 consent(s)" in result.output
    assert scheduler.acquire(services.db, "scheduler", "other", timedelta(minutes=5), datetime.now(UTC))
    busy = runner.invoke(["scheduler", "--once"])
    assert busy.exit_code == 0 and "another process holds the scheduler lease" in busy.output


def test_the_scheduler_loop_runs_and_releases_its_lease(services, app):
    reconfigure(app, scheduler_interval=3600)
    stop = threading.Event()
    runs: list[datetime] = []

    def clock() -> datetime:
        runs.append(datetime.now(UTC))
        stop.set()  # one run, then stop
        return runs[-1]

    thread = threading.Thread(target=scheduler.loop, args=(services, stop), kwargs={"clock": clock, "first_delay": 0})
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and len(runs) == 1
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Lock)) == 0


def test_keys_status_counts_rows_under_an_older_key(client, worker, mailbox, runner):
    confirmed_person(client, worker, mailbox)
    result = runner.invoke(["keys", "status"])
    assert result.exit_code == 0 and "rows with values under an older key: 0" in result.output
    assert "(derived from the oldest data key)" in result.output


def test_the_commands_work_in_a_real_shell(tmp_path):
    """The done-when list, run in a shell as a new user would against var/ (set up in-process)."""
    from leadcapture import create_app
    from leadcapture.migrations import upgrade

    app = create_app({"VAR_DIR": str(tmp_path / "var"), "MIN_FILL_SECONDS": 0, "TESTING": True})
    services = app.extensions["leadcapture"]
    upgrade(services.db)
    with services.db.session() as session:
        save(session, *load_toml(DEMO_FORM))
    submit(app.test_client(), "jan@example.com", ["newsletter"], name="Jan")
    services.db.dispose()
    exported = leadcapture(tmp_path, "people", "export", "jan@example.com")
    assert exported.returncode == 0 and json.loads(exported.stdout)["subject"]["email"] == "jan@example.com"
    once = leadcapture(tmp_path, "scheduler", "--once")
    assert once.returncode == 0 and "purged 0 unconfirmed request(s)" in once.stdout
    old = (tmp_path / "var" / "data_key").read_text().strip()
    new = base64.urlsafe_b64encode(b"r" * 32).decode()
    rotated = leadcapture(tmp_path, "keys", "rotate", env={"LEADCAPTURE_DATA_KEY": f"{new},{old}"})
    assert rotated.returncode == 0, rotated.stderr
    assert "done: 5 value(s) re-encrypted;" in rotated.stdout
    assert all(f"; {table}" in rotated.stdout for table in ("ledger_events 1", "people 1", "submissions 3"))
    assert "keep it in LEADCAPTURE_DATA_KEY, or pin" in rotated.stdout
    pin = leadcapture(tmp_path, "keys", "index-key").stdout.strip()
    env = {"LEADCAPTURE_DATA_KEY": new, "LEADCAPTURE_INDEX_KEY": pin.split("=", 1)[1]}
    erased = leadcapture(tmp_path, "people", "erase", "jan@example.com", "--yes", env=env)
    assert erased.returncode == 0 and "the address is suppressed" in erased.stdout
    assert leadcapture(tmp_path, "ledger", "seal", env=env).returncode == 0
    assert leadcapture(tmp_path, "ledger", "verify", env=env).stdout.startswith("ledger OK: 2 events")
