"""The one 'may we contact' rule: its SQL form (`contactable`) and its check (`may_contact`) agree on every state."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from leadcapture.consent import gates, people
from leadcapture.models import Consent, LeadRequest, Person, Submission, utcnow

# One person per state, all with the demo form (newsletter and product_news by email, call by phone).
CONFIRMED = "confirmed@example.com"
WITHDRAWN = "withdrawn@example.com"
EXPIRED = "expired@example.com"
SUPPRESSED = "suppressed@example.com"
NOT_ME = "not-me@example.com"
PENDING = "pending@example.com"
PHONE = "phone@example.com"
EVERYONE = (CONFIRMED, WITHDRAWN, EXPIRED, SUPPRESSED, NOT_ME, PENDING, PHONE)


@pytest.fixture
def population(consents):
    """Every state a consent can be in, one person each."""
    consents.confirm(consents.submit(CONFIRMED, ["newsletter"]))

    consents.confirm(consents.submit(WITHDRAWN, ["newsletter"]))
    consents.withdraw(WITHDRAWN, ["newsletter"])

    consents.confirm(consents.submit(EXPIRED, ["newsletter", "call"]))
    consents.idle(EXPIRED, 25)  # past the 24 and 6 months of both purposes
    consents.expire_lapsed(utcnow())

    consents.confirm(consents.submit(SUPPRESSED, ["newsletter"]))
    consents.suppress(SUPPRESSED, "erased")

    consents.confirm(consents.submit(NOT_ME, ["newsletter"]))
    consents.not_me(consents.submit(NOT_ME, ["product_news"]))

    consents.submit(PENDING, ["newsletter"])

    consents.confirm(consents.submit(PHONE, ["call"]))

    states = {email: consents.state(email, "newsletter") for email in EVERYONE}
    assert states == {
        CONFIRMED: "confirmed",
        WITHDRAWN: "withdrawn",
        EXPIRED: "expired",
        SUPPRESSED: "confirmed",
        NOT_ME: "confirmed",
        PENDING: None,
        PHONE: None,
    }
    return consents


def by_sql(services, purpose_key, channel) -> set[str]:
    """Who `contactable` lets through, asked of everyone at once."""
    with services.db.session() as session:
        rows = session.scalars(
            select(Person).join(Consent, Consent.person_id == Person.id).where(gates.contactable(purpose_key, channel))
        )
        return {services.vault.decrypt(person.email_enc) for person in rows}


def by_check(services, purpose_key, channel) -> set[str]:
    """Who `may_contact` lets through, asked of one person at a time."""
    with services.db.session() as session:
        return {
            email
            for email in EVERYONE
            if gates.may_contact(session, people.find_person(session, services.vault, email), purpose_key, channel)
        }


@pytest.mark.parametrize(
    ("purpose_key", "channel", "expected"),
    [
        ("newsletter", "email", {CONFIRMED}),
        ("newsletter", None, {CONFIRMED}),
        ("newsletter", "phone", set()),  # the consent is for another channel
        ("product_news", None, set()),  # nobody consented to this purpose
        ("call", "phone", {PHONE}),
        ("call", "email", set()),
    ],
)
def test_the_sql_rule_and_the_check_let_through_the_same_people(population, services, purpose_key, channel, expected):
    assert by_sql(services, purpose_key, channel) == by_check(services, purpose_key, channel) == expected


def test_only_a_confirmed_consent_of_an_unsuppressed_address_is_contactable_for_some_purpose(population, services):
    assert by_sql(services, None, None) == {CONFIRMED, PHONE}


def test_nobody_is_contactable_when_there_is_no_person(services):
    with services.db.session() as session:
        assert gates.may_contact(session, None, "newsletter") is False


def test_a_suppression_closes_the_gate_on_a_confirmed_consent_and_lifting_it_reopens_it(consents, services):
    # Given a confirmed consent, then 'this wasn't me' from a later submission
    consents.confirm(consents.submit(CONFIRMED, ["newsletter"]))
    consents.not_me(consents.submit(CONFIRMED, ["call"]))
    assert by_sql(services, "newsletter", None) == by_check(services, "newsletter", None) == set()

    # When the owner confirms a new submission (which lifts a 'not me' block)
    consents.confirm(consents.submit(CONFIRMED, ["product_news"]))

    # Then both forms of the rule let them through again
    assert by_sql(services, "newsletter", None) == by_check(services, "newsletter", None) == {CONFIRMED}


# The send-time gates of the confirmation email and the asset


def submission_of(session, services, email, index=0) -> Submission:
    person = people.find_person(session, services.vault, email)
    return session.scalars(select(Submission).where(Submission.person_id == person.id).order_by(Submission.id)).all()[
        index
    ]


def test_a_fresh_submission_may_get_its_confirmation(consents, services):
    consents.submit(PENDING, ["newsletter"])

    with services.db.session() as session:
        assert gates.may_send_confirmation(session, submission_of(session, services, PENDING)) is True


def test_no_confirmation_once_everything_is_confirmed_or_the_address_is_suppressed(consents, services):
    consents.confirm(consents.submit(CONFIRMED, ["newsletter"]))
    consents.submit(SUPPRESSED, ["newsletter"])
    consents.suppress(SUPPRESSED)

    with services.db.session() as session:
        assert gates.may_send_confirmation(session, submission_of(session, services, CONFIRMED)) is False
        assert gates.may_send_confirmation(session, submission_of(session, services, SUPPRESSED)) is False
        assert gates.may_send_confirmation(session, None) is False


def test_no_confirmation_for_a_submission_that_did_not_claim_the_window(consents, services):
    consents.submit(PENDING, ["newsletter"])
    consents.submit(PENDING, ["call"])  # within the window

    with services.db.session() as session:
        assert gates.may_send_confirmation(session, submission_of(session, services, PENDING, 1)) is False


def test_the_asset_goes_out_only_for_a_confirmed_asset_request_of_an_unsuppressed_address(consents, services):
    # Given a submission before and after its confirmation, and a suppressed one
    consents.submit(PENDING, ["newsletter"])
    consents.confirm(consents.submit(CONFIRMED, ["newsletter"]))
    consents.confirm(consents.submit(SUPPRESSED, ["newsletter"]))
    consents.suppress(SUPPRESSED)

    with services.db.session() as session:

        def asset(email):
            return next(r for r in submission_of(session, services, email).requests if r.kind == "asset")

        def purpose(email):
            return next(r for r in submission_of(session, services, email).requests if r.kind == "purpose")

        # Then only the confirmed, unsuppressed asset request passes
        assert gates.may_deliver_asset(session, asset(CONFIRMED)) is True
        assert gates.may_deliver_asset(session, asset(PENDING)) is False
        assert gates.may_deliver_asset(session, asset(SUPPRESSED)) is False
        assert gates.may_deliver_asset(session, purpose(CONFIRMED)) is False
        assert gates.may_deliver_asset(session, session.get(LeadRequest, 10_000)) is False
