"""The records of processing activities in the admin: the privacy officer reads, prints and downloads them."""

from __future__ import annotations

import json

from tests.support.admin import signed_in


def test_the_privacy_officer_reads_and_downloads_the_records_of_processing(app, services, demo_form):
    privacy = signed_in(app, services, "privacy")
    page = privacy.get("/admin/register")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Records of processing activities" in text and "Stuur mij de maandelijkse nieuwsbrief" in text
    assert "Voorbeeld B.V." in text and 'href="/admin/register.json"' in text
    as_json = privacy.get("/admin/register.json")
    assert as_json.headers["Content-Disposition"] == 'attachment; filename="records-of-processing.json"'
    assert {a["purpose_key"] for a in json.loads(as_json.data)["activities"] if "purpose_key" in a} >= {"newsletter"}
    assert privacy.get("/admin/register.md").get_data(as_text=True).startswith("# Records of processing")
    assert "<style>" in privacy.get("/admin/register.html").get_data(as_text=True)  # standalone, printable
    assert privacy.get("/admin/register.exe").status_code == 404


def test_a_marketer_may_not_read_the_records(app, services, demo_form):
    assert signed_in(app, services, "marketer").get("/admin/register").status_code == 403
