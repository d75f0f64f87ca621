"""The admin upload of contacts consented elsewhere: dry run, import, audit, hostile files."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from leadcapture.integrations.csvrows import MAX_LINE_BYTES
from leadcapture.models import AuditEntry, Consent, OutboxJob
from leadcapture.web.admin.imports import MAX_UPLOAD_BYTES
from tests.support.admin import signed_in

pytestmark = pytest.mark.usefixtures("demo_form")

CSV = (
    b"email,purpose,consented_at,source,lawful_basis,form_version,evidence\n"
    b"piet@example.com,newsletter,2026-01-10,Trade fair,consent,1,badge scan 17\n"
    b"kees@example.com,newsletter,2026-01-10,Trade fair,consent,,\n"
    b"not-an-address,newsletter,2026-01-10,Trade fair,consent,,\n"
)


@pytest.fixture
def marketer(app, services):
    return signed_in(app, services, "marketer")


def consents(services) -> int:
    with services.db.session() as session:
        return session.scalar(select(func.count()).select_from(Consent))


def audited(services) -> list[dict]:
    with services.db.session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "people.import")).all()
        return [json.loads(r.detail) for r in rows]


def test_the_page_explains_the_format_and_defaults_to_a_dry_run(marketer):
    page = marketer.get("/admin/people/import").get_data(as_text=True)
    assert "<code>consented_at</code>" in page and 'name="dry_run" value="y" checked' in page
    assert "Import contacts" in marketer.get("/admin/").get_data(as_text=True)


def test_a_dry_run_lists_every_row_and_changes_nothing(marketer, services):
    response = marketer.post("/admin/people/import", {"file": (io.BytesIO(CSV), "leads.csv"), "dry_run": "y"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert (
        "Dry run of leads.csv" in page and "Nothing was changed. 3 row(s): 1 created, 1 unverified, 1 invalid" in page
    )
    assert "<td>4</td><td>invalid</td><td>email is not a valid address" in page
    assert consents(services) == 0
    assert audited(services)[0]["dry_run"] is True


def test_the_import_writes_the_consents_and_the_audit_and_lists_what_was_not_imported(marketer, services):
    response = marketer.post("/admin/people/import", {"file": (io.BytesIO(CSV), "leads.csv")})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Imported leads.csv" in page
    assert "<td>4</td><td>invalid</td>" in page and "<td>2</td><td>created</td>" not in page
    assert consents(services) == 2
    (detail,) = audited(services)
    assert detail["dry_run"] is False and detail["created"] == 1 and detail["unverified"] == 1
    with services.db.session() as session:
        assert session.scalar(select(OutboxJob.actor)) == "send_repermission"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"name,address\nx,y\n", "missing column(s) email, purpose"),
        ("email,purpose".encode("utf-16"), "the file is UTF-16"),
        (b"A" * (MAX_LINE_BYTES + 10), "the header line is longer than"),
        (b"x" * (MAX_UPLOAD_BYTES + 1), "uploads take up to"),
    ],
)
def test_a_file_that_cannot_be_read_is_a_clear_400(marketer, services, body, message):
    response = marketer.post("/admin/people/import", {"file": (io.BytesIO(body), "bad.csv")})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert consents(services) == 0


def test_no_file_is_a_clear_400(marketer):
    response = marketer.post("/admin/people/import", {"dry_run": "y"})
    assert response.status_code == 400 and "Choose a CSV file" in response.get_data(as_text=True)


def test_the_privacy_role_may_not_import(app, services):
    privacy = signed_in(app, services, "privacy")
    assert privacy.get("/admin/people/import").status_code == 403
    assert privacy.post("/admin/people/import", {"file": (io.BytesIO(CSV), "leads.csv")}).status_code == 403
    assert consents(services) == 0
