"""The confirmation, read as a person would: requests inside the window, the one button, the confirm page."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from leadcapture.models import (
    Consent,
    LeadRequest,
    LedgerEvent,
    MailboxWindow,
    OutboxJob,
    Person,
    Suppression,
    utcnow,
)
from tests.support.app import html_part, links, path_of, submit, text_part
from tests.support.settings import reconfigure

pytestmark = pytest.mark.usefixtures("demo_form")

JAN = "jan@example.com"


def confirm_link(msg) -> str:
    """The one confirm link of a confirmation mail (its button)."""
    (link,) = [u for u in links(msg) if "/c/" in u]
    return link


def subjects(mailbox, email=JAN) -> list[str]:
    return [str(m["Subject"]) for m in mailbox.to(email)]


def states(services) -> dict:
    with services.db.session() as session:
        return dict(session.execute(select(Consent.purpose_key, Consent.state)).all())


def test_a_second_request_inside_a_short_window_arrives_after_the_window(client, worker, mailbox, app, services):
    # Given a five-second window and a first request, mailed at once
    reconfigure(app, confirmation_window=5)
    submit(client, JAN, ["newsletter"])
    worker.drain()
    assert len(mailbox.to(JAN)) == 1
    started = time.monotonic()

    # When the visitor asks for more inside the window
    submit(client, JAN, ["call"])
    worker.drain()

    # Then nothing more comes inside the window
    assert len(mailbox.messages()) == 1
    # And once it ends, a mail lists what was asked inside it
    assert time.monotonic() - started < 5, "too slow a machine to ask inside a five-second window"
    time.sleep(max(0.0, 5.2 - (time.monotonic() - started)))
    worker.drain()
    first, second = mailbox.to(JAN)
    body = text_part(second)
    assert "bellen" in body and "Stuur mij de whitepaper" in body
    assert "nieuwsbrief" not in body  # asked before the window, in the first mail
    # And its button confirms what it listed, and the whitepaper comes
    client.post(path_of(confirm_link(second)))
    worker.drain()
    assert states(services) == {"call": "confirmed"}
    assert "whitepaper" in subjects(mailbox)[-1].lower()


def let_the_window_pass(services) -> None:
    """Move the clock past the mailbox's window, as far as the database can tell."""
    ago = utcnow() - timedelta(seconds=services.settings.confirmation_window + 1)
    with services.db.session() as session:
        session.execute(update(MailboxWindow).values(last_confirmation_at=ago))
        session.execute(update(OutboxJob).where(OutboxJob.not_before.is_not(None)).values(not_before=ago))


def test_another_spelling_of_the_inbox_gets_its_own_mail_a_window_later(client, worker, mailbox, services):
    # Given two spellings of one inbox asking inside the window (two addresses, one inbox)
    submit(client, JAN, ["newsletter"])
    submit(client, JAN, ["call"])
    submit(client, "Jan+Work@example.com", ["product_news"])
    worker.drain()
    assert len(mailbox.messages()) == 1

    # When the window ends, one of them is mailed; when the next one ends, the other
    let_the_window_pass(services)
    worker.drain()
    assert len(mailbox.messages()) == 2
    let_the_window_pass(services)
    worker.drain()

    # Then each address got its own mail with only its own requests
    (tagged,) = mailbox.to("Jan+Work@example.com")
    assert "nieuwe diensten" in text_part(tagged) and "bellen" not in text_part(tagged)
    body = text_part(mailbox.to(JAN)[-1])
    assert "bellen" in body and "nieuwe diensten" not in body


def test_requests_inside_the_window_are_kept_when_the_first_is_confirmed_meanwhile(client, worker, mailbox, services):
    # Given an address that confirmed its first request, and asks again inside the window
    submit(client, JAN, ["newsletter"])
    worker.drain()
    client.post(path_of(confirm_link(mailbox.to(JAN)[0])))
    submit(client, JAN, ["call"])
    worker.drain()
    assert len(mailbox.to(JAN)) == 2  # the confirmation, the whitepaper

    # When the window ends
    let_the_window_pass(services)
    worker.drain()

    # Then the new request still needs a confirmation (anyone can type an address), and it arrives
    assert subjects(mailbox)[-1].startswith("Bevestig je aanvraag")
    assert "bellen" in text_part(mailbox.to(JAN)[-1])


def test_three_whitepapers_asked_inside_the_window_come_in_one_mail_with_one_button(client, worker, mailbox, services):
    # Given a first request mailed, then three more inside the window
    submit(client, JAN)
    worker.drain()
    for purposes in (["newsletter"], ["call"], []):
        submit(client, JAN, purposes)
    worker.drain()
    assert len(mailbox.to(JAN)) == 1

    # When the window ends: one mail, listing the whitepaper once and both purposes
    let_the_window_pass(services)
    worker.drain()
    first, second = mailbox.to(JAN)
    body = text_part(second)
    assert body.count("Stuur mij de whitepaper") == 1 and "nieuwsbrief" in body and "bellen" in body

    # And its one button confirms everything it listed, with one whitepaper mail
    client.post(path_of(confirm_link(second)))
    worker.drain()
    assert states(services) == {"newsletter": "confirmed", "call": "confirmed"}
    assert sum("whitepaper" in s.lower() for s in subjects(mailbox)[2:]) == 1
    with services.db.session() as session:
        pending = session.scalars(select(LeadRequest.kind).where(LeadRequest.state == "pending")).all()
    assert pending == ["asset"]  # the first request's, still confirmable from its own mail


def test_the_mail_has_one_button_and_names_requests_by_their_wording_only(client, worker, mailbox):
    submit(client, JAN, ["newsletter", "call"], name="BUY CHEAP PILLS", company="spam.example")
    worker.drain()
    (msg,) = mailbox.to(JAN)
    html = html_part(msg)
    assert len([u for u in links(msg) if "/c/" in u]) == 1
    assert re.search(r'<a href="[^"]+/c/[^"]+"[^>]*>Bevestig</a>', html)
    assert "Bevestig alleen dit" not in html and "Alles bevestigen" not in html
    assert "Stuur mij de maandelijkse nieuwsbrief" in html and "Stuur mij de whitepaper" in html
    assert "PILLS" not in msg.as_string() and "spam.example" not in msg.as_string()


def test_the_confirm_page_lists_everything_and_the_details_typed_and_a_get_changes_nothing(
    client, worker, mailbox, services
):
    submit(client, JAN, ["newsletter", "call"], name="Jan Jansen", company="Jansen & Zn <BV>")
    worker.drain()
    path = path_of(confirm_link(mailbox.to(JAN)[0]))

    page = client.get(path).get_data(as_text=True)

    assert "Met de knop bevestig je:" in page and ">Bevestig</button>" in page
    assert "Stuur mij de whitepaper" in page and "nieuwsbrief" in page and "bellen" in page
    assert "Jan Jansen" in page and "Jansen &amp; Zn &lt;BV&gt;" in page  # shown, escaped
    assert 'type="checkbox"' not in page  # leaving out is a secondary action, never a pre-ticked box
    assert page.count("Laat dit weg") == 2  # each purpose; the whitepaper is the request itself
    assert states(services) == {}
    with services.db.session() as session:
        assert session.scalar(select(Person.name_enc)) is None


def test_a_purpose_left_out_stays_unconfirmed_and_the_rest_and_the_whitepaper_are_confirmed(
    client, worker, mailbox, services
):
    submit(client, JAN, ["newsletter", "call"], name="Jan Jansen")
    worker.drain()
    path = path_of(confirm_link(mailbox.to(JAN)[0]))

    # When the person leaves the newsletter out (a link: the page again, without it) and confirms
    page = client.get(path).get_data(as_text=True)
    leave_out = re.search(r'href="([^"]+without=newsletter[^"]*)"[^>]*>Laat dit weg', page).group(1)
    shown = client.get(leave_out.replace("&amp;", "&")).get_data(as_text=True)
    assert "Weggelaten (niet bevestigd):" in shown and "Toch toevoegen" in shown
    assert 'name="without" value="newsletter"' in shown
    done = client.post(path, data={"without": "newsletter"}).get_data(as_text=True)
    worker.drain()

    # Then the call and the whitepaper are confirmed, the newsletter is not, and the page says so truthfully
    assert states(services) == {"call": "confirmed"}
    assert "Bedankt, bevestigd" in done and "We mailen je de whitepaper ook." in done
    assert "Download de whitepaper nu" in done and "Weggelaten" in done
    assert "whitepaper" in subjects(mailbox)[-1].lower()
    with services.db.session() as session:
        assert services.vault.decrypt(session.scalar(select(Person.name_enc))) == "Jan Jansen"
    # And the same link later still offers the newsletter, with the download
    again = client.get(path).get_data(as_text=True)
    assert ">Bevestig</button>" in again and "nieuwsbrief" in again and "Download de whitepaper nu" in again


def test_the_details_typed_by_someone_else_can_be_left_out(client, worker, mailbox, services):
    submit(client, JAN, ["newsletter"], name="Not Jan", company="Other BV")
    worker.drain()
    path = path_of(confirm_link(mailbox.to(JAN)[0]))
    page = client.get(path).get_data(as_text=True)
    assert "Bewaar deze gegevens niet" in page

    client.post(path, data={"without": "_details"})

    assert states(services) == {"newsletter": "confirmed"}
    with services.db.session() as session:
        person = session.scalar(select(Person))
        assert (person.name_enc, person.company_enc) == (None, None)


def test_a_used_link_shows_what_is_confirmed_and_the_download_and_promises_nothing(client, worker, mailbox):
    submit(client, JAN, ["newsletter"])
    worker.drain()
    path = path_of(confirm_link(mailbox.to(JAN)[0]))
    client.post(path)
    worker.drain()

    for page in (client.get(path).get_data(as_text=True), client.post(path).get_data(as_text=True)):
        assert "Al bevestigd" in page and "Bevestigd:" in page and "nieuwsbrief" in page
        assert "Download de whitepaper nu" in page
        assert "<button" not in page  # nothing left to press
        assert "mailen" not in page  # no mail is promised that will not come
    worker.drain()
    assert len(mailbox.to(JAN)) == 2


def test_a_hostile_leave_out_value_is_ignored(client, worker, mailbox, services):
    submit(client, JAN, ["newsletter"])
    worker.drain()
    path = path_of(confirm_link(mailbox.to(JAN)[0]))
    assert client.get(path + "?without=<script>&without=" + "x" * 5000).status_code == 200
    response = client.post(path, data={"without": ["asset", "no_such_purpose", "<b>"]})
    assert response.status_code == 200
    assert states(services) == {"newsletter": "confirmed"}
    with services.db.session() as session:
        assert set(session.scalars(select(LeadRequest.state))) == {"confirmed"}
        assert session.scalars(select(LedgerEvent.method).where(LedgerEvent.event == "confirmed")).all() == [
            "confirm_page"
        ]


def test_the_page_does_not_promise_the_whitepaper_mail_to_an_address_that_bounced(client, worker, mailbox, services):
    # Given a confirmation mailed, then the address bounced hard (suppressed)
    submit(client, JAN, ["newsletter"])
    worker.drain()
    path = path_of(confirm_link(mailbox.to(JAN)[0]))
    with services.db.session() as session:
        person = session.scalar(select(Person))
        session.add(Suppression(email_index=person.email_index, reason="bounce"))

    # When the person confirms from the mail they did get
    done = client.post(path).get_data(as_text=True)
    worker.drain()

    # Then the page offers the download, and promises no mail: none is sent
    assert "Download de whitepaper nu" in done and "mailen" not in done
    assert len(mailbox.to(JAN)) == 1
