"""Admin people (lookup, proof, export, erasure) and the "who may we contact" CSV export."""

from __future__ import annotations

import csv
import io
import json
import types

import pytest
from sqlalchemy import select

from leadcapture.backoffice.contacts import contact_rows
from leadcapture.consent.people import find_person
from leadcapture.models import AuditEntry, Person, Suppression
from tests.support.admin import confirm_all, signed_in, withdraw
from tests.support.app import BASE_URL, submit
from tests.support.ledger import seal_and_verify

pytestmark = pytest.mark.usefixtures("demo_form")


@pytest.fixture
def privacy(app, services):
    return signed_in(app, services, "privacy")


@pytest.fixture
def jan(client, services) -> int:
    """A person who asked for two purposes and confirmed them."""
    submit(client, "jan@example.com", ["newsletter", "call"], name="Jan Jansen", company="Jansen BV")
    confirm_all(services, "jan@example.com")
    with services.db.session() as session:
        return find_person(session, services.vault, "jan@example.com").id


def test_lookup_by_email_shows_every_purpose_with_its_proof(privacy, jan):
    response = privacy.post("/admin/people/", {"email": " JAN@example.com "})
    assert response.headers["Location"] == f"/admin/people/{jan}"
    page = privacy.get(f"/admin/people/{jan}").get_data(as_text=True)
    assert "jan@example.com" in page and "Jan Jansen" in page
    assert "Stuur mij de maandelijkse nieuwsbrief met salestips." in page
    assert "Jullie mogen mij bellen over sales outsourcing." in page
    assert page.count('class="state confirmed"') == 2
    assert "via confirm_page" in page and "sales-machine, version 1" in page
    assert f"{BASE_URL}/f/sales-machine" in page  # where they asked (built from BASE_URL)


def test_lookup_of_an_unknown_address_says_so(privacy):
    page = privacy.post("/admin/people/", {"email": "nobody@example.com"}).get_data(as_text=True)
    assert "We hold nothing for that address." in page


def test_proof_downloads_as_json_and_as_a_printable_page(privacy, jan, services):
    proof = privacy.get(f"/admin/people/{jan}/proof.json")
    assert proof.headers["Content-Disposition"] == f'attachment; filename="proof-of-consent-{jan}.json"'
    data = json.loads(proof.data)
    assert data["schema"] == "leadcapture.proof-of-consent/1"
    assert data["subject"] == {"email": "jan@example.com"}
    newsletter = next(c for c in data["consents"] if c["purpose"] == "newsletter")
    assert newsletter["notice"]["text"] == "Stuur mij de maandelijkse nieuwsbrief met salestips."
    assert len(newsletter["notice"]["version_hash"]) == 64
    assert newsletter["requested"]["page_url"] and newsletter["confirmed"]["event_time"]
    assert [e["event"] for e in data["ledger"]].count("confirmed") == 2
    html = privacy.get(f"/admin/people/{jan}/proof").get_data(as_text=True)
    assert "<h1>Proof of consent</h1>" in html and "Jullie mogen mij bellen" in html
    export = json.loads(privacy.get(f"/admin/people/{jan}/export.json").data)
    assert export["subject"]["name"] == "Jan Jansen" and export["submissions"][0]["fields"]["company"] == "Jansen BV"
    with services.db.session() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("person.%")).order_by(AuditEntry.id)
        ).all()
    assert actions == ["person.proof", "person.proof", "person.export"]


def test_a_marketer_cannot_erase(app, services, jan):
    marketer = signed_in(app, services, "marketer")
    assert marketer.get(f"/admin/people/{jan}/erase").status_code == 403
    assert marketer.post(f"/admin/people/{jan}/erase", {"confirm_email": "jan@example.com"}).status_code == 403
    assert marketer.get(f"/admin/people/{jan}").status_code == 403
    with services.db.session() as session:
        assert session.get(Person, jan) is not None


def test_a_privacy_officer_erases_after_typing_the_address(privacy, jan, services):
    page = privacy.get(f"/admin/people/{jan}/erase").get_data(as_text=True)
    assert "cannot be undone" in page
    wrong = privacy.post(f"/admin/people/{jan}/erase", {"confirm_email": "someone@example.com"})
    assert wrong.status_code == 400 and "Nothing was erased" in wrong.get_data(as_text=True)
    without_token = privacy.client.post(f"/admin/people/{jan}/erase", data={"confirm_email": "jan@example.com"})
    assert without_token.status_code == 400
    with services.db.session() as session:
        assert session.get(Person, jan) is not None
    done = privacy.post(f"/admin/people/{jan}/erase", {"confirm_email": "Jan@Example.com"})
    assert done.headers["Location"] == "/admin/people/"
    with services.db.session() as session:
        assert session.get(Person, jan) is None
        assert session.scalar(select(Suppression.reason)) == "erased"
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "person.erase"))
        assert entry.actor == "privacy@staff.example.com" and entry.target == f"person {jan}"
        assert "jan@example.com" not in (entry.detail or "")
    assert seal_and_verify(services).ok
    again = privacy.post("/admin/people/", {"email": "jan@example.com"}).get_data(as_text=True)
    assert "erased and is suppressed" in again


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_who_may_we_contact_lists_current_consents_per_purpose_and_channel(app, services, client, jan):
    submit(client, "ann@example.com", ["newsletter"], name='=HYPERLINK("http://evil")')
    confirm_all(services, "ann@example.com")
    submit(client, "piet@example.com", ["newsletter"])  # never confirmed
    submit(client, "kees@example.com", ["newsletter"])
    confirm_all(services, "kees@example.com")
    withdraw(services, "kees@example.com")
    marketer = signed_in(app, services, "marketer")
    page = marketer.get("/admin/contacts/").get_data(as_text=True)
    assert "/admin/contacts/newsletter/email.csv" in page and "/admin/contacts/call/phone.csv" in page
    response = marketer.get("/admin/contacts/newsletter/email.csv")
    assert response.is_streamed and response.mimetype == "text/csv"
    rows = read_csv(response)
    assert [r["email"] for r in rows] == ["jan@example.com", "ann@example.com"]
    assert rows[0]["name"] == "Jan Jansen" and rows[0]["company"] == "Jansen BV"
    assert rows[0]["form"] == "sales-machine" and rows[0]["form_version"] == "1" and rows[0]["consented_at"]
    assert rows[1]["name"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert [r["email"] for r in read_csv(marketer.get("/admin/contacts/call/phone.csv"))] == ["jan@example.com"]
    assert read_csv(marketer.get("/admin/contacts/call/email.csv")) == []
    assert marketer.get("/admin/contacts/newsletter/fax.csv").status_code == 404
    privacy = signed_in(app, services, "privacy")
    privacy.post(f"/admin/people/{jan}/erase", {"confirm_email": "jan@example.com"})
    assert [r["email"] for r in read_csv(marketer.get("/admin/contacts/newsletter/email.csv"))] == ["ann@example.com"]


def test_the_csv_is_produced_lazily_in_chunks(services, client):
    for n in range(40):
        submit(client, f"lead{n}@example.com", ["newsletter"], name="N" * 150)
        confirm_all(services, f"lead{n}@example.com")
    rows = contact_rows(services, "newsletter", "email", batch=7, chunk_bytes=1000)
    assert isinstance(rows, types.GeneratorType)
    chunks = list(rows)
    assert len(chunks) > 3
    text = "".join(chunks)
    assert text.count("\n") == 41
