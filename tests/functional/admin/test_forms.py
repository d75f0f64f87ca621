"""Admin forms editor: create, edit (new versions), preview, versions, TOML import/export, archive, funnel."""

from __future__ import annotations

import io
import re
import tomllib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadcapture.backoffice import funnel
from leadcapture.delivery import links
from leadcapture.models import ASSET, Form, FunnelCount, LeadRequest, Submission
from tests.support.admin import confirm_all, signed_in, withdraw
from tests.support.app import ROOT, path_of, submit

PDF = (ROOT / "demo" / "sales-machine.pdf").read_bytes()


@pytest.fixture
def marketer(app, services):
    return signed_in(app, services, "marketer")


def editor_data(slug="webinar", pdf=PDF, **overrides) -> dict:
    data = {
        "slug": slug,
        "language": "en",
        "title": "The webinar recording",
        "intro": "Watch it any time.",
        "controller": "Example Ltd, 1 High Street, London",
        "privacy_url": "https://www.example.com/privacy",
        "allowed_origins": "https://www.example.com\nhttps://shop.example.com",
        "field_name": "y",
        "purpose_count": "2",
        "purposes-0-key": "newsletter",
        "purposes-0-label": "Send me the monthly newsletter.",
        "purposes-0-description": "At most once a month.",
        "purposes-0-channel": "email",
        "purposes-0-legal_basis": "consent",
        "purposes-0-retention_months": "24",
        "purposes-1-key": "call",
        "purposes-1-label": "You may call me about your services.",
        "purposes-1-description": "",
        "purposes-1-channel": "phone",
        "purposes-1-legal_basis": "consent",
        "purposes-1-retention_months": "6",
        "action": "save",
    }
    if pdf is not None:
        data["asset"] = (io.BytesIO(pdf), "webinar.pdf")
    data.update(overrides)
    return data


def test_a_marketer_creates_a_form_with_two_purposes(marketer, client):
    response = marketer.post("/admin/forms/new", editor_data())
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/forms/webinar/"
    detail = marketer.get("/admin/forms/webinar/").get_data(as_text=True)
    assert "Saved as version 1." in detail
    assert "&lt;script src=&#34;http://lc.test/f/webinar/embed.js&#34; async&gt;&lt;/script&gt;" in detail
    hosted = client.get("/f/webinar").get_data(as_text=True)
    assert "Send me the monthly newsletter." in hosted and "You may call me about your services." in hosted
    assert 'lang="en"' in hosted
    assert marketer.get("/admin/forms/webinar/asset").data == PDF
    assert "webinar" in marketer.get("/admin/forms/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"slug": "Not A Slug"}, "slug must be lower-case"),
        ({"title": ""}, "title is required"),
        ({"privacy_url": "javascript:alert(1)"}, "privacy_url must be an http(s) URL"),
        ({"allowed_origins": "www.example.com"}, "must look like https://www.example.com"),
        ({"purposes-1-key": "newsletter"}, "is used twice"),
        ({"purposes-0-retention_months": "many"}, "retention_months must be a whole number"),
        ({"asset": (io.BytesIO(b"MZ not a pdf"), "webinar.pdf")}, "not a PDF file"),
        ({"asset": (io.BytesIO(b"%PDF-1.7 and then anything"), "webinar.pdf")}, "not a PDF file"),
        ({"asset": (io.BytesIO(PDF), "webinar.exe")}, "must be a PDF file"),
        ({"asset": (io.BytesIO(b"%PDF-" + b"0" * (20 * 1024 * 1024)), "big.pdf")}, "larger than 20 MB"),
    ],
)
def test_bad_input_is_named_and_nothing_is_saved(marketer, services, overrides, problem):
    response = marketer.post("/admin/forms/new", editor_data(**overrides))
    assert response.status_code == 400
    assert problem in response.get_data(as_text=True)
    with services.db.session() as session:
        assert session.scalar(select(Form)) is None


def test_a_new_form_needs_an_asset_and_a_free_slug(marketer, demo_form):
    missing = marketer.post("/admin/forms/new", editor_data(pdf=None))
    assert missing.status_code == 400 and "upload the whitepaper" in missing.get_data(as_text=True)
    taken = marketer.post("/admin/forms/new", editor_data(slug="sales-machine"))
    assert taken.status_code == 400 and "already exists" in taken.get_data(as_text=True)


def test_purpose_rows_are_added_removed_and_reordered_without_javascript(marketer):
    page = marketer.post("/admin/forms/new", editor_data(action="add", pdf=None)).get_data(as_text=True)
    assert 'name="purpose_count" value="3"' in page
    page = marketer.post("/admin/forms/new", editor_data(action="down:0", pdf=None)).get_data(as_text=True)
    assert page.index('value="call"') < page.index('value="newsletter"')
    page = marketer.post("/admin/forms/new", editor_data(action="remove:0", pdf=None)).get_data(as_text=True)
    assert 'value="newsletter"' not in page and 'name="purpose_count" value="1"' in page


def test_changed_wording_makes_a_new_version_and_old_ones_stay_readable(marketer, services, client):
    marketer.post("/admin/forms/new", editor_data())
    submit(client, "early@example.com", ["newsletter"], slug="webinar")
    edit = marketer.get("/admin/forms/webinar/edit").get_data(as_text=True)
    assert 'value="Send me the monthly newsletter."' in edit and "webinar.pdf" in edit
    unchanged = marketer.post("/admin/forms/webinar/edit", editor_data(pdf=None))
    assert "Nothing changed: still version 1." in marketer.get(unchanged.headers["Location"]).get_data(as_text=True)
    changed = editor_data(pdf=None, **{"purposes-0-label": "Send me the weekly newsletter."})
    assert marketer.post("/admin/forms/webinar/edit", changed).status_code == 302
    detail = marketer.get("/admin/forms/webinar/").get_data(as_text=True)
    assert "Saved as version 2." in detail and "Version 1" in detail and "Version 2" in detail
    old = marketer.get("/admin/forms/webinar/v/1").get_data(as_text=True)
    assert "Send me the monthly newsletter." in old and "An earlier version" in old
    assert "Send me the monthly newsletter." in marketer.get("/admin/forms/webinar/v/1/preview").get_data(as_text=True)
    assert "Send me the weekly newsletter." in client.get("/f/webinar").get_data(as_text=True)
    with services.db.session() as session:  # the early submission still points at what they saw
        assert session.scalar(select(Submission)).form_version.number == 1
    assert marketer.get("/admin/forms/webinar/v/9").status_code == 404


def test_the_preview_shows_unsaved_wording_in_the_forms_language(marketer):
    data = editor_data(pdf=None, language="nl", **{"purposes-0-label": "Nog niet opgeslagen"})
    response = marketer.post("/admin/forms/preview", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nog niet opgeslagen" in page and "E-mailadres" in page and 'lang="nl"' in page
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert 'action="/f/__preview__"' in page  # a click in the preview never submits for real
    problems = marketer.post("/admin/forms/preview", editor_data(pdf=None, title=""))
    assert "title is required" in problems.get_data(as_text=True)
    assert "frame-ancestors 'self'" in problems.headers["Content-Security-Policy"]  # shown in the frame too


def test_toml_export_and_import_round_trip(marketer, demo_form):
    exported = marketer.get("/admin/forms/sales-machine/v/1.toml")
    assert exported.headers["Content-Disposition"] == 'attachment; filename="sales-machine-v1.toml"'
    raw = tomllib.loads(exported.get_data(as_text=True))
    assert raw["slug"] == "sales-machine" and len(raw["purposes"]) == 3
    changed = exported.data.replace(b"nieuwsbrief met salestips", b"nieuwsbrief met verkooptips")
    response = marketer.post("/admin/forms/import", {"definition": (io.BytesIO(changed), "form.toml")})
    assert response.status_code == 302
    assert "Imported as version 2." in marketer.get(response.headers["Location"]).get_data(as_text=True)
    again = marketer.post("/admin/forms/import", {"definition": (io.BytesIO(changed), "form.toml")})
    assert "Unchanged: still version 2." in marketer.get(again.headers["Location"]).get_data(as_text=True)
    bad = marketer.post("/admin/forms/import", {"definition": (io.BytesIO(b"slug = "), "form.toml")})
    assert bad.status_code == 400 and "not valid TOML" in bad.get_data(as_text=True)
    new = changed.replace(b'slug = "sales-machine"', b'slug = "other"')
    no_asset = marketer.post("/admin/forms/import", {"definition": (io.BytesIO(new), "form.toml")})
    assert no_asset.status_code == 400 and "upload the whitepaper" in no_asset.get_data(as_text=True)
    with_asset = marketer.post(
        "/admin/forms/import", {"definition": (io.BytesIO(new), "f.toml"), "asset": (io.BytesIO(PDF), "o.pdf")}
    )
    assert with_asset.headers["Location"] == "/admin/forms/other/"


def test_archive_takes_the_form_offline_and_restore_brings_it_back(marketer, client, services, demo_form):
    assert marketer.post("/admin/forms/sales-machine/archive").status_code == 302
    assert client.get("/f/sales-machine").status_code == 404
    assert "archived" in marketer.get("/admin/forms/").get_data(as_text=True)
    marketer.post("/admin/forms/sales-machine/archive", {"restore": "1"})
    assert client.get("/f/sales-machine").status_code == 200
    page = signed_in(marketer.client.application, services, "admin").get("/admin/audit").get_data(as_text=True)
    assert "form.archive" in page and "form.restore" in page


def test_the_funnel_counts_views_submissions_confirmations_downloads_and_withdrawals(
    app, marketer, client, services, demo_form, runner
):
    # Given four views (written after a response once their interval has passed), three
    # submissions, two confirmations, a download and a withdrawal
    views = app.extensions["leadcapture.views"]
    for _ in range(3):
        client.get("/f/sales-machine")
    views.every = 0
    client.get("/f/sales-machine").close()  # closing its response (as a server does) writes the four
    with services.db.session() as session:
        assert session.scalar(select(func.sum(FunnelCount.count)).where(FunnelCount.stage == "view")) == 4
    for n in range(3):
        submit(client, f"p{n}@example.com", ["newsletter", "call"])
    confirm_all(services, "p0@example.com")
    confirm_all(services, "p1@example.com")
    withdraw(services, "p1@example.com", ["newsletter"])
    with services.db.session() as session:
        asset_request = session.scalar(
            select(LeadRequest).where(LeadRequest.kind == ASSET, LeadRequest.state == "confirmed")
        )
        download = links.download(services, asset_request)
    assert client.get(path_of(download)).status_code == 200
    assert client.head(path_of(download)).status_code == 200  # a HEAD is no download
    since, until = funnel.default_range()
    with services.db.session() as session:
        form_id = session.scalar(select(Form.id))
        result = funnel.funnel(session, form_id, since, until, "day")
        weekly = {r.key: r for r in funnel.funnel(session, form_id, since, until, "week").rows}
    rows = {r.key: r for r in result.rows}
    # Then each step is counted once, per purpose
    assert result.total_views == 4
    newsletter = rows["newsletter"]
    assert [newsletter.total(s) for s in funnel.STAGES] == [3, 2, 0, 1]
    assert [rows["call"].total(s) for s in funnel.STAGES] == [3, 2, 0, 0]
    assert [rows["asset"].total(s) for s in funnel.STAGES] == [3, 2, 1, 0]
    assert [weekly["newsletter"].total(s) for s in funnel.STAGES] == [3, 2, 0, 1]
    assert round(newsletter.rate, 2) == 0.67 and result.rate("submitted") == 0.75
    page = marketer.get(f"/admin/forms/sales-machine/funnel?since={since}&until={until}").get_data(as_text=True)
    assert "Confirmation rate: <strong>67%</strong>" in page and "<strong>4</strong> views of the form" in page
    assert 'id="funnel-data"' in page and "uPlot.iife.min.js" in page
    assert "Whitepaper" in page and "Stuur mij de maandelijkse nieuwsbrief" in page
    # And erasing a person changes no figure
    assert runner.invoke(["people", "erase", "p1@example.com", "--yes"]).exit_code == 0
    with services.db.session() as session:
        after = {r.key: r for r in funnel.funnel(session, form_id, since, until, "day").rows}
    assert [after["newsletter"].total(s) for s in funnel.STAGES] == [3, 2, 0, 1]
    # And the scheduler's roll-up of past days keeps every figure
    with services.db.session() as session:
        assert funnel.roll_up(session, until + timedelta(days=1)) > 0
        rolled = {r.key: r for r in funnel.funnel(session, form_id, since, until, "month").rows}
    assert [rolled["asset"].total(s) for s in funnel.STAGES] == [3, 2, 1, 0]
    for query in ("period=week", "period=month", "period=year", "since=nonsense", f"since={until}&until={since}"):
        assert marketer.get(f"/admin/forms/sales-machine/funnel?{query}").status_code == 200


def test_a_chosen_pdf_survives_row_buttons_and_validation_errors(marketer, client):
    page = marketer.post("/admin/forms/new", editor_data(action="add")).get_data(as_text=True)
    assert "Chosen: webinar.pdf" in page
    pending = re.search(r'name="pending_asset" value="([0-9a-f]{64})"', page).group(1)
    retry = marketer.post("/admin/forms/new", editor_data(pdf=None, title="", pending_asset=pending))
    assert retry.status_code == 400 and "Chosen: webinar.pdf" in retry.get_data(as_text=True)
    saved = marketer.post("/admin/forms/new", editor_data(pdf=None, pending_asset=pending))
    assert saved.status_code == 302
    assert marketer.get("/admin/forms/webinar/asset").data == PDF


def test_the_editor_adds_the_phone_field_to_a_form_with_a_phone_purpose(marketer, client):
    # Given a form saved with a purpose by phone and only the name field ticked
    assert marketer.post("/admin/forms/new", editor_data()).status_code == 302
    # Then the hosted form asks the phone number, and the editor shows the field ticked
    hosted = client.get("/f/webinar").get_data(as_text=True)
    assert 'id="phone" name="phone"' in hosted and "(required if we may call you)" in hosted
    editor = marketer.get("/admin/forms/webinar/edit").get_data(as_text=True)
    assert re.search(r'id="field_phone" name="field_phone" value="y" checked', editor)


def test_the_start_page_shows_the_last_weeks_per_form(app, marketer, client, services, demo_form):
    client.get("/f/sales-machine")
    app.extensions["leadcapture.views"].flush()
    submit(client, "p@example.com", ["newsletter"])
    confirm_all(services, "p@example.com")
    page = marketer.get("/admin/").get_data(as_text=True)
    assert "The last 7 and 30 days" in page and "Best converting form (30 days)" in page
    assert "100.0% of its views confirmed" in page
    assert "The last 7 and 30 days" not in signed_in(app, services, "privacy").get("/admin/").get_data(as_text=True)
