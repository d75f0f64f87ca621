"""Look-alike addresses: one rule on every way in (form, API, import), and a hint where staff look up."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from leadcapture.consent.people import AddressError, find_person, valid_address
from leadcapture.models import Person, Submission
from tests.functional.test_api import ask, token  # noqa: F401 (a fixture)
from tests.support.admin import signed_in
from tests.support.app import submit

pytestmark = pytest.mark.usefixtures("demo_form")

FULLWIDTH_J = "\uff4aan@example.com"  # "ｊan": a full-width j


def people(services) -> int:
    with services.db.session() as session:
        return session.scalar(select(func.count()).select_from(Person))


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        (FULLWIDTH_J, "jan@example.com"),
        ("\ufb01nance@example.com", "finance@example.com"),
        ("ℌans@example.com", "Hans@example.com"),
    ],
)
def test_a_local_part_that_nfkc_changes_is_refused_with_the_plain_spelling(typed, plain):
    with pytest.raises(AddressError) as caught:
        valid_address(typed)
    assert caught.value.suggestion == plain and f"did you mean {plain}?" in str(caught.value)


@pytest.mark.parametrize("typed", ["jan@\uff45xample.com", "jan@example\uff0ecom", "jan@EXAMPLE.com"])
def test_a_domain_is_mapped_by_idna_so_a_full_width_domain_is_the_same_address(typed):
    assert valid_address(typed) == "jan@example.com"


def test_addresses_in_other_scripts_stay_valid():
    assert valid_address("jürgen@bücher.de") == "jürgen@bücher.de"
    assert valid_address("иван@пример.рф") == "иван@пример.рф"


def test_the_form_refuses_a_full_width_look_alike_and_says_what_was_meant(client, services):
    submit(client, "jan@example.com")
    response = submit(client, FULLWIDTH_J)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "tekens die op andere lijken" in page and "Bedoel je jan@example.com?" in page
    assert people(services) == 1
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1


def test_a_full_width_domain_is_the_same_person(client, services):
    submit(client, "jan@example.com")
    assert submit(client, "jan@\uff45xample.com").status_code == 200
    assert people(services) == 1


def test_the_api_refuses_a_look_alike_with_a_400(client, token):  # noqa: F811
    response = ask(client, token, email=FULLWIDTH_J, purpose="newsletter")
    assert response.status_code == 400
    assert response.json["error"] == "email has look-alike characters (did you mean jan@example.com?)"


def test_the_admin_lookup_says_what_was_meant(app, services, client):
    privacy = signed_in(app, services, "privacy")
    page = privacy.post("/admin/people/", {"email": FULLWIDTH_J}, follow_redirects=True).get_data(as_text=True)
    assert "We hold nothing for that address. It has look-alike characters (did you mean jan@example.com?)." in (
        html.unescape(page)
    )


def test_the_cli_lookup_says_what_was_meant(runner, services):
    result = runner.invoke(["people", "export", FULLWIDTH_J])
    assert result.exit_code == 1
    assert "has look-alike characters (did you mean jan@example.com?)" in result.output
    with services.db.session() as session:
        assert find_person(session, services.vault, FULLWIDTH_J) is None
