"""Consent expiry, re-permission mail and the retention purge, driven by an injected clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadcapture import scheduler
from leadcapture.consent import ledger, lifecycle
from leadcapture.consent.gates import may_contact as may_send_purpose
from leadcapture.i18n import format_date
from leadcapture.models import Consent, LeadRequest, LedgerEvent, Message, Person, Repermission, Submission
from tests.support.app import html_part, links, path_of, submit, text_part
from tests.support.ledger import seal_and_verify
from tests.support.people import confirmed_person
from tests.support.settings import reconfigure

pytestmark = pytest.mark.usefixtures("demo_form")


def consent_of(session, key):
    return session.scalar(select(Consent).where(Consent.purpose_key == key))


def run(services, now):
    return scheduler.run_jobs(services, now)


def test_add_months_clamps_to_the_end_of_the_month():
    assert lifecycle.add_months(datetime(2026, 1, 31, 9, tzinfo=UTC), 1) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert lifecycle.add_months(datetime(2026, 11, 15, tzinfo=UTC), 14) == datetime(2028, 1, 15, tzinfo=UTC)
    assert lifecycle.add_months(datetime(2026, 3, 31, tzinfo=UTC), -1) == datetime(2026, 2, 28, tzinfo=UTC)


def test_a_consent_lapses_after_its_retention_without_activity(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter", "call"))  # 24 and 6 months
    with services.db.session() as session:
        confirmed_at = consent_of(session, "call").last_activity_at
    just_before = lifecycle.add_months(confirmed_at, 6) - timedelta(seconds=1)
    assert run(services, just_before)["expired"] == 0
    report = run(services, lifecycle.add_months(confirmed_at, 6))
    assert report["expired"] == 1
    with services.db.session() as session:
        assert consent_of(session, "call").state == "expired"
        assert consent_of(session, "newsletter").state == "confirmed"
        person = session.scalar(select(Person))
        assert not may_send_purpose(session, person, "call")
        assert may_send_purpose(session, person, "newsletter")
        last = session.scalar(select(LedgerEvent).order_by(LedgerEvent.id.desc()).limit(1))
        assert (last.event, last.method, last.purpose_key) == ("expired", "system", "call")
        assert ledger.payload_of(services.vault, last)["retention_months"] == 6
    assert seal_and_verify(services).ok
    # Running again changes nothing: the job is idempotent.
    assert run(services, lifecycle.add_months(confirmed_at, 7))["expired"] == 0


def age_consents(services, months: int, extra=timedelta(0)) -> datetime:
    """Pretend every consent was last active `months` (+ extra) ago; return that moment."""
    start = lifecycle.add_months(datetime.now(UTC), -months) - extra
    with services.db.session() as session:
        for c in session.scalars(select(Consent)):
            c.last_activity_at = c.confirmed_at = start
    return start


def test_the_repermission_email_goes_once_a_month_before(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("call",))
    start = age_consents(services, 4)
    assert run(services, datetime.now(UTC))["repermission_queued"] == 0
    start = age_consents(services, 5, timedelta(hours=1))
    assert run(services, datetime.now(UTC))["repermission_queued"] == 1
    assert run(services, datetime.now(UTC) + timedelta(days=3))["repermission_queued"] == 0  # once per cycle
    worker.drain()
    (msg,) = [m for m in mailbox.to("jan@example.com") if "Wil je dit nog?" in str(m["Subject"])]
    assert str(msg["Subject"]) == "Wil je dit nog? Jullie mogen mij bellen over sales outsourcing."
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Message-ID"] and msg["Date"]
    body = text_part(msg)
    assert "Voorbeeld B.V." in body and format_date(lifecycle.add_months(start, 6), "nl") in body
    assert "klik op de knop" in body
    assert "Ik wil het houden" in html_part(msg)
    renew = next(u for u in links(msg) if "/p/" in u and "#purpose-call" in u)
    unsubscribe = re.search(r"<(\S+)>", msg["List-Unsubscribe"]).group(1)
    # The renew link only shows a page (GET never acts); its button POSTs.
    page = client.get(path_of(renew.split("#")[0])).get_data(as_text=True)
    assert re.search(r'name="renew" value="\d+:call"', page)
    with services.db.session() as session:
        assert consent_of(session, "call").last_activity_at == start  # the GET changed nothing
    # One-click in the re-permission email withdraws that purpose only.
    client.post(path_of(unsubscribe), data={"List-Unsubscribe": "One-Click"})
    with services.db.session() as session:
        assert consent_of(session, "call").state == "withdrawn"
        assert session.scalar(select(Message.kind).where(Message.kind == "repermission")) == "repermission"


def test_a_queued_repermission_is_not_sent_after_a_renewal(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("call",))
    with services.db.session() as session:
        start = consent_of(session, "call").last_activity_at
    run(services, lifecycle.add_months(start, 5) + timedelta(hours=1))  # queued in the outbox
    with services.db.session() as session:
        consent_of(session, "call").last_activity_at = start + timedelta(days=100)  # renewed meanwhile
    worker.drain()
    assert not [m for m in mailbox.to("jan@example.com") if "Wil je dit nog?" in str(m["Subject"])]
    with services.db.session() as session:
        assert session.scalar(select(Message.status).where(Message.kind == "repermission")) == "skipped"


def test_unconfirmed_requests_are_purged_after_the_retention(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    submit(client, "never@example.com", ["newsletter", "call"], name="Never Confirmed")
    worker.drain()
    now = datetime.now(UTC)
    assert run(services, now + timedelta(days=29))["purged"]["requests"] == 0
    report = run(services, now + timedelta(days=31))
    assert report["purged"] == {"requests": 3, "submissions": 1, "people": 1, "ledger_payloads": 2}
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        assert session.scalar(select(func.count()).select_from(Submission)) == 1
        assert session.scalar(select(func.count()).select_from(LeadRequest)) == 2
        events = session.scalars(select(LedgerEvent).order_by(LedgerEvent.id)).all()
        # The confirmed person's proof stays whole; the purged requests keep only their hashes.
        kept = {ev.person_id: [] for ev in events}
        for ev in events:
            kept[ev.person_id].append(ev.payload_enc is not None)
        assert kept[1] == [True, True] and kept[2] == [False, False]
    chain = seal_and_verify(services)
    assert (chain.sealed, chain.problems) == (4, [])
    assert run(services, now + timedelta(days=32))["purged"]["requests"] == 0


def test_a_pending_request_of_a_confirmed_person_goes_but_the_person_stays(client, worker, mailbox, services, app):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    reconfigure(app, confirmation_window=0)
    submit(client, "jan@example.com", ["call"])
    worker.drain()
    report = run(services, datetime.now(UTC) + timedelta(days=31))
    assert report["purged"] == {"requests": 2, "submissions": 1, "people": 0, "ledger_payloads": 1}
    with services.db.session() as session:
        assert consent_of(session, "newsletter").state == "confirmed"
        assert session.scalar(select(func.count()).select_from(Repermission)) == 0


def test_erasing_a_person_with_a_queued_repermission_works(client, worker, mailbox, services, runner):
    confirmed_person(client, worker, mailbox, purposes=("call",))
    with services.db.session() as session:
        start = consent_of(session, "call").last_activity_at
    assert run(services, lifecycle.add_months(start, 5) + timedelta(hours=1))["repermission_queued"] == 1
    result = runner.invoke(["people", "erase", "jan@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    worker.drain()
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Repermission)) == 0
        assert session.scalar(select(Message.status).where(Message.kind == "repermission")) == "skipped"
    assert not [m for m in mailbox.to("jan@example.com") if "Wil je dit nog?" in str(m["Subject"])]
