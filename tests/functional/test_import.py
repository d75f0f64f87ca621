"""`leadcapture people import`: contacts consented elsewhere, as an operator imports them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadcapture import scheduler
from leadcapture.consent import ledger, lifecycle
from leadcapture.consent.gates import contactable, may_contact
from leadcapture.consent.people import find_person
from leadcapture.models import EXPIRED, WITHDRAWN, Consent, LedgerEvent, Person, Repermission
from tests.support.app import links, path_of, text_part
from tests.support.ledger import seal_and_verify
from tests.support.people import add_person, confirmed_person

pytestmark = pytest.mark.usefixtures("demo_form")

HEADER = "email,purpose,consented_at,source,lawful_basis,form_version,wording,evidence\n"
PROVEN = "piet@example.com,newsletter,2026-01-10T09:30:00+01:00,Trade fair Utrecht,consent,1,,paper form box 3\n"
WORDED = 'anna@example.com,newsletter,2026-02-01,Partner webinar,consent,,"Yes, send me tips",CRM record 4711\n'
BARE = "kees@example.com,newsletter,2026-02-01T10:00:00Z,Partner webinar,consent,,,\n"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csv_file(tmp_path, *rows: str, header: str = HEADER, name: str = "contacts.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes((header + "".join(rows)).encode(encoding))
    return str(path)


def consent_of(services, email, purpose="newsletter"):
    with services.db.session() as session:
        person = find_person(session, services.vault, email)
        if person is None:
            return None
        consent = session.scalar(select(Consent).where(Consent.person_id == person.id, Consent.purpose_key == purpose))
        session.expunge_all()
        return consent


def counts(services):
    with services.db.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(t)) for t in (Person, Consent, LedgerEvent))


def test_a_dry_run_reports_every_row_and_changes_nothing(runner, services, tmp_path):
    path = csv_file(tmp_path, PROVEN, BARE, "bad,newsletter,2026-01-10,x,consent,,,\n")
    before = counts(services)
    result = runner.invoke(["people", "import", "--dry-run", path])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "line 2: created",
        "line 3: unverified: no wording or form_version, no evidence note",
        "line 4: invalid: email is not a valid address: An email address must have an @-sign.",
        "dry run, nothing changed: 3 row(s): 1 created, 1 unverified, 1 invalid",
    ]
    assert counts(services) == before


def test_rows_with_proof_are_confirmed_as_of_when_they_were_given(runner, services, tmp_path):
    result = runner.invoke(["people", "import", csv_file(tmp_path, PROVEN, WORDED)])
    assert result.exit_code == 0, result.output
    assert "done: 2 row(s): 2 created" in result.stdout
    piet = consent_of(services, "piet@example.com")
    assert piet.state == "confirmed" and piet.confirmed_at == datetime(2026, 1, 10, 8, 30, tzinfo=UTC)
    assert piet.last_activity_at == piet.confirmed_at  # its retention runs from when it was given
    with services.db.session() as session:
        person = find_person(session, services.vault, "anna@example.com")
        assert may_contact(session, person, "newsletter")
        event = session.scalar(select(LedgerEvent).where(LedgerEvent.person_id == person.id))
        assert (event.event, event.method) == ("confirmed", "import")
        payload = ledger.payload_of(services.vault, event)
        assert payload["source"] == "Partner webinar" and payload["label"] == "Yes, send me tips"
        assert payload["consented_at"] == "2026-02-01T00:00:00+00:00" and payload["verified"] is True
        assert payload["file"] == "contacts.csv" and payload["line"] == 3 and payload["evidence"] == "CRM record 4711"
    assert seal_and_verify(services).ok


def test_an_unverified_row_gets_only_a_repermission_mail_until_the_person_confirms(
    runner, services, tmp_path, worker, mailbox, client
):
    result = runner.invoke(["people", "import", csv_file(tmp_path, BARE)])
    assert result.exit_code == 0 and "1 re-permission email(s) queued" in result.stdout
    with services.db.session() as session:
        person = find_person(session, services.vault, "kees@example.com")
        assert not may_contact(session, person, "newsletter")  # no campaign, export or API answer reaches it
        assert session.scalar(select(func.count()).select_from(Consent).join(Person).where(contactable())) == 0
    worker.drain()
    (msg,) = mailbox.to("kees@example.com")
    assert str(msg["Subject"]) == "Graag je bevestiging: Stuur mij de maandelijkse nieuwsbrief met salestips."
    assert "gaf je elders toestemming" in text_part(msg) and msg["List-Unsubscribe-Post"]
    assert "(Bron: Partner webinar, 1 februari 2026)" in text_part(msg)  # Art. 14(2)(f): where the data came from
    # The scheduler does not queue a second one for the same consent.
    assert scheduler.run_jobs(services, datetime.now(UTC))["repermission_queued"] == 0
    # The link shows the preference centre; its button confirms: a double opt-in by the person.
    page_path = path_of(next(u for u in links(msg) if "/p/" in u).split("#")[0])
    page = client.get(page_path).get_data(as_text=True)
    assert re.search(r'name="renew" value="\d+:newsletter"', page) and "Ja, dat wil ik" in page
    token = CSRF.search(page).group(1)
    assert client.post(page_path, data={"csrf_token": token, "renew": "newsletter"}).status_code == 200
    consent = consent_of(services, "kees@example.com")
    assert consent.state == "confirmed"
    with services.db.session() as session:
        person = find_person(session, services.vault, "kees@example.com")
        assert may_contact(session, person, "newsletter")
        events = session.scalars(select(LedgerEvent).where(LedgerEvent.person_id == person.id)).all()
        assert [(e.event, e.method) for e in events] == [
            ("requested", "import"),
            ("requested", "preference_centre"),
            ("confirmed", "preference_centre"),
        ]


def test_an_unverified_consent_nobody_confirms_lapses_after_a_month(runner, services, tmp_path):
    runner.invoke(["people", "import", csv_file(tmp_path, BARE)])
    imported = consent_of(services, "kees@example.com").last_activity_at
    assert scheduler.run_jobs(services, imported + timedelta(days=27))["expired"] == 0
    assert scheduler.run_jobs(services, lifecycle.add_months(imported, 1))["expired"] == 1
    assert consent_of(services, "kees@example.com").state == EXPIRED
    with services.db.session() as session:
        last = session.scalar(select(LedgerEvent).order_by(LedgerEvent.id.desc()).limit(1))
        assert ledger.payload_of(services.vault, last)["reason"] == "unconfirmed_import"


def test_an_import_never_overrides_the_person(runner, services, tmp_path, demo_form, client, worker, mailbox):
    confirmed_person(client, worker, mailbox, "jan@example.com", purposes=("newsletter",))
    before = consent_of(services, "jan@example.com")
    add_person(services, demo_form, "gone@example.com", state=WITHDRAWN)
    add_person(services, demo_form, "old@example.com", state=EXPIRED)
    add_person(services, demo_form, "erased@example.com", state=None, suppressed=True)
    rows = [PROVEN.replace("piet", name) for name in ("jan", "gone", "old", "erased")]
    result = runner.invoke(["people", "import", csv_file(tmp_path, *rows)])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:4] == [
        "line 2: already consented",
        "line 3: skipped: withdrawn",
        "line 4: skipped: expired",
        "line 5: skipped: suppressed",
    ]
    after = consent_of(services, "jan@example.com")
    assert (after.confirmed_at, after.last_activity_at) == (before.confirmed_at, before.last_activity_at)
    assert consent_of(services, "gone@example.com").state == WITHDRAWN
    assert consent_of(services, "old@example.com").state == EXPIRED
    assert consent_of(services, "erased@example.com") is None


def test_a_consent_older_than_the_purposes_retention_is_not_imported(runner, services, tmp_path):
    old = PROVEN.replace("2026-01-10T09:30:00+01:00", "2020-01-10")
    result = runner.invoke(["people", "import", csv_file(tmp_path, old)])
    assert "line 2: skipped: lapsed: given 2020-01-10, the purpose keeps consent 24 months" in result.stdout
    assert consent_of(services, "piet@example.com") is None


def test_invalid_rows_are_reported_and_the_rest_imported_with_exit_1(runner, services, tmp_path):
    rows = [
        PROVEN,
        "=cmd|' /C calc'!A0,newsletter,2026-01-10,x,consent,,,\n",
        'x@example.com,newsletter,2026-01-10,=HYPERLINK("http://evil"),consent,,,\n',
        "x@example.com,newsletter,yesterday,x,consent,,,\n",
        "x@example.com,newsletter,2999-01-01,x,consent,,,\n",
        "x@example.com,nope,2026-01-10,x,consent,,,\n",
        "x@example.com,newsletter,2026-01-10,x,legitimate_interest,,,\n",
        "x@example.com,newsletter,2026-01-10,,consent,,,\n",
        "x@example.com,newsletter,2026-01-10,x,consent,7,,\n",
        "ｊan@example.com,newsletter,2026-01-10,x,consent,,,\n",
        "x@example.com,newsletter\n",
    ]
    result = runner.invoke(["people", "import", csv_file(tmp_path, *rows)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:-1] == [
        "line 3: invalid: email starts with '=': formula-like cells are refused",
        "line 4: invalid: source starts with '=': formula-like cells are refused",
        "line 5: invalid: consented_at 'yesterday' is not an ISO 8601 date or date and time (2025-03-01T14:30:00Z)",
        "line 6: invalid: consented_at 2999-01-01 is in the future",
        "line 7: invalid: purpose 'nope': no live form offers it; name the form in the form column",
        "line 8: invalid: purpose 'newsletter' has lawful basis consent; a purpose keeps one basis",
        "line 9: invalid: source is empty",
        "line 10: invalid: form 'sales-machine' has no version 7",
        "line 11: invalid: email has look-alike characters (did you mean jan@example.com?)",
        "line 12: invalid: 2 cells where the header has 8",
    ]
    assert result.stdout.splitlines()[-1] == "done: 11 row(s): 10 invalid, 1 created"
    assert consent_of(services, "piet@example.com").state == "confirmed"


def test_a_spreadsheet_export_with_bom_semicolons_and_crlf_is_read(runner, services, tmp_path):
    header = "\ufeffEmail;Purpose;Consented at;Source;Lawful basis;Evidence;Wording\r\n"
    row = 'Anna@Example.com;newsletter;2026-03-01 14:00;Beurs;consent;"Formulier, map 2";"Ja,\r\nstuur maar"\r\n'
    result = runner.invoke(["people", "import", csv_file(tmp_path, row, header=header)])
    assert result.exit_code == 0, result.output
    with services.db.session() as session:
        person = find_person(session, services.vault, "anna@example.com")
        event = session.scalar(select(LedgerEvent).where(LedgerEvent.person_id == person.id))
        assert ledger.payload_of(services.vault, event)["label"] == "Ja,\nstuur maar"


def test_unreadable_lines_are_invalid_rows_and_the_rest_goes_on(runner, services, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        HEADER.encode()
        + "josé@example.com,newsletter,2026-01-10,Beurs,consent,,,\n".encode("latin-1")
        + b"x@example.com,newsletter,2026-01-10,\x00,consent,,,\n"
        + b"y@example.com,newsletter,2026-01-10,"
        + b"A" * 20_000
        + b",consent,,,\n"
        + b'z@example.com,newsletter,2026-01-10,"unclosed,consent,,,\n'
        + PROVEN.encode()
    )
    result = runner.invoke(["people", "import", str(path)])
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "line 2: invalid: not UTF-8 (byte 0xe9): save the file as CSV UTF-8",
        "line 3: invalid: the line contains a NUL byte (is this a spreadsheet file rather than CSV?)",
        "line 4: invalid: the line is longer than 16384 bytes",
    ]
    # An unclosed quote swallows the lines after it into one cell: that record is invalid, nothing is lost silently.
    assert lines[3].startswith("line 5: invalid") and result.exit_code == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("email,purpose\nx@example.com,newsletter\n", "missing column(s) consented_at, source, lawful_basis"),
        (HEADER.replace("evidence", "evidense"), "unknown column(s) evidense"),
        (HEADER.encode("utf-16"), "the file is UTF-16: save it as CSV UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_imports_nothing_and_exits_2(runner, services, tmp_path, content, message):
    path = tmp_path / "broken.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = runner.invoke(["people", "import", str(path)])
    assert result.exit_code == 2 and message in result.stderr and "nothing imported" in result.stderr


def test_the_proof_export_shows_an_imported_consent_as_imported(runner, services, tmp_path):
    runner.invoke(["people", "import", csv_file(tmp_path, BARE, WORDED)])
    data = json.loads(runner.invoke(["people", "export", "kees@example.com"]).stdout)
    (consent,) = data["consents"]
    assert consent["state"] == "unverified" and consent["notice"]["text"] is None
    assert consent["requested"]["collection_method"] == "import"
    imported = consent["imported"]
    assert imported["source"] == "Partner webinar" and imported["consented_at"] == "2026-02-01T10:00:00+00:00"
    assert imported["verified"] is False and imported["file"] == "contacts.csv" and imported["line"] == 2
    page = runner.invoke(["people", "export", "anna@example.com", "--format", "html"]).stdout
    assert "<th>Imported</th>" in page and "from contacts.csv line 3" in page and "source Partner webinar" in page
    assert "&ldquo;Yes, send me tips&rdquo;" in page and "with enough proof" in page


def test_the_same_file_twice_imports_once(runner, services, tmp_path):
    path = csv_file(tmp_path, PROVEN, BARE)
    runner.invoke(["people", "import", path])
    again = runner.invoke(["people", "import", path])
    assert again.stdout.splitlines()[:2] == ["line 2: already consented", "line 3: already unverified"]
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Repermission)) == 1
