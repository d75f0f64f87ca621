"""People: found by blind index, created once per address, their mailbox, suppressed, the trace of a visitor."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, null, select

from leadcapture.consent import people
from leadcapture.models import Person, Suppression


@pytest.mark.parametrize(
    ("ip", "mode", "stored"),
    [
        ("203.0.113.77", "truncate", "203.0.113.0"),
        ("2001:db8:1234:5678::1", "truncate", "2001:db8:1234::"),
        ("203.0.113.77", "full", "203.0.113.77"),
        ("203.0.113.77", "none", None),
        ("not an address", "truncate", None),
        (None, "full", None),
        ("", "truncate", None),
    ],
)
def test_an_ip_address_is_stored_only_as_far_as_the_settings_allow(ip, mode, stored):
    assert people.minimise_ip(ip, mode) == stored


def test_the_trace_of_a_visitor_is_minimised_as_configured(services):
    visitor = people.Visitor(ip="198.51.100.23", user_agent="Mozilla/5.0", page_url="https://www.example.com/")

    assert people.trace(visitor, services.settings) == {
        "ip": "198.51.100.0",
        "user_agent": "Mozilla/5.0",
        "page_url": "https://www.example.com/",
    }
    assert people.trace(visitor, dataclasses.replace(services.settings, ip_minimisation="none"))["ip"] is None


def test_a_new_address_becomes_a_person_stored_encrypted(services):
    with services.db.session() as session:
        person = people.get_or_create_person(session, services.vault, " Jan@Example.com ", "nl")

    assert person.email_enc != "Jan@Example.com"
    assert services.vault.decrypt(person.email_enc) == "Jan@Example.com"  # as typed, trimmed
    assert person.language == "nl"


def test_an_address_is_one_person_however_it_is_typed(services):
    # Given a person created from one spelling
    with services.db.session() as session:
        first = people.get_or_create_person(session, services.vault, "jan@example.com", "nl")

    # When the address comes in again in other case and with spaces
    with services.db.session() as session:
        again = people.get_or_create_person(session, services.vault, "  JAN@example.COM", "en")
        found = people.find_person(session, services.vault, "Jan@Example.Com")

    # Then it is the same person, language unchanged
    assert again.id == found.id == first.id
    assert again.language == "nl"
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1


def test_an_unknown_address_finds_nobody(services):
    with services.db.session() as session:
        assert people.find_person(session, services.vault, "nobody@example.com") is None


def test_an_address_created_concurrently_is_found_instead_of_failing(services, monkeypatch):
    # Given another transaction that creates the address between our lookup and our insert
    with services.db.session() as session:
        people.get_or_create_person(session, services.vault, "jan@example.com", "nl")
    lookups = []
    original = people.Session.execute

    def execute_that_misses_once(self, statement, *args, **kwargs):
        lookups.append(statement)
        if len(lookups) == 1:  # the lookup, as it was a moment before the other transaction committed
            return original(self, select(null(), null()))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(people.Session, "execute", execute_that_misses_once)

    # When this transaction creates it too
    with services.db.session() as session:
        person = people.get_or_create_person(session, services.vault, "jan@example.com", "nl")
        person_id = person.id

    # Then the unique index turns the insert into a lookup of the existing person
    monkeypatch.undo()
    assert lookups  # the first lookup missed; the insert then did nothing and the person was found
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        assert session.scalar(select(Person.id)) == person_id


def test_suppression_is_by_address(services):
    with services.db.session() as session:
        person = people.get_or_create_person(session, services.vault, "jan@example.com", "nl")
        assert people.is_suppressed(session, person) is False
        session.add(Suppression(email_index=person.email_index, reason="erased"))
        session.flush()
        assert people.is_suppressed(session, person) is True


def test_suppressing_an_address_adds_it_once_with_its_first_reason(services):
    # Given a person
    with services.db.session() as session:
        index = people.get_or_create_person(session, services.vault, "ann@example.com", "nl").email_index

    # When a bounce and then a complaint suppress the address
    with services.db.session() as session:
        first = people.suppress(session, index, "bounced")
    with services.db.session() as session:
        second = people.suppress(session, index, "complaint")

    # Then the first added it and the second changed nothing
    assert (first, second) == (True, False)
    with services.db.session() as session:
        assert session.get(Suppression, index).reason == "bounced"


def test_an_erasure_replaces_any_other_suppression_reason(services):
    with services.db.session() as session:
        index = people.get_or_create_person(session, services.vault, "ann@example.com", "nl").email_index
        people.suppress(session, index, "not_me")

    with services.db.session() as session:
        assert people.suppress(session, index, "erased") is False
    with services.db.session() as session:
        assert session.get(Suppression, index).reason == "erased"


def test_an_unknown_suppression_reason_is_refused(services):
    with services.db.session() as session, pytest.raises(ValueError, match="unknown suppression reason"):
        people.suppress(session, "0" * 64, "annoyed")


@pytest.mark.parametrize(
    "typed",
    ["ann@example.com", "Ann@Example.COM", "ann+1@example.com", "ANN+news+more@example.com", " ann+x@EXAMPLE.com "],
)
def test_every_tag_and_case_of_one_inbox_is_one_mailbox(typed):
    assert people.mailbox_of(typed) == "ann@example.com"


def test_other_inboxes_stay_apart():
    assert len({people.mailbox_of(a) for a in ("ann@example.com", "anna@example.com", "ann@example.org")}) == 3
    assert people.mailbox_of("+only@example.com") == "+only@example.com"  # nothing before the tag: kept whole


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://www.example.com/offer?email=ann%40example.com&utm_source=x#form", "https://www.example.com/offer"),
        ("https://ann:secret@www.example.com:8443/p/", "https://www.example.com:8443/p/"),
        ("https://www.example.com", "https://www.example.com"),
        ("http://[::1/x?email=a", "http://[::1/x"),  # not a URL that parses: cut at the query all the same
        ("", None),
        (None, None),
    ],
)
def test_a_page_url_is_kept_without_query_fragment_and_user_info(given, kept):
    assert people.page_without_query(given) == kept
    assert people.Visitor(page_url=given).page_url == kept
