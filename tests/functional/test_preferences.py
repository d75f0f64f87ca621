"""The preference centre: states and dates, re-confirming a lapsed purpose, forget me."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadcapture import scheduler
from leadcapture.consent import ledger, lifecycle
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.i18n import format_date
from leadcapture.models import Consent, LedgerEvent, Person, Suppression
from tests.support.app import DEMO_FORM, links, path_of, submit
from tests.support.ledger import seal_and_verify
from tests.support.people import confirmed_person
from tests.support.settings import reconfigure

pytestmark = pytest.mark.usefixtures("demo_form")

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def preferences_path(mailbox, email="jan@example.com") -> str:
    return path_of(next(u for u in links(mailbox.to(email)[-1]) if "/p/" in u))


def post(client, path, **data):
    token = CSRF.search(client.get(path).get_data(as_text=True)).group(1)
    return client.post(path, data={"csrf_token": token, **data})


def lapse(services, key):
    """Let a consent lapse the way the scheduler does, some months from now."""
    with services.db.session() as session:
        c = session.scalar(select(Consent).where(Consent.purpose_key == key))
        due = lifecycle.lapses_at(c)
    scheduler.run_jobs(services, due)


def test_the_page_lists_each_purpose_with_its_state_and_dates(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter", "call"))
    page = client.get(preferences_path(mailbox)).get_data(as_text=True)
    today = datetime.now(UTC).date()
    # Dates as a Dutch reader writes them ("27 november 2026"), never ISO.
    assert page.count("actief") == 2 and f"sinds {format_date(today, 'nl')}" in page
    assert f"vervalt op {format_date(lifecycle.add_months(datetime.now(UTC), 6), 'nl')}, tenzij je die verlengt" in page
    assert today.isoformat() not in page
    assert "Verwijder al mijn gegevens" in page and '<html lang="nl">' in page


def test_a_get_changes_nothing(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    with services.db.session() as session:
        before = session.execute(select(Consent.state, Consent.last_activity_at)).all()
        events = session.scalar(select(func.count()).select_from(LedgerEvent))
    path = preferences_path(mailbox)
    client.get(path)
    client.get(path + "/forget")
    client.head(path + "/forget")
    with services.db.session() as session:
        assert session.execute(select(Consent.state, Consent.last_activity_at)).all() == before
        assert session.scalar(select(func.count()).select_from(LedgerEvent)) == events
        assert session.scalar(select(func.count()).select_from(Person)) == 1


def test_a_lapsed_purpose_is_reconfirmed_with_the_live_wording(client, worker, mailbox, services, tmp_path):
    confirmed_person(client, worker, mailbox, purposes=("call",))
    lapse(services, "call")
    # The marketer rewords the purpose meanwhile: the person sees and agrees to the new text.
    changed = DEMO_FORM.read_text().replace("Jullie mogen mij bellen", "Jullie mogen mij één keer bellen")
    (tmp_path / "sales-machine.toml").write_text(changed)
    (tmp_path / "sales-machine.pdf").write_bytes((DEMO_FORM.parent / "sales-machine.pdf").read_bytes())
    with services.db.session() as session:
        version, _ = save(session, *load_toml(tmp_path / "sales-machine.toml"))
        live_hash = version.content_hash
    path = preferences_path(mailbox)
    page = client.get(path).get_data(as_text=True)
    assert "verlopen" in page and "Huidige tekst:" in page and "Jullie mogen mij één keer bellen" in page
    response = post(client, path, renew="call")
    assert "weer actief" in response.get_data(as_text=True)
    with services.db.session() as session:
        c = session.scalar(select(Consent))
        assert c.state == "confirmed" and c.form_version.content_hash == live_hash
        tail = session.scalars(select(LedgerEvent).order_by(LedgerEvent.id.desc()).limit(3)).all()[::-1]
        assert [(e.event, e.method) for e in tail] == [
            ("expired", "system"),
            ("requested", "preference_centre"),
            ("confirmed", "preference_centre"),
        ]
        assert ledger.payload_of(services.vault, tail[1])["label"].startswith("Jullie mogen mij één keer bellen")
    assert seal_and_verify(services).ok


def test_a_withdrawn_purpose_cannot_be_renewed_from_the_page(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    path = preferences_path(mailbox)
    post(client, path, withdraw="newsletter")
    assert post(client, path, renew="newsletter").status_code == 400
    assert post(client, path, renew="no-such-purpose").status_code == 400
    with services.db.session() as session:
        assert session.scalar(select(Consent.state)) == "withdrawn"


def test_a_preference_centre_post_counts_as_activity(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter", "call"))
    old = datetime.now(UTC) - timedelta(days=90)
    with services.db.session() as session:
        for c in session.scalars(select(Consent)):
            c.last_activity_at = old
    post(client, preferences_path(mailbox), withdraw="call")
    with services.db.session() as session:
        newsletter = session.scalar(select(Consent).where(Consent.purpose_key == "newsletter"))
        assert newsletter.last_activity_at > old + timedelta(days=89)


def test_forget_me_erases_after_the_confirmation_page(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    path = preferences_path(mailbox)
    page = client.get(path + "/forget").get_data(as_text=True)
    assert "Al je gegevens verwijderen?" in page and "Verwijder mijn gegevens" in page
    assert client.post(path + "/forget").status_code == 400  # no CSRF token
    response = post(client, path + "/forget")
    assert response.status_code == 200 and "Je gegevens zijn verwijderd" in response.get_data(as_text=True)
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0
        assert session.scalar(select(Suppression.reason)) == "erased"
        last = session.scalar(select(LedgerEvent).order_by(LedgerEvent.id.desc()).limit(1))
        assert (last.event, last.method) == ("erased", "preference_centre")
    gone = client.get(path)
    assert gone.status_code == 404 and "verwijderd of verlopen" in gone.get_data(as_text=True)


def test_erase_then_resubmit_sends_nothing_until_the_suppression_is_lifted(
    client, worker, mailbox, services, runner, app
):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    post(client, preferences_path(mailbox) + "/forget")
    before = len(mailbox.messages())
    reconfigure(app, confirmation_window=0)
    response = submit(client, "jan@example.com", ["newsletter"])
    assert response.status_code == 200 and "Kijk in je mailbox" in response.get_data(as_text=True)
    worker.drain()
    assert len(mailbox.messages()) == before  # the same page as everyone, and no mail
    # The person writes to the controller from that mailbox; the operator lifts the block.
    result = runner.invoke(["people", "unsuppress", "jan@example.com"])
    assert result.exit_code == 0 and "was: erased" in result.output
    submit(client, "jan@example.com", ["newsletter"])
    worker.drain()
    assert len(mailbox.messages()) == before + 1
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == 0  # only after a fresh confirmation
