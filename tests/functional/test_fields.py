"""A form's own questions and the lead's source: asked, checked, stored encrypted, shown, exported, erased, counted."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadcapture.backoffice import funnel
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.consent.people import find_person
from leadcapture.models import FunnelCount, Person, Submission
from leadcapture.privacy.rights import erase_person, export_person
from tests.support.admin import confirm_all, signed_in
from tests.support.app import BASE_URL, form_token
from tests.unit.consent.test_formdefs import demo_copy

QUESTIONS = """
[[custom_fields]]
key = "job_title"
label = "Functie"
max_length = 40

[[custom_fields]]
key = "company_size"
label = "Bedrijfsgrootte"
type = "choice"
required = true
choices = ["1-10", "11-50", "51-250", "250+"]
"""
FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture
def form(services, tmp_path):
    """The demo form with two questions of its own."""
    path = demo_copy(tmp_path)
    path.write_text(path.read_text() + QUESTIONS)
    definition, asset = load_toml(path)
    with services.db.session() as session:
        version, _ = save(session, definition, asset)
    return version


def post(client, email="jan@example.com", **data):
    """The form as a browser posts it: token, address, the answers and the source fields it carried."""
    values = {"csrf_token": form_token(client), "email": email, "cf_company_size": "11-50", **data}
    return client.post("/f/sales-machine", data={k: v for k, v in values.items() if v is not None})


def stored(services) -> list[Submission]:
    with services.db.session() as session:
        rows = session.scalars(select(Submission).order_by(Submission.id)).all()
        session.expunge_all()
        return rows


def test_the_form_asks_the_questions_with_their_labels(client, form):
    page = client.get("/f/sales-machine").get_data(as_text=True)
    assert re.search(r'<label for="cf_job_title">Functie <span class="hint">\(optioneel\)', page)
    assert re.search(r'<input type="text" id="cf_job_title" name="cf_job_title" maxlength="40"', page)
    assert re.search(r'<label for="cf_company_size">Bedrijfsgrootte <span class="hint">\(verplicht\)', page)
    assert '<option value="">Kies…</option>' in page and '<option value="51-250">51-250</option>' in page


def test_answers_and_source_are_stored_with_the_submission_personal_parts_encrypted(client, services, form):
    # Given a visitor from a campaign who answers both questions
    response = post(
        client,
        cf_job_title="Head of Sales",
        utm_source="LinkedIn",
        utm_medium="social",
        utm_campaign="Q4",
        referrer="https://www.linkedin.com/feed/?trk=jan@example.com",
    )
    assert response.status_code == 200
    # Then the answers are one encrypted blob and the referrer is encrypted, origin and path only
    (submission,) = stored(services)
    assert "Head of Sales" not in submission.answers_enc and "linkedin" not in submission.referrer_enc
    assert json.loads(services.vault.decrypt(submission.answers_enc)) == {
        "job_title": "Head of Sales",
        "company_size": "11-50",
    }
    assert services.vault.decrypt(submission.referrer_enc) == "https://www.linkedin.com/feed/"
    assert (submission.utm_source, submission.utm_medium, submission.utm_campaign) == ("linkedin", "social", "Q4")


def test_a_choice_not_in_the_list_is_refused_clearly_and_nothing_is_stored(client, services, form):
    response = post(client, cf_company_size="5000+")
    assert response.status_code == 400
    assert "Kies een van de opties uit de lijst." in response.get_data(as_text=True)
    assert stored(services) == []


def test_a_required_question_left_empty_is_asked_again_with_what_was_typed_kept(client, services, form):
    response = post(client, cf_company_size="", cf_job_title="CEO")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'href="#cf_company_size">Bedrijfsgrootte: Beantwoord deze vraag.' in page
    assert 'value="CEO"' in page and stored(services) == []


@pytest.mark.parametrize(
    ("typed", "message"),
    [("x" * 41, "Dit is te lang (hooguit 40 tekens)."), ("CEO\r\nBcc: x", "tekens die niet zijn toegestaan")],
)
def test_an_oversized_or_control_character_answer_is_refused(client, services, form, typed, message):
    response = post(client, cf_job_title=typed)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert stored(services) == []


def test_a_forged_question_is_never_stored(client, services, form):
    assert post(client, cf_is_admin="yes", cf_email="evil@example.com", is_admin="1").status_code == 200
    (submission,) = stored(services)
    assert json.loads(services.vault.decrypt(submission.answers_enc)) == {"company_size": "11-50"}


def test_hostile_source_values_are_cleaned_never_refused(client, services, form):
    response = post(
        client,
        utm_source="Evil\r\nSet-Cookie: x=1" + "s" * 500,
        utm_campaign="\x07\x1b" + FORMULA,  # (a NUL anywhere is a 400 for every form value: test_hostile_input)
        referrer="javascript:alert(document.cookie)",
    )
    assert response.status_code == 200
    (submission,) = stored(services)
    assert submission.utm_source.startswith("evil set-cookie: x=1") and len(submission.utm_source) == 100
    assert submission.utm_campaign == FORMULA and submission.referrer_enc is None


def test_the_hosted_form_carries_its_query_and_referrer_but_not_the_referrers_query(client, form):
    page = client.get(
        "/f/sales-machine?utm_source=Google&utm_medium=cpc",
        headers={"Referer": "https://www.google.com/search?q=jan%40example.com"},
    ).get_data(as_text=True)
    assert 'name="utm_source" type="hidden" value="google"' in page
    assert 'name="utm_medium" type="hidden" value="cpc"' in page
    assert 'name="referrer" type="hidden" value="https://www.google.com/search"' in page
    assert "jan%40example.com" not in page.split('name="referrer"')[1][:100]
    # A referrer on our own site (a reload, the page after a submit) says nothing about the source
    own = client.get("/f/sales-machine", headers={"Referer": f"{BASE_URL}/f/sales-machine"}).get_data(as_text=True)
    assert 'name="referrer"' not in own


def test_the_embed_passes_the_host_pages_tags_and_referrer_never_the_frames_own(client, form):
    page = client.get(
        "/f/sales-machine?embed=1&utm_source=newsletter&ref=https%3A%2F%2Fmail.example.net%2Finbox",
        headers={"Referer": "https://www.example.com/whitepaper?utm_source=newsletter"},
    ).get_data(as_text=True)
    assert 'name="utm_source" type="hidden" value="newsletter"' in page
    assert 'name="referrer" type="hidden" value="https://mail.example.net/inbox"' in page
    script = client.get("/f/sales-machine/embed.js").get_data(as_text=True)
    assert '["utm_source", "utm_medium", "utm_campaign"]' in script and "document.referrer" in script


def test_the_leads_page_and_csv_show_source_and_answers_formula_safe(app, client, services, form):
    post(client, "anna@example.com", cf_job_title=FORMULA, utm_source="linkedin", utm_campaign="@SUM(A1)")
    post(client, "bert@example.com")
    marketer = signed_in(app, services, "marketer")
    # The page filters by source; "direct" finds the lead without one
    page = marketer.post("/admin/leads", {"action": "show", "source": "linkedin"}).get_data(as_text=True)
    assert "anna@example.com" in page and "bert@example.com" not in page
    assert "Functie" in page and "=cmd|&#39; /C calc&#39;!A0" in page
    direct = marketer.post("/admin/leads", {"action": "show", "source": "direct"}).get_data(as_text=True)
    assert "bert@example.com" in direct and "anna@example.com" not in direct
    assert "<option selected>direct</option>" in direct and "<option>linkedin</option>" in direct
    # The CSV has the source columns and a column per question, every cell formula-safe
    response = marketer.post("/admin/leads", {"action": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    anna = next(r for r in rows if r["email"] == "anna@example.com")
    assert anna["utm_source"] == "linkedin" and anna["utm_campaign"] == "'@SUM(A1)"
    assert anna["job_title"] == "'" + FORMULA and anna["company_size"] == "11-50"
    assert list(rows[0])[-2:] == ["job_title", "company_size"]


def test_confirmation_copies_the_answers_and_export_and_erasure_cover_them(client, services, form):
    post(client, cf_job_title="CEO", utm_source="linkedin", referrer="https://www.linkedin.com/in/jan")
    confirm_all(services, "jan@example.com")
    with services.db.session() as session:
        person = find_person(session, services.vault, "jan@example.com")
        exported = export_person(session, services.vault, person)
        # The access export lists the answers with the labels shown, and where the person came from
        assert exported["subject"]["answers"] == {
            "job_title": {"label": "Functie", "value": "CEO"},
            "company_size": {"label": "Bedrijfsgrootte", "value": "11-50"},
        }
        (record,) = exported["submissions"]
        assert record["answers"][0] == {"key": "job_title", "label": "Functie", "value": "CEO"}
        assert record["source"] == {
            "utm_source": "linkedin",
            "utm_medium": None,
            "utm_campaign": None,
            "referrer": "https://www.linkedin.com/in/jan",
        }
        # When the person is erased, no row holds the answers or the referrer any more
        erase_person(session, services.vault, person, method="admin")
        assert session.scalar(select(func.count()).select_from(Submission)) == 0
        assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_the_funnel_counts_per_source_and_an_erasure_changes_nothing(client, services, form, app):
    # Given views and submissions from LinkedIn and without a source; one of each confirms
    for query in ("?utm_source=linkedin", "?utm_source=LinkedIn", "", "?utm_source=linkedin"):
        client.get(f"/f/sales-machine{query}")
    post(client, "anna@example.com", utm_source="linkedin")
    post(client, "bert@example.com", utm_source="linkedin")
    post(client, "carla@example.com")
    app.extensions["leadcapture.views"].flush()
    confirm_all(services, "anna@example.com")
    confirm_all(services, "carla@example.com")
    today = funnel.default_range()[1]

    def per_source():
        with services.db.session() as session:
            return {
                r.source: (r.views, r.submitted, r.confirmed)
                for r in funnel.by_source(session, form.form_id, today, today)
            }

    # (each post's page was fetched once without a source, for its form token: three more direct views)
    assert per_source() == {"linkedin": (3, 2, 1), "direct": (4, 1, 1)}
    # When a confirmed person is erased, and the day's rows are rolled up, the figures stay
    with services.db.session() as session:
        erase_person(session, services.vault, find_person(session, services.vault, "anna@example.com"), method="admin")
        funnel.roll_up(session, today + timedelta(days=1))
        assert session.scalar(select(func.count()).where(FunnelCount.source == "linkedin")) == 3
    assert per_source() == {"linkedin": (3, 2, 1), "direct": (4, 1, 1)}


def test_the_admin_editor_edits_the_questions_as_toml(app, services, form):
    from tests.functional.admin.test_forms import editor_data

    marketer = signed_in(app, services, "marketer")
    page = marketer.get("/admin/forms/sales-machine/edit").get_data(as_text=True)
    assert "[[custom_fields]]\nkey = &#34;job_title&#34;" in page or '[[custom_fields]]\nkey = "job_title"' in page
    data = editor_data(slug="sales-machine", pdf=None, language="nl", custom_fields=QUESTIONS.replace("Functie", "Rol"))
    assert marketer.post("/admin/forms/sales-machine/edit", data).status_code == 302
    with services.db.session() as session:
        from leadcapture.consent.versions import current_version

        assert current_version(session, "sales-machine").definition["custom_fields"][0]["label"] == "Rol"
    # Text that is not TOML, or a question that is not allowed, is named and nothing is saved
    broken = marketer.post("/admin/forms/sales-machine/edit", {**data, "custom_fields": "[[custom_fields]\nkey ="})
    assert broken.status_code == 400 and "custom fields are not valid TOML" in broken.get_data(as_text=True)
    clash = marketer.post(
        "/admin/forms/sales-machine/edit", {**data, "custom_fields": '[[custom_fields]]\nkey = "email"\nlabel = "x"'}
    )
    assert clash.status_code == 400 and "key &#39;email&#39; is a built-in field&#39;s name" in clash.get_data(
        as_text=True
    )
