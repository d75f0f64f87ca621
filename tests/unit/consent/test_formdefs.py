"""Form definitions: TOML import/export, validation, versioning."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from sqlalchemy import func, select

from leadcapture.consent.formdefs import asked_fields, content_hash, phone_purpose_keys, validate
from leadcapture.consent.versions import current_version, version_of_form
from leadcapture.models import FormVersion
from tests.support.app import DEMO_FORM
from tests.support.pdf import a_pdf


def demo_copy(tmp_path, replace=None):
    shutil.copy(DEMO_FORM.parent / "sales-machine.pdf", tmp_path / "sales-machine.pdf")
    text = DEMO_FORM.read_text()
    for old, new in (replace or {}).items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "form.toml"
    path.write_text(text)
    return path


def versions(services):
    with services.db.session() as session:
        return session.scalar(select(func.count()).select_from(FormVersion))


def test_import_then_export_round_trips(runner, services, tmp_path):
    result = runner.invoke(args=["forms", "import", str(demo_copy(tmp_path))], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "imported as version 1" in result.output
    exported = runner.invoke(args=["forms", "export", "sales-machine"]).output
    (tmp_path / "again.toml").write_text(exported)
    result = runner.invoke(args=["forms", "import", str(tmp_path / "again.toml")])
    assert "unchanged, still version 1" in result.output
    assert versions(services) == 1


def test_changed_wording_makes_a_new_version(runner, services, tmp_path):
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path))])
    changed = demo_copy(tmp_path, {"met salestips.": "met de beste salestips."})
    result = runner.invoke(args=["forms", "import", str(changed)])
    assert "imported as version 2" in result.output
    assert versions(services) == 2
    with services.db.session() as session:
        v1, v2 = session.scalars(select(FormVersion).order_by(FormVersion.number)).all()
        assert v1.content_hash != v2.content_hash
        assert "met salestips." in v1.definition["purposes"][0]["label"]  # old wording kept


def test_an_earlier_version_is_read_by_id_only_for_its_own_form(runner, services, tmp_path):
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path))])
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path, {"met salestips.": "met de beste salestips."}))])
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path, {'slug = "sales-machine"': 'slug = "other"'}))])
    with services.db.session() as session:
        v1, v2, other = session.scalars(select(FormVersion).order_by(FormVersion.id)).all()
        live = current_version(session, "sales-machine")
        assert live.id == v2.id
        earlier = version_of_form(session, live.form_id, v1.id)
        assert earlier.id == v1.id and "met salestips." in earlier.definition["purposes"][0]["label"]
        assert version_of_form(session, live.form_id, v1.id) is earlier  # from the process's cache
        assert version_of_form(session, live.form_id, v2.id) is live
        assert version_of_form(session, live.form_id, other.id) is None
        assert version_of_form(session, live.form_id, other.id + 1) is None


def test_a_changed_asset_makes_a_new_version(runner, services, tmp_path):
    path = demo_copy(tmp_path)
    runner.invoke(args=["forms", "import", str(path)])
    (tmp_path / "sales-machine.pdf").write_bytes(a_pdf("another file"))
    runner.invoke(args=["forms", "import", str(path)])
    assert versions(services) == 2


@pytest.mark.parametrize(
    "replace, problem",
    [
        ({'key = "call"': 'key = "call"\nchecked = true'}, "always unticked"),
        ({'language = "nl"': 'language = "fr"'}, "language must be one of"),
        ({'key = "call"': 'key = "newsletter"'}, "used twice"),
        ({'channel = "phone"': 'channel = "fax"'}, "channel must be one of"),
        ({"retention_months = 6": "retention_months = 0"}, "retention_months"),
        ({'asset = "sales-machine.pdf"': 'asset = "missing.pdf"'}, "cannot be read"),
        ({'slug = "sales-machine"': 'slug = "Sales Machine!"'}, "slug must be"),
        ({'fields = ["name", "company", "phone"]': 'fields = ["age"]'}, "fields may only list"),
        ({'privacy_url = "https://www.example.com/privacy"': 'privacy_url = "javascript:alert(1)"'}, "privacy_url"),
    ],
)
def test_invalid_definitions_are_refused_with_a_reason(runner, services, tmp_path, replace, problem):
    result = runner.invoke(args=["forms", "import", str(demo_copy(tmp_path, replace))])
    assert result.exit_code == 2
    assert problem in result.output
    assert versions(services) == 0


def test_broken_toml_is_a_clear_error(runner, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("slug = ")
    result = runner.invoke(args=["forms", "import", str(path)])
    assert result.exit_code == 2 and "not valid TOML" in result.output


def test_a_fake_pdf_is_refused(runner, tmp_path):
    path = demo_copy(tmp_path)
    (tmp_path / "sales-machine.pdf").write_bytes(b"MZ not a pdf")
    result = runner.invoke(args=["forms", "import", str(path)])
    assert result.exit_code == 2 and "not a PDF" in result.output


def import_with_asset(runner, tmp_path, asset: str):
    folder = tmp_path / "forms"
    folder.mkdir(exist_ok=True)
    path = demo_copy(folder, {'asset = "sales-machine.pdf"': f"asset = {json.dumps(asset)}"})
    return runner.invoke(args=["forms", "import", str(path)])


@pytest.mark.parametrize("asset", ["../outside.pdf", "sub/../../outside.pdf", "{tmp}/outside.pdf"])
def test_an_asset_outside_the_definitions_folder_is_refused_even_when_it_is_a_pdf(runner, services, tmp_path, asset):
    # Given a real PDF next to (not inside) the folder of the definition
    (tmp_path / "outside.pdf").write_bytes(a_pdf())
    # When a definition names it by a relative or an absolute path
    result = import_with_asset(runner, tmp_path, asset.format(tmp=tmp_path))
    # Then it is refused with the reason, and nothing is stored
    assert result.exit_code == 2
    assert "must be a file in the definition's folder" in result.output
    assert versions(services) == 0


def test_a_symlink_out_of_the_definitions_folder_is_refused(runner, services, tmp_path):
    (tmp_path / "outside.pdf").write_bytes(a_pdf())
    (tmp_path / "forms").mkdir()
    os.symlink(tmp_path / "outside.pdf", tmp_path / "forms" / "inside.pdf")
    result = import_with_asset(runner, tmp_path, "inside.pdf")
    assert result.exit_code == 2 and "must be a file in the definition's folder" in result.output
    assert versions(services) == 0


@pytest.mark.parametrize("asset", ["../../var/data_key", "/etc/passwd", "/dev/null", "."])
def test_server_files_are_never_imported_as_the_whitepaper(runner, services, tmp_path, asset):
    result = import_with_asset(runner, tmp_path, asset)
    assert result.exit_code == 2 and "not imported" in result.output
    assert versions(services) == 0


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("notes.txt", b"private notes", "is not a PDF file"),  # the name no longer decides whether it is checked
        ("fake.pdf", b"%PDF-1.4 another file", "is not a PDF file"),  # magic bytes alone are not enough
        ("locked.pdf", a_pdf(user_password="secret"), "password-protected"),
    ],
)
def test_an_asset_must_be_a_pdf_that_opens(runner, services, tmp_path, name, content, problem):
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / name).write_bytes(content)
    result = import_with_asset(runner, tmp_path, name)
    assert result.exit_code == 2 and problem in result.output
    assert versions(services) == 0


def test_an_asset_in_a_subfolder_of_the_definition_is_imported(runner, services, tmp_path):
    (tmp_path / "forms" / "assets").mkdir(parents=True)
    (tmp_path / "forms" / "assets" / "paper.pdf").write_bytes(a_pdf())
    result = import_with_asset(runner, tmp_path, "assets/paper.pdf")
    assert result.exit_code == 0, result.output
    assert versions(services) == 1


def test_export_of_an_unknown_form_fails_clearly(runner):
    result = runner.invoke(args=["forms", "export", "nope"])
    assert result.exit_code == 1 and "no form with slug 'nope'" in result.output


def test_defaults_are_filled_in():
    raw = {
        "slug": "x",
        "language": "en",
        "title": "T",
        "asset": "a.pdf",
        "privacy_url": "https://p",
        "controller": "C",
        "purposes": [{"key": "news", "label": "News"}],
    }
    purpose = validate(raw)["purposes"][0]
    assert purpose["retention_months"] == 24 and purpose["channel"] == "email"
    assert purpose["legal_basis"] == "consent"


def test_the_content_hash_is_stable_and_order_independent():
    a = {"b": 1, "a": [1, 2]}
    assert content_hash(a) == content_hash(json.loads(json.dumps(a, sort_keys=True)))
    assert content_hash(a) != content_hash({"b": 1, "a": [2, 1]})


def test_an_english_form_speaks_english(runner, client, tmp_path):
    path = demo_copy(tmp_path, {'language = "nl"': 'language = "en"', 'slug = "sales-machine"': 'slug = "sales-en"'})
    assert runner.invoke(args=["forms", "import", str(path)]).exit_code == 0
    page = client.get("/f/sales-en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Email address" in page and "Privacy notice" in page
    assert "Legal basis: your consent" in page


def test_a_form_with_a_phone_purpose_asks_the_phone_number_even_when_fields_leave_it_out(runner, tmp_path):
    # Given a definition in the SPEC's format: a purpose by phone, fields without "phone"
    path = demo_copy(tmp_path, {'fields = ["name", "company", "phone"]': 'fields = ["name"]'})
    # When it is imported, the phone field is added (and the export says so)
    assert runner.invoke(args=["forms", "import", str(path)]).exit_code == 0
    exported = runner.invoke(args=["forms", "export", "sales-machine"]).output
    assert 'fields = [\n    "name",\n    "phone",\n]' in exported or 'fields = ["name", "phone"]' in exported


def test_a_form_without_phone_purposes_does_not_get_a_phone_field():
    raw = {"slug": "x", "language": "en", "title": "T", "asset": "a.pdf", "privacy_url": "https://p",
           "controller": "C", "fields": ["company"], "purposes": [{"key": "news", "label": "News"}]}  # fmt: skip
    assert validate(raw)["fields"] == ["company"]


def test_a_version_stored_before_the_rule_still_shows_the_phone_field():
    stored = {"fields": ["name"], "purposes": [{"key": "call", "label": "Bel mij", "channel": "phone"}]}
    assert asked_fields(stored) == ["name", "phone"]
    assert phone_purpose_keys(stored) == {"call"}


def test_the_form_page_shows_a_newly_imported_version_at_once(runner, client, tmp_path):
    # Given a form whose live version this process has read (and keeps)
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path))])
    assert "met salestips." in client.get("/f/sales-machine").get_data(as_text=True)
    # When a new wording is imported, the next request shows it
    runner.invoke(args=["forms", "import", str(demo_copy(tmp_path, {"met salestips.": "met de beste salestips."}))])
    assert "met de beste salestips." in client.get("/f/sales-machine").get_data(as_text=True)
