"""The one-click opt-out pages say who and what they unsubscribe from, and link the preference centre."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from leadcapture.delivery import links as message_links
from leadcapture.models import Person, Submission
from tests.support.app import path_of, submit
from tests.support.people import confirmed_person

pytestmark = pytest.mark.usefixtures("demo_form")

CONTROLLER = "Voorbeeld B.V., Stationsplein 1, 3511 ED Utrecht, privacy@example.com"


def person(services) -> Person:
    with services.db.session() as session:
        return session.scalar(select(Person))


def text(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_the_one_click_page_names_the_controller_and_the_purpose(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox)
    url = message_links.unsubscribe(services, person(services), "newsletter")
    page = " ".join(text(client.get(path_of(url))).split())
    assert "Met deze knop stop je deze toestemming: Stuur mij de maandelijkse nieuwsbrief met salestips." in page
    assert f"Wie wij zijn: {CONTROLLER}" in page


def test_the_withdraw_everything_page_says_so_and_names_the_controller(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox)
    page = " ".join(text(client.get(path_of(message_links.unsubscribe(services, person(services), None)))).split())
    assert "Met deze knop trek je elke toestemming in die je ons gaf." in page
    assert f"Wie wij zijn: {CONTROLLER}" in page


def test_the_done_page_links_the_preference_centre_it_mentions(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox)
    url = message_links.unsubscribe(services, person(services), "newsletter")
    done = client.post(path_of(url), data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200  # RFC 8058: no redirect
    page = done.get_data(as_text=True)
    assert "Je bent afgemeld" in page and "Wil je je andere keuzes aanpassen?" in page
    (centre,) = re.findall(r'<a href="([^"]+)">Beheer je voorkeuren</a>', page)
    preferences = client.get(path_of(html.unescape(centre)))
    assert preferences.status_code == 200 and "Je voorkeuren" in preferences.get_data(as_text=True)


def test_the_not_me_page_names_what_was_asked_and_by_whom(client, services):
    submit(client, "jan@example.com", ["newsletter"])
    with services.db.session() as session:
        submission = session.scalar(select(Submission))
        url = message_links.not_me(services, submission)
    page = " ".join(text(client.get(path_of(url))).split())
    assert "Met dit e-mailadres is “Maak van je verkoopteam een sales machine” aangevraagd." in page
    assert f"Wie wij zijn: {CONTROLLER}" in page
    assert "Klik op de knop." in page


def test_a_whitepaper_only_person_still_learns_who_the_opt_out_is_from(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=())
    page = " ".join(text(client.get(path_of(message_links.unsubscribe(services, person(services), None)))).split())
    assert f"Wie wij zijn: {CONTROLLER}" in page
