"""A purpose by phone needs a phone number: the field, its requirement, its check and where it is kept."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from leadcapture.models import Person, Submission
from tests.support.app import form_token, path_of, submit, text_part

pytestmark = pytest.mark.usefixtures("demo_form")


def submissions(services) -> int:
    with services.db.session() as session:
        return session.scalar(select(func.count()).select_from(Submission))


def test_the_form_shows_the_phone_field_required_for_the_call_box(client):
    page = client.get("/f/sales-machine").get_data(as_text=True)
    assert re.search(r'<label for="phone">Telefoonnummer <span class="hint">\(verplicht als we je mogen bellen\)', page)
    assert re.search(r'<input type="tel" id="phone" name="phone"', page)
    assert re.search(r'id="purpose_call"[^>]*data-needs-phone', page)
    assert not re.search(r'id="purpose_newsletter"[^>]*data-needs-phone', page)
    assert "/static/form.js" in page


def test_ticking_call_without_a_number_is_refused_clearly_and_stores_nothing(client, services):
    response = submit(client, "jan@example.com", ["newsletter", "call"], phone="")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Vul je telefoonnummer in: je hebt aangevinkt dat we je mogen bellen." in page
    assert 'aria-describedby="phone-error"' in page
    assert submissions(services) == 0


def test_without_the_call_box_the_number_stays_optional(client, services):
    assert submit(client, "jan@example.com", ["newsletter"]).status_code == 200
    assert submissions(services) == 1


@pytest.mark.parametrize("typed", ["bel mij maar", "12", "+31 6 123", "0800-FLOWERS", "+999 123 456 789"])
def test_a_number_that_is_not_a_phone_number_is_refused(client, services, typed):
    response = submit(client, "jan@example.com", ["call"], phone=typed)
    assert response.status_code == 400
    assert "Vul een geldig telefoonnummer in" in response.get_data(as_text=True)
    assert submissions(services) == 0


def test_the_number_is_kept_encrypted_in_international_format_and_reaches_the_person_on_confirmation(
    client, worker, mailbox, services
):
    # Given a visitor who types a Dutch number the way people do
    assert submit(client, "jan@example.com", ["call"], phone="030 - 123 45 67").status_code == 200
    worker.drain()
    with services.db.session() as session:
        submission = session.scalar(select(Submission))
        assert "123" not in (submission.fields_enc or "")  # encrypted at rest
        assert '"phone": "+31 30 123 4567"' in services.vault.decrypt(submission.fields_enc)
    # When they confirm from the email
    link = re.search(r"bevestigen:\s*(\S+)", text_part(mailbox.to("jan@example.com")[-1])).group(1)
    client.post(path_of(link))
    # Then the person has the number, encrypted, for sales to call
    with services.db.session() as session:
        person = session.scalar(select(Person))
        assert services.vault.decrypt(person.phone_enc) == "+31 30 123 4567"


def test_an_english_form_asks_for_the_country_code(runner, client, services, tmp_path):
    from tests.unit.consent.test_formdefs import demo_copy

    path = demo_copy(tmp_path, {'language = "nl"': 'language = "en"', 'slug = "sales-machine"': 'slug = "sales-en"'})
    assert runner.invoke(args=["forms", "import", str(path)]).exit_code == 0
    response = submit(client, "jan@example.com", ["call"], slug="sales-en", phone="020 7946 0958")
    assert response.status_code == 400
    assert "with its country code, like +31 20 123 4567" in response.get_data(as_text=True)
    assert submit(client, "jan@example.com", ["call"], slug="sales-en", phone="+44 20 7946 0958").status_code == 200


def test_a_phone_number_with_a_line_break_is_refused(client, services):
    data = {"csrf_token": form_token(client), "email": "jan@example.com", "purpose_call": "y",
            "phone": "+31 30 123 4567\r\nBcc: x"}  # fmt: skip
    assert client.post("/f/sales-machine", data=data).status_code == 400
    assert submissions(services) == 0
