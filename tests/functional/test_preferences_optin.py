"""Opting in from the preference centre: the other purposes of the person's forms, and again after a withdrawal."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from leadcapture.consent import ledger
from leadcapture.models import Consent, LedgerEvent, OutboxJob, Suppression
from tests.support.app import links, path_of, submit
from tests.support.ledger import seal_and_verify
from tests.support.people import confirmed_person

pytestmark = pytest.mark.usefixtures("demo_form")

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
JAN = "jan@example.com"
PRODUCT_NEWS = "Houd mij op de hoogte van nieuwe diensten van Voorbeeld B.V."


def preferences_path(mailbox, email=JAN) -> str:
    return path_of(next(u for u in links(mailbox.to(email)[-1]) if "/p/" in u))


def post(client, path, **data):
    token = CSRF.search(client.get(path).get_data(as_text=True)).group(1)
    return client.post(path, data={"csrf_token": token, **data})


def states(services) -> dict:
    with services.db.session() as session:
        return dict(session.execute(select(Consent.purpose_key, Consent.state)).all())


def test_the_centre_lists_the_other_purposes_of_the_forms_the_person_used(client, worker, mailbox):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))

    page = client.get(preferences_path(mailbox)).get_data(as_text=True)

    assert page.count("niet gegeven") == 2 and page.count(">Ja, dit wil ik<") == 2
    assert PRODUCT_NEWS in page and "Jullie mogen mij bellen" in page
    assert "we leggen die tekst en het tijdstip vast" in page


def test_opting_in_records_the_wording_shown_and_confirms_without_a_second_mail(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    path = preferences_path(mailbox)
    shown = client.get(path).get_data(as_text=True)
    sent = len(mailbox.messages())

    response = post(client, path, optin="product_news")

    assert response.status_code == 200 and "je toestemming is actief" in response.get_data(as_text=True)
    assert states(services) == {"newsletter": "confirmed", "product_news": "confirmed"}
    with services.db.session() as session:
        tail = session.scalars(select(LedgerEvent).order_by(LedgerEvent.id.desc()).limit(2)).all()[::-1]
        assert [(e.event, e.method, e.purpose_key) for e in tail] == [
            ("requested", "preference_centre", "product_news"),
            ("confirmed", "preference_centre", "product_news"),
        ]
        recorded = ledger.payload_of(services.vault, tail[0])
        assert recorded["label"] == PRODUCT_NEWS and recorded["label"] in shown
    assert seal_and_verify(services).ok
    worker.drain()
    assert not any("Bevestig" in str(m["Subject"]) for m in mailbox.messages()[sent:])


def test_a_withdrawn_purpose_can_be_opted_in_again(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    path = preferences_path(mailbox)
    post(client, path, withdraw="newsletter")
    page = client.get(path).get_data(as_text=True)
    assert "ingetrokken" in page and "Ja, weer aan" in page

    post(client, path, optin="newsletter")

    assert states(services)["newsletter"] == "confirmed"
    page = client.get(path).get_data(as_text=True)
    assert "Ja, weer aan" not in page and page.count(">Ja, dit wil ik<") == 2


def test_an_opt_in_that_is_not_on_offer_is_refused(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, purposes=("newsletter",))
    path = preferences_path(mailbox)
    with services.db.session() as session:
        events = session.scalar(select(func.count()).select_from(LedgerEvent))

    for key in ("newsletter", "no_such_purpose", "", "<script>"):  # given already, unknown, empty, hostile
        assert post(client, path, optin=key).status_code == 400
    assert client.post(path, data={"optin": "product_news"}).status_code == 400  # no CSRF token

    assert states(services) == {"newsletter": "confirmed"}
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEvent)) == events


def test_a_person_who_only_ever_asked_for_the_whitepaper_can_opt_in(client, worker, mailbox, services):
    # Given a visitor who ticked nothing, whose confirmation mail links the centre
    submit(client, JAN)
    worker.drain()
    path = preferences_path(mailbox)
    page = client.get(path).get_data(as_text=True)
    assert page.count(">Ja, dit wil ik<") == 3

    post(client, path, optin="newsletter")

    assert states(services) == {"newsletter": "confirmed"}
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxJob).where(OutboxJob.actor == "send_welcome"))


def test_opting_in_lifts_a_this_wasnt_me_block(client, worker, mailbox, services):
    submit(client, JAN)
    worker.drain()
    msg = mailbox.to(JAN)[-1]
    path = preferences_path(mailbox)
    client.post(
        path_of(re.search(r"<(\S+)>", msg["List-Unsubscribe"]).group(1)), data={"List-Unsubscribe": "One-Click"}
    )

    post(client, path, optin="newsletter")

    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert states(services) == {"newsletter": "confirmed"}
