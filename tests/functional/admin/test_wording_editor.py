"""The editor's wording fields and its previews of the mails and pages that wording shapes."""

from __future__ import annotations

import html
import re
import tomllib

import pytest

from tests.functional.admin.test_forms import editor_data
from tests.support.admin import signed_in

OWN = {
    "confirmation_subject": "One more click: your whitepaper",
    "confirmation_intro": "Great that you want to read our whitepaper.",
    "confirmation_button": "Yes, send it",
    "asset_subject": "Here is your whitepaper",
    "asset_intro": "Enjoy the read.",
    "asset_button": "Read the whitepaper",
    "check_inbox": "Look in your inbox and press the button.",
    "thank_you": "Great, you will hear from us!",
}


@pytest.fixture
def marketer(app, services):
    return signed_in(app, services, "marketer")


def with_wording(wording=OWN, **overrides) -> dict:
    data = editor_data(**overrides)
    data.update({f"wording-{key}": value for key, value in wording.items()})
    return data


def preview(marketer, which, wording=OWN, **overrides):
    data = with_wording(wording, pdf=None, **overrides)
    data["preview_of"] = which
    response = marketer.post("/admin/forms/preview", data)
    assert response.status_code == 200
    return response


def mail_html(page: str) -> str:
    """The HTML part, as the sandboxed frame's srcdoc holds it."""
    return html.unescape(re.search(r'srcdoc="([^"]*)"', page).group(1))


def test_saving_the_wording_stores_it_in_a_new_version_and_the_editor_shows_it(marketer):
    assert marketer.post("/admin/forms/new", editor_data()).status_code == 302
    assert marketer.post("/admin/forms/webinar/edit", with_wording(pdf=None)).status_code == 302
    toml = marketer.get("/admin/forms/webinar/v/2.toml").get_data(as_text=True)
    assert tomllib.loads(toml)["wording"] == OWN
    version = marketer.get("/admin/forms/webinar/v/2").get_data(as_text=True)
    assert "<dt>Own wording: <code>thank_you</code></dt><dd>Great, you will hear from us!</dd>" in version
    editor = marketer.get("/admin/forms/webinar/edit").get_data(as_text=True)
    assert 'name="wording-thank_you" value="Great, you will hear from us!"' in editor


def test_empty_wording_fields_make_no_new_version(marketer):
    marketer.post("/admin/forms/new", editor_data())
    empty = dict.fromkeys(OWN, "")
    response = marketer.post("/admin/forms/webinar/edit", with_wording(empty, pdf=None), follow_redirects=True)
    assert "Nothing changed: still version 1." in response.get_data(as_text=True)


def test_a_wording_problem_is_shown_at_the_editor_and_nothing_is_saved(marketer):
    marketer.post("/admin/forms/new", editor_data())
    response = marketer.post("/admin/forms/webinar/edit", with_wording({"confirmation_button": "x" * 41}, pdf=None))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "wording: confirmation_button is longer than 40 characters" in page
    assert 'value="' + "x" * 41 + '"' in page  # what was typed is kept
    assert marketer.get("/admin/forms/webinar/v/2").status_code == 404


def test_the_confirmation_preview_is_the_workers_mail_with_example_links(marketer):
    response = preview(marketer, "confirmation")
    page = response.get_data(as_text=True)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]  # no script runs in it
    assert "<dd>One more click: your whitepaper</dd>" in page
    assert "<dd>auto-generated</dd>" in page and "<dd>List-Unsubscribe=One-Click</dd>" in page
    assert "<dd>&lt;http://lc.test/u/example&gt;</dd>" in page
    body = mail_html(page)
    assert "<p>Great that you want to read our whitepaper.</p>" in body
    assert re.search(r'<a href="http://lc.test/c/example"[^>]*>Yes, send it</a>', body)
    assert "Send me the whitepaper: The webinar recording" in body and "Send me the monthly newsletter." in body
    assert "This email was sent by Example Ltd, 1 High Street, London." in body  # the legal footer
    assert "Yes, send it:\nhttp://lc.test/c/example" in html.unescape(page)  # the text part


def test_the_whitepaper_preview_shows_subject_intro_button_and_footer(marketer):
    page = preview(marketer, "asset").get_data(as_text=True)
    assert "<dd>Here is your whitepaper</dd>" in page
    body = mail_html(page)
    assert "Enjoy the read." in body
    assert re.search(r'href="http://lc.test/d/example"[^>]*>Read the whitepaper</a>', body)
    assert "Unsubscribe from all our email" in body and "https://www.example.com/privacy" in body


def test_the_default_wording_is_previewed_when_the_fields_are_empty(marketer):
    page = preview(marketer, "confirmation", dict.fromkeys(OWN, "")).get_data(as_text=True)
    assert "<dd>Confirm your request: The webinar recording</dd>" in page
    assert ">Confirm</a>" in mail_html(page)


def test_the_page_previews_show_the_check_inbox_and_thank_you_wording(marketer):
    check = preview(marketer, "check_inbox").get_data(as_text=True)
    assert "Look in your inbox and press the button." in check and "Check your inbox" in check
    thanks = preview(marketer, "thank_you").get_data(as_text=True)
    assert "Great, you will hear from us!" in thanks and "We are also emailing you the whitepaper." in thanks
    assert "Send me the monthly newsletter." in thanks  # what was confirmed


def test_the_previews_are_in_the_forms_language(marketer):
    page = preview(marketer, "confirmation", {}, language="nl").get_data(as_text=True)
    assert "<dd>Bevestig je aanvraag: The webinar recording</dd>" in page


def test_markup_and_template_syntax_stay_inert_in_the_previews(marketer):
    hostile = {"confirmation_intro": "<script>alert(1)</script>{{ 7*7 }}", "thank_you": "<img src=x onerror=alert(1)>"}
    page = preview(marketer, "confirmation", hostile).get_data(as_text=True)
    assert "<script>" not in mail_html(page) and "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}" in mail_html(page)
    thanks = preview(marketer, "thank_you", hostile).get_data(as_text=True)
    assert "<img src=x" not in thanks and "&lt;img src=x onerror=alert(1)&gt;" in thanks


def test_a_preview_of_invalid_wording_lists_the_problem(marketer):
    data = with_wording({"asset_subject": "two\nlines"}, pdf=None)
    data["preview_of"] = "asset"
    page = marketer.post("/admin/forms/preview", data).get_data(as_text=True)
    assert "Preview not possible yet" in page and "asset_subject must be one line" in page


def test_an_unknown_preview_choice_shows_the_form(marketer):
    page = preview(marketer, "../../etc/passwd").get_data(as_text=True)
    assert 'action="/f/__preview__"' in page
