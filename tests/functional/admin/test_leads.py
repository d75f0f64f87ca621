"""The leads page: what came in, newest first, narrowed by form, purpose, state, date, company or address."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from leadcapture.models import AuditEntry, SubmissionTerm
from tests.support.admin import confirm_all, signed_in
from tests.support.app import submit


def leads(marketer, **form) -> str:
    return marketer.post("/admin/leads", {"action": "show", **form}).get_data(as_text=True)


def rows_of(page: str) -> int:
    return page.split("<tbody>")[1].count("<tr>")


def test_a_marketer_finds_the_leads_by_company_address_purpose_and_state(app, services, client, demo_form):
    # Given three submissions, one of which confirmed "you may call me"
    submit(client, "anna@example.com", ["newsletter"], name="Anna de Vries", company="Acme Müller B.V.")
    submit(client, "bert@example.com", ["call"], name="Bert", company="Globex", phone="+31 6 1234 5678")
    submit(client, "carla@example.com", [], name="Carla", company="Acme Logistics")
    confirm_all(services, "bert@example.com")
    marketer = signed_in(app, services, "marketer")
    # When the marketer opens the leads page, the newest comes first
    everything = marketer.get("/admin/leads").get_data(as_text=True)
    assert rows_of(everything) == 3
    assert everything.index("carla@example.com") < everything.index("anna@example.com")
    assert "to call" in everything and "Globex" in everything
    # Then a company word finds both Acme leads, accents and case folded, two words narrow to one
    assert rows_of(leads(marketer, words="acme")) == 2
    one = leads(marketer, words="ACME muller")
    assert rows_of(one) == 1 and "anna@example.com" in one
    assert "No lead matches" in leads(marketer, words="Initech")
    # and an exact address, a purpose and a state narrow the list
    assert rows_of(leads(marketer, email="Bert@Example.com")) == 1
    assert "No lead matches" in leads(marketer, email="nobody@example.com")
    assert rows_of(leads(marketer, purpose="newsletter")) == 1
    assert rows_of(leads(marketer, state="confirmed")) == 1
    assert rows_of(leads(marketer, form="sales-machine", since="2000-01-01", until="2999-12-31")) == 3
    assert "No lead matches" in leads(marketer, until="2000-01-01")
    # and nothing typed into the search is kept in the audit log, only which filters were used
    with services.db.session() as session:
        details = [e.detail or "" for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "leads.view"))]
    assert details and not any("acme" in d.lower() or "bert@" in d.lower() for d in details)
    assert {"words": True} in [json.loads(d) for d in details if d]


def test_the_names_and_companies_are_searchable_only_as_blind_indexes(services, client, demo_form):
    submit(client, "anna@example.com", [], name="Anna", company="Acme")
    with services.db.session() as session:
        terms = session.scalars(select(SubmissionTerm.term_index)).all()
    assert len(terms) == 2 and all(len(t) == 64 and "acme" not in t for t in terms)


def test_the_csv_holds_the_filtered_leads_and_is_safe_in_a_spreadsheet(app, services, client, demo_form):
    submit(client, "anna@example.com", ["newsletter"], name="=HYPERLINK(1)", company="Acme")
    submit(client, "bert@example.com", [], company="Globex")
    marketer = signed_in(app, services, "marketer")
    response = marketer.post("/admin/leads", {"action": "csv", "words": "acme"})
    assert response.headers["Content-Disposition"] == 'attachment; filename="leads.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["email"] for r in rows] == ["anna@example.com"]
    assert rows[0]["name"] == "'=HYPERLINK(1)" and rows[0]["asked"] == "asset: pending; newsletter: pending"


def test_older_leads_come_a_page_at_a_time(app, services, client, demo_form, monkeypatch):
    from leadcapture.backoffice import leads as module

    monkeypatch.setattr(module, "PAGE_SIZE", 2)
    for n in range(5):
        submit(client, f"p{n}@example.com", [])
    marketer = signed_in(app, services, "marketer")
    first = marketer.get("/admin/leads").get_data(as_text=True)
    assert "p4@example.com" in first and "p3@example.com" in first and "Older leads" in first
    before = first.split('name="before" value="')[1].split('"')[0]
    second = leads(marketer, before=before)
    assert "p2@example.com" in second and "p4@example.com" not in second


def test_erasure_takes_the_search_words_with_the_submission(app, services, client, demo_form, runner):
    submit(client, "anna@example.com", [], company="Acme")
    assert runner.invoke(["people", "erase", "anna@example.com", "--yes"]).exit_code == 0
    with services.db.session() as session:
        assert session.scalars(select(SubmissionTerm)).all() == []


def test_privacy_officers_use_the_people_page_instead(app, services):
    assert signed_in(app, services, "privacy").get("/admin/leads").status_code == 403
