"""Access export with proof of consent, and erasure with suppression."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, select

from leadcapture.consent.people import find_person
from leadcapture.models import Consent, LeadRequest, LedgerEvent, MailboxWindow, Person, Submission, Suppression
from leadcapture.privacy import rights
from tests.support.ledger import seal_and_verify
from tests.support.people import confirmed_person

pytestmark = pytest.mark.usefixtures("demo_form")


def test_the_export_holds_the_data_and_the_proof(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox)
    with services.db.session() as session:
        person = find_person(session, services.vault, "JAN@example.com")
        data = rights.export_person(session, services.vault, person)
    assert data["subject"]["email"] == "jan@example.com"
    assert data["subject"]["name"] == "Jan Jansen" and data["subject"]["company"] == "Jansen BV"
    newsletter = next(c for c in data["consents"] if c["purpose"] == "newsletter")
    assert newsletter["state"] == "confirmed" and newsletter["legal_basis"] == "consent"
    assert newsletter["notice"]["text"] == "Stuur mij de maandelijkse nieuwsbrief met salestips."
    assert newsletter["notice"]["version"] == 1 and len(newsletter["notice"]["version_hash"]) == 64
    assert newsletter["controller"].startswith("Voorbeeld B.V.")
    assert newsletter["requested"]["collection_method"] == "form"
    assert newsletter["confirmed"]["collection_method"] == "confirm_page"
    assert [e["event"] for e in data["ledger"]] == ["requested", "requested", "confirmed", "confirmed"]
    assert {m["kind"] for m in data["messages"]} == {"confirmation", "asset"}


def test_erasure_deletes_data_keeps_the_chain_and_suppresses(client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox)
    confirmed_person(client, worker, mailbox, "other@example.com", ("newsletter",))
    with services.db.session() as session:
        person = find_person(session, services.vault, "jan@example.com")
        counts = rights.erase_person(session, services.vault, person, method="admin")
    assert counts == {"consents": 2, "submissions": 1, "ledger_payloads": 4}
    with services.db.session() as session:
        assert find_person(session, services.vault, "jan@example.com") is None
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        assert session.scalar(select(func.count()).select_from(Consent)) == 1
        assert session.scalar(select(func.count()).select_from(Submission)) == 1
        assert session.scalar(select(func.count()).select_from(LeadRequest)) == 2
        assert session.scalar(select(Suppression.reason)) == "erased"
        last = session.scalar(select(LedgerEvent).order_by(LedgerEvent.id.desc()).limit(1))
        assert last.event == "erased" and last.method == "admin"
    chain = seal_and_verify(services)
    assert (chain.sealed, chain.problems) == (7, [])
    with sqlite3.connect(services.db.url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT count(*) FROM ledger_events WHERE person_id=1 AND payload_enc IS NOT NULL")
        assert rows.fetchone()[0] == 1  # only the 'erased' event keeps a (non-personal) payload


def test_erasure_removes_the_persons_mail_from_the_development_outbox(client, worker, mailbox, services):
    # Given two people with mail in the local outbox
    confirmed_person(client, worker, mailbox)
    confirmed_person(client, worker, mailbox, "other@example.com", ("newsletter",))
    assert mailbox.to("jan@example.com") and mailbox.to("other@example.com")
    # When one of them is erased with the services' forget_mail
    with services.db.session() as session:
        person = find_person(session, services.vault, "jan@example.com")
        rights.erase_person(session, services.vault, person, method="admin", forget_mail=services.forget_mail)
    # Then their copies are gone and the other person's stay
    assert mailbox.to("jan@example.com") == []
    assert len(mailbox.to("other@example.com")) == 2


def test_erasure_also_closes_the_mailboxs_confirmation_window(client, services):
    from tests.support.app import submit

    submit(client, "ann@example.com", ["newsletter"])
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(MailboxWindow)) == 1
        rights.erase_person(
            session, services.vault, find_person(session, services.vault, "ann@example.com"), method="admin"
        )
        assert session.scalar(select(func.count()).select_from(MailboxWindow)) == 0
