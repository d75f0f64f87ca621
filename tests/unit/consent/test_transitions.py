"""Submit, confirm, withdraw, 'this wasn't me', renew and expire, straight against the database."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from leadcapture.consent import transitions
from leadcapture.models import (
    CONFIRMED,
    DROPPED,
    EXPIRED,
    PENDING,
    WITHDRAWN,
    FormVersion,
    MailboxWindow,
    OutboxJob,
    Person,
    Submission,
    utcnow,
)
from tests.unit.consent.conftest import VISITOR

JAN = "jan@example.com"


# Submit


def test_a_submission_records_a_pending_request_for_the_asset_and_for_each_ticked_purpose(consents):
    submission = consents.submit(JAN, ["newsletter", "call"])

    assert consents.requests(submission) == {"asset": PENDING, "newsletter": PENDING, "call": PENDING}
    assert consents.state(JAN, "newsletter") is None  # nothing is consented before the confirmation


def test_a_submission_ledgers_the_wording_shown_for_each_purpose_with_the_visitor_minimised(consents, demo_form):
    consents.submit(JAN, ["newsletter", "call"])

    assert consents.events() == [("requested", "form", "newsletter"), ("requested", "form", "call")]
    shown = consents.payloads("requested")[0]
    assert shown["label"] == demo_form.purpose("newsletter")["label"]
    assert shown["form_version_hash"] == demo_form.content_hash
    assert shown["ip"] == "203.0.113.0"  # truncated to the /24 by default


def test_a_submission_queues_its_confirmation_email_in_the_same_transaction(consents):
    submission = consents.submit(JAN, ["newsletter"])

    assert consents.jobs() == [("send_confirmation", [submission])]


def test_a_submission_rolled_back_leaves_neither_the_request_nor_its_job(consents, services):
    # Given a submission whose transaction fails after the transition
    with pytest.raises(RuntimeError), services.db.session() as session:
        transitions.submit(
            session,
            services.vault,
            services.settings,
            session.get(FormVersion, consents.version_id),
            email=JAN,
            fields={},
            purpose_keys=["newsletter"],
            visitor=VISITOR,
        )
        raise RuntimeError("the request failed after the transition")

    # Then no confirmation is queued for a submission that does not exist
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxJob)) == 0


def test_the_submitted_details_reach_the_person_only_on_confirmation(consents, services):
    # Given someone typing Jan's address with their own name
    submission = consents.submit(JAN, ["newsletter"], name="Not Jan")
    assert consents.person(JAN).name_enc is None

    # When the owner of the address confirms
    consents.confirm(submission)

    # Then the details apply
    assert services.vault.decrypt(consents.person(JAN).name_enc) == "Not Jan"


def test_the_same_address_in_another_case_is_the_same_person(consents):
    first = consents.submit(JAN, ["newsletter"])
    second = consents.submit("  Jan@Example.COM ", ["call"])

    with consents.services.db.session() as session:
        owners = {session.get(Submission, first).person_id, session.get(Submission, second).person_id}
        assert len(owners) == 1
        assert session.scalar(select(func.count()).select_from(Person)) == 1


# The confirmation window


def test_a_second_submission_within_the_window_is_mailed_when_the_window_ends(consents, services):
    first = consents.submit(JAN, ["newsletter"])
    second = consents.submit(JAN, ["call"])

    assert consents.jobs() == [("send_confirmation", [first])]
    ((job, args, not_before),) = consents.delayed_jobs()
    with services.db.session() as session:
        window_started = session.scalar(select(MailboxWindow.last_confirmation_at))
        assert session.get(Submission, second).mailed_in is None  # in no mail yet
    assert (job, args) == ("send_confirmation", [second])
    assert not_before == window_started + timedelta(seconds=services.settings.confirmation_window)
    assert consents.requests(second) == {"asset": PENDING, "call": PENDING}


def test_after_the_window_the_address_gets_a_confirmation_again(consents, services):
    # Given a confirmation sent just over a window ago
    consents.submit(JAN, ["newsletter"])
    window = services.settings.confirmation_window
    with services.db.session() as session:
        session.execute(update(MailboxWindow).values(last_confirmation_at=utcnow() - timedelta(seconds=window + 1)))

    # When the address submits again
    second = consents.submit(JAN, ["call"])

    # Then it claims the slot anew
    assert consents.jobs()[-1] == ("send_confirmation", [second])


def test_the_window_is_per_address(consents):
    consents.submit(JAN, ["newsletter"])
    piet = consents.submit("piet@example.com", ["newsletter"])

    assert consents.jobs()[-1] == ("send_confirmation", [piet])


def test_ten_tag_variants_of_one_mailbox_get_one_confirmation_and_are_kept_as_typed(consents):
    # When ten spellings of one inbox are submitted within the window
    submissions = [consents.submit(f"Jan+{n}@Example.com", ["newsletter"]) for n in range(10)]

    # Then one confirmation goes now, for the first; the others wait for the window's end
    assert consents.jobs() == [("send_confirmation", [submissions[0]])]
    assert [args for _job, args, _when in consents.delayed_jobs()] == [[s] for s in submissions[1:]]
    # And each address is its own person, kept as typed
    for n in range(10):
        person = consents.person(f"jan+{n}@example.com")
        assert consents.services.vault.decrypt(person.email_enc) == f"Jan+{n}@Example.com"


def test_the_window_keeps_only_a_blind_index_of_the_mailbox(consents, services):
    consents.submit("jan+news@example.com", ["newsletter"])

    with services.db.session() as session:
        (index,) = session.scalars(select(MailboxWindow.mailbox_index)).all()
    assert "jan" not in index and len(index) == 64


def test_the_window_is_the_one_in_the_settings_passed_in(consents, services):
    no_window = dataclasses.replace(services.settings, confirmation_window=0)

    first = consents.submit(JAN, ["newsletter"], settings=no_window)
    second = consents.submit(JAN, ["call"], settings=no_window)

    assert consents.jobs() == [("send_confirmation", [first]), ("send_confirmation", [second])]


def test_a_suppressed_address_gets_no_confirmation_but_its_request_is_recorded(consents):
    # Given an address that asked never to be mailed again
    consents.submit(JAN, ["newsletter"])
    consents.suppress(JAN)
    jobs = consents.jobs()

    # When it is typed into the form again
    submission = consents.submit(JAN, ["newsletter"])

    # Then the request is on record, and no email goes out
    assert consents.requests(submission)["newsletter"] == PENDING
    assert consents.jobs() == jobs


# Confirm


def test_confirming_turns_each_purpose_into_a_confirmed_consent_on_the_purposes_channel(consents):
    submission = consents.submit(JAN, ["newsletter", "call"])

    outcome = consents.confirm(submission)

    assert sorted(outcome.changed) == ["asset", "call", "newsletter"]
    assert consents.requests(submission) == {"asset": CONFIRMED, "newsletter": CONFIRMED, "call": CONFIRMED}
    assert (consents.state(JAN, "newsletter"), consents.consent(JAN, "newsletter").channel) == (CONFIRMED, "email")
    assert (consents.state(JAN, "call"), consents.consent(JAN, "call").channel) == (CONFIRMED, "phone")
    assert consents.state(JAN, "product_news") is None


def test_confirming_queues_the_asset_and_each_purposes_welcome(consents, services):
    submission = consents.submit(JAN, ["newsletter"])

    consents.confirm(submission)

    with services.db.session() as session:
        asset_request = session.get(Submission, submission).requests[0]
        person_id = session.get(Submission, submission).person_id
        brand_id = session.get(Submission, submission).form_version.form.brand_id
    assert consents.jobs()[1:] == [
        ("deliver_asset", [asset_request.id]),
        ("send_welcome", [person_id, "newsletter", brand_id]),  # the welcome of the brand's purpose
    ]


def test_confirming_ledgers_the_version_and_the_request_confirmed(consents, demo_form):
    submission = consents.submit(JAN, ["newsletter"])

    consents.confirm(submission)

    assert consents.events()[-1] == ("confirmed", "confirm_page", "newsletter")
    proof = consents.payloads("confirmed")[0]
    assert (proof["submission_id"], proof["form_version_hash"]) == (submission, demo_form.content_hash)


def test_confirming_twice_is_harmless(consents):
    # Given a confirmed submission
    submission = consents.submit(JAN, ["newsletter"])
    consents.confirm(submission)
    before = consents.events(), consents.jobs()

    # When the link is followed again
    outcome = consents.confirm(submission)

    # Then nothing changes and nothing is sent again
    assert outcome.changed == []
    assert sorted(outcome.unchanged) == ["asset", "newsletter"]
    assert (consents.events(), consents.jobs()) == before


def test_confirming_a_purpose_already_consented_to_renews_it_without_a_second_welcome(consents):
    # Given a confirmed newsletter consent
    consents.confirm(consents.submit(JAN, ["newsletter"]))
    welcomes = [job for job in consents.jobs() if job[0] == "send_welcome"]

    # When the person asks for it again through the form and confirms
    consents.confirm(consents.submit(JAN, ["newsletter"]))

    # Then it is a renewal
    assert consents.events()[-1] == ("renewed", "confirm_page", "newsletter")
    assert [job for job in consents.jobs() if job[0] == "send_welcome"] == welcomes


def test_confirming_a_dropped_request_is_refused(consents):
    # Given a pending request dropped by a withdrawal
    consents.confirm(consents.submit(JAN, ["newsletter"]))
    old_link = consents.submit(JAN, ["newsletter"])
    consents.withdraw(JAN)

    # When its confirmation link is followed
    outcome = consents.confirm(old_link)

    # Then the purpose stays withdrawn
    assert outcome.refused == ["newsletter"]
    assert consents.state(JAN, "newsletter") == WITHDRAWN


def test_confirming_lifts_a_not_me_block_but_never_an_erasure(consents):
    # Given an address blocked by 'this wasn't me', then submitted again by its owner
    consents.not_me(consents.submit(JAN, ["newsletter"]))
    again = consents.submit(JAN, ["newsletter"])
    assert consents.suppression(JAN) == "not_me"

    # When the owner confirms
    consents.confirm(again)

    # Then the block is gone
    assert consents.suppression(JAN) is None

    # And an erasure suppression survives a confirmation
    consents.suppress(JAN, "erased")
    consents.confirm(consents.submit(JAN, ["call"]))
    assert consents.suppression(JAN) == "erased"


# Withdraw


def test_withdrawing_one_purpose_leaves_the_others_confirmed(consents):
    consents.confirm(consents.submit(JAN, ["newsletter", "product_news"]))

    outcome = consents.withdraw(JAN, ["newsletter"])

    assert outcome.changed == ["newsletter"]
    assert consents.state(JAN, "newsletter") == WITHDRAWN
    assert consents.state(JAN, "product_news") == CONFIRMED
    assert consents.events()[-1] == ("withdrawn", "preference_centre", "newsletter")


def test_withdrawing_all_withdraws_every_consent(consents):
    consents.confirm(consents.submit(JAN, ["newsletter", "product_news", "call"]))

    outcome = consents.withdraw(JAN, None)

    assert sorted(outcome.changed) == ["call", "newsletter", "product_news"]
    assert {consents.state(JAN, key) for key in ("newsletter", "product_news", "call")} == {WITHDRAWN}


def test_withdrawing_again_changes_nothing_and_ledgers_nothing(consents):
    # Given a withdrawn consent
    consents.confirm(consents.submit(JAN, ["newsletter"]))
    consents.withdraw(JAN, ["newsletter"])
    events = consents.events()

    # When it is withdrawn again
    outcome = consents.withdraw(JAN, ["newsletter"])

    # Then that is a no-op
    assert (outcome.changed, outcome.unchanged) == ([], ["newsletter"])
    assert consents.events() == events


def test_withdrawing_drops_pending_requests_of_those_purposes_only(consents):
    # Given a submission waiting for confirmation
    submission = consents.submit(JAN, ["newsletter", "call"])

    # When the person withdraws the newsletter before confirming
    consents.withdraw(JAN, ["newsletter"])

    # Then its link can no longer confirm the newsletter, and everything else is still open
    assert consents.requests(submission) == {"asset": PENDING, "newsletter": DROPPED, "call": PENDING}


def test_withdrawing_an_expired_consent_leaves_it_expired(consents):
    consents.confirm(consents.submit(JAN, ["call"]))
    consents.expire_lapsed(consents.lapses_at(JAN, "call"))

    outcome = consents.withdraw(JAN, ["call"])

    assert (outcome.changed, outcome.unchanged) == ([], ["call"])
    assert consents.state(JAN, "call") == EXPIRED


# This wasn't me


def test_not_me_drops_every_pending_request_of_the_address_and_suppresses_it(consents):
    # Given two unconfirmed submissions of the address
    first = consents.submit(JAN, ["newsletter"])
    second = consents.submit(JAN, ["call"])

    # When the owner says 'this wasn't me' from one of them
    consents.not_me(first)

    # Then nothing of either can be confirmed, and the address gets no more mail
    assert set(consents.requests(first).values()) == set(consents.requests(second).values()) == {DROPPED}
    assert consents.suppression(JAN) == "not_me"
    assert consents.events()[-2:] == [("withdrawn", "one_click", "call"), ("withdrawn", "one_click", "newsletter")]
    assert {payload["reason"] for payload in consents.payloads("withdrawn")} == {"not_me"}


def test_not_me_twice_is_harmless(consents):
    submission = consents.submit(JAN, ["newsletter"])
    consents.not_me(submission)
    events = consents.events()

    consents.not_me(submission)

    assert consents.events() == events
    assert consents.suppression(JAN) == "not_me"


def test_not_me_keeps_a_confirmed_consent_on_record(consents):
    # Given a confirmed consent and a later submission the owner did not make
    consents.confirm(consents.submit(JAN, ["newsletter"]))
    stranger = consents.submit(JAN, ["call"])

    # When the owner disowns the later one
    consents.not_me(stranger)

    # Then the earlier consent stays as proof (the suppression stops the mail; the gates test it)
    assert consents.state(JAN, "newsletter") == CONFIRMED
    assert consents.requests(stranger)["call"] == DROPPED


# Renew and expire (lifecycle)


def test_a_consent_expires_after_its_retention_without_activity(consents):
    # Given a phone consent, kept 6 months
    consents.confirm(consents.submit(JAN, ["call"]))
    due = consents.lapses_at(JAN, "call")

    # When the expiry job runs a second before, at the moment, and again
    before = consents.expire_lapsed(due - timedelta(seconds=1))
    at = consents.expire_lapsed(due)
    again = consents.expire_lapsed(due + timedelta(days=1))

    # Then it expires once, ledgered by the system
    assert (before, at, again) == (0, 1, 0)
    assert consents.state(JAN, "call") == EXPIRED
    assert consents.events()[-1] == ("expired", "system", "call")
    assert consents.payloads("expired")[0]["retention_months"] == 6


def test_a_withdrawn_consent_never_expires(consents):
    consents.confirm(consents.submit(JAN, ["call"]))
    due = consents.lapses_at(JAN, "call")
    consents.withdraw(JAN, ["call"])

    assert consents.expire_lapsed(due) == 0
    assert consents.state(JAN, "call") == WITHDRAWN


def test_renewing_an_active_consent_starts_a_new_period(consents):
    consents.confirm(consents.submit(JAN, ["newsletter"]))
    later = utcnow() + timedelta(days=30)

    event = consents.renew(JAN, "newsletter", later)

    assert event == "renewed"
    assert consents.consent(JAN, "newsletter").last_activity_at == later
    assert consents.events()[-1] == ("renewed", "preference_centre", "newsletter")


def test_renewing_an_expired_consent_is_a_fresh_request_and_confirmation(consents):
    # Given an expired consent
    consents.confirm(consents.submit(JAN, ["call"]))
    due = consents.lapses_at(JAN, "call")
    consents.expire_lapsed(due)

    # When the person renews it in the preference centre
    event = consents.renew(JAN, "call", due + timedelta(days=1))

    # Then it is confirmed again, with the wording shown on the page on record
    assert event == "confirmed"
    assert consents.state(JAN, "call") == CONFIRMED
    assert consents.events()[-2:] == [
        ("requested", "preference_centre", "call"),
        ("confirmed", "preference_centre", "call"),
    ]


def test_a_withdrawn_consent_cannot_be_renewed_from_the_preference_centre(consents):
    consents.confirm(consents.submit(JAN, ["newsletter"]))
    consents.withdraw(JAN, ["newsletter"])

    with pytest.raises(ValueError, match="withdrawn"):
        consents.renew(JAN, "newsletter", utcnow())

    assert consents.state(JAN, "newsletter") == WITHDRAWN
