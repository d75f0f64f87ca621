"""The delivery engine: the claim is a lock, and each state says what happens next."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from leadcapture.consent import people
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.consent.versions import current_version
from leadcapture.delivery import campaigns, confirmation, content
from leadcapture.delivery.engine import BUSY, LEASE, Attempt, Busy
from leadcapture.delivery.transports import TransientMailError
from leadcapture.models import (
    CLAIMED,
    FAILED,
    RETRY_PENDING,
    SENT,
    SKIPPED,
    MailboxWindow,
    Message,
    Submission,
    utcnow,
)
from tests.support.app import DEMO_FORM, text_part
from tests.support.people import add_person, claimed_by_another_job, progress
from tests.support.sql import statements_on
from tests.support.submissions import a_submission

pytestmark = pytest.mark.usefixtures("demo_form")


def the_message(services) -> Message:
    with services.db.session() as session:
        return session.scalars(select(Message)).one()


class HeldTransport:
    """Holds the first send until released, so that another job can arrive mid-send."""

    def __init__(self, inner):
        self.inner = inner
        self.sending = threading.Event()
        self.release = threading.Event()

    def send(self, msg) -> None:
        self.sending.set()
        assert self.release.wait(10), "the test never released the send"
        self.inner.send(msg)


class FailingTransport:
    """Fails every send with the given exception."""

    def __init__(self, error: BaseException):
        self.error = error

    def send(self, msg) -> None:
        raise self.error


class ProcessDied(BaseException):
    """The process ends between the claim and the transport's answer."""


def test_a_second_job_arriving_mid_send_sends_no_second_copy(services, mailbox):
    # Given a first job handing the confirmation to the transport right now
    submission_id = a_submission(services)
    held = services._transport = HeldTransport(services.transport)
    outcome = []
    first = threading.Thread(
        target=lambda: outcome.append(confirmation.send(services, submission_id, attempt=Attempt("job-1")))
    )
    first.start()
    assert held.sending.wait(10)
    # When a second job for the same message arrives (the relay published it again)
    with pytest.raises(Busy):
        confirmation.send(services, submission_id, attempt=Attempt("job-2"))
    held.release.set()
    first.join(10)
    # Then the first job sends it, and the second job's retry finds it sent
    assert outcome == [SENT]
    assert confirmation.send(services, submission_id, attempt=Attempt("job-2")) == SENT
    assert len(mailbox.messages()) == 1


def test_a_first_attempt_takes_its_row_in_one_statement_and_a_redelivery_after_the_send_sends_nothing(
    services, mailbox
):
    submission_id = a_submission(services)
    with statements_on(services.db.engine) as first:
        assert confirmation.send(services, submission_id, attempt=Attempt("job-1")) == SENT
    with statements_on(services.db.engine) as statements:
        assert confirmation.send(services, submission_id, attempt=Attempt("job-2")) == SENT
    on_messages = re.compile(r"\b(FROM|INTO) messages\b")
    first, statements = [s for s in first if on_messages.search(s)], [s for s in statements if on_messages.search(s)]
    assert [s.split(" (")[0] for s in first] == ["INSERT INTO messages"]
    assert any(s.startswith("SELECT") for s in statements)  # the redelivery found the row sent
    assert len(mailbox.messages()) == 1


def test_a_job_on_its_final_attempt_leaves_a_claimed_message_to_its_holder(services, mailbox):
    submission_id = a_submission(services)
    with services.db.session() as session:
        key = f"confirmation:{submission_id}"
        session.add(
            Message(dedupe_key=key, kind="confirmation", status=CLAIMED, claimed_by="job-1", claimed_at=utcnow())
        )
    assert confirmation.send(services, submission_id, attempt=Attempt("job-2", final=True)) == BUSY
    assert mailbox.messages() == []


def test_the_redelivered_job_of_a_process_that_died_takes_its_claim_back(services, mailbox):
    # Given a job that claimed the message and died before the transport answered
    submission_id = a_submission(services)
    transport, services._transport = services.transport, FailingTransport(ProcessDied())
    with pytest.raises(ProcessDied):
        confirmation.send(services, submission_id, attempt=Attempt("job-1"))
    services._transport = transport
    assert (the_message(services).status, the_message(services).claimed_by) == (CLAIMED, "job-1")
    # When another job comes, it waits; when the broker redelivers that same job, it sends
    with pytest.raises(Busy):
        confirmation.send(services, submission_id, attempt=Attempt("job-2"))
    assert confirmation.send(services, submission_id, attempt=Attempt("job-1")) == SENT
    assert len(mailbox.messages()) == 1


def test_a_claim_older_than_the_lease_is_taken_over_by_any_job(services, mailbox):
    submission_id = a_submission(services)
    services._transport, transport = FailingTransport(ProcessDied()), services.transport
    with pytest.raises(ProcessDied):
        confirmation.send(services, submission_id, attempt=Attempt("job-1"))
    services._transport = transport
    with services.db.session() as session:
        session.execute(update(Message).values(claimed_at=utcnow() - LEASE - timedelta(seconds=1)))
    assert confirmation.send(services, submission_id, attempt=Attempt("job-2")) == SENT
    assert (the_message(services).status, the_message(services).claimed_by) == (SENT, "job-2")
    assert len(mailbox.messages()) == 1


def test_a_transient_failure_leaves_the_message_for_the_retry(services, mailbox):
    submission_id = a_submission(services)
    transport, services._transport = services.transport, FailingTransport(TransientMailError("SMTP 451 later"))
    with pytest.raises(TransientMailError):
        confirmation.send(services, submission_id, attempt=Attempt("job-1"))
    message = the_message(services)
    assert (message.status, message.detail, message.sent_at) == (RETRY_PENDING, "will retry: SMTP 451 later", None)
    # Any job may take a message whose retry is pending (the broker's retry, or the relay's redelivery)
    services._transport = transport
    assert confirmation.send(services, submission_id, attempt=Attempt("job-2")) == SENT
    assert len(mailbox.messages()) == 1


def test_a_transient_failure_on_the_final_attempt_marks_the_message_failed(services, mailbox):
    submission_id = a_submission(services)
    services._transport = FailingTransport(TransientMailError("SMTP 421 busy"))
    assert confirmation.send(services, submission_id, attempt=Attempt("job-1", final=True)) == FAILED
    message = the_message(services)
    assert (message.status, message.detail) == (FAILED, "gave up after retries: SMTP 421 busy")
    assert message.sent_at is not None


def test_a_campaign_page_leaves_a_message_claimed_elsewhere_and_checks_again_later(
    services, demo_form, mailbox, monkeypatch
):
    # Given a campaign page of two people, one of whose messages another job is sending
    first, second = (add_person(services, demo_form, f"p{n}@example.com") for n in range(2))
    body = content.parse("---\nsubject: Tip\nlanguage: nl\n---\nBel je klanten.\n")
    with services.db.session() as session:
        campaign_id = campaigns.create_campaign(session, content.create_item(session, "newsletter", [body]).id).id
        campaigns.start(session, campaign_id)
    monkeypatch.setattr(services, "publish", None)  # the page is run by hand below
    campaigns.fanout(services, campaign_id)
    with services.db.session() as session:
        session.add(claimed_by_another_job(campaign_id, second))
    # When the page runs, it sends the other message and asks to be retried for this one
    with pytest.raises(Busy):
        campaigns.send_page(services, campaign_id, first, second, attempt=Attempt("page-job"))
    assert [str(m["To"]) for m in mailbox.messages()] == ["p0@example.com"]
    assert (progress(services, campaign_id).sent, progress(services, campaign_id).pending) == (1, 1)
    # Then, once the other job has sent it, the retried page records it and the campaign is done
    with services.db.session() as session:
        session.execute(update(Message).where(Message.claimed_by == "other-job").values(status=SENT))
    assert campaigns.send_page(services, campaign_id, first, second, attempt=Attempt("page-job")) == {
        "sent": 1,
        "skipped": 0,
        "failed": 0,
    }
    p = progress(services, campaign_id)
    assert (p.status, p.sent, p.pending) == ("done", 2, 0)
    assert len(mailbox.messages()) == 1


def test_a_confirmation_reads_its_submission_person_and_suppression_in_one_statement_and_honours_it(services, mailbox):
    sent, suppressed = a_submission(services), a_submission(services, email="gone@example.com")
    with services.db.session() as session:
        person = session.get(Submission, suppressed).person
        people.suppress(session, person.email_index, "bounced")
    with statements_on(services.db.engine) as statements:
        assert confirmation.send(services, sent) == SENT
    reads_suppressions = [s for s in statements if re.search(r"\bFROM suppressions\b", s)]
    assert len(reads_suppressions) == 1 and re.search(r"\nFROM submissions JOIN people\b", reads_suppressions[0])
    assert confirmation.send(services, suppressed) == SKIPPED
    assert len(mailbox.to("jan@example.com")) == 1 and mailbox.to("gone@example.com") == []


def test_a_confirmation_takes_its_form_version_from_the_process_and_reads_no_definition(services, mailbox):
    first, second = a_submission(services), a_submission(services, email="piet@example.com")
    assert confirmation.send(services, first) == SENT  # this process reads the version once
    with statements_on(services.db.engine) as statements:
        assert confirmation.send(services, second) == SENT
    assert not [s for s in statements if "definition_json" in s]
    with services.db.session() as session:
        title = current_version(session, "sales-machine").definition["title"]
    assert title in text_part(mailbox.to("piet@example.com")[0])


def test_a_confirmation_mailed_at_once_reads_what_its_mail_lists_with_its_submission(services, mailbox):
    submission_id = a_submission(services, purposes=("newsletter",))
    with statements_on(services.db.engine) as statements:
        assert confirmation.send(services, submission_id) == SENT
    reads = [s for s in statements if s.lstrip().startswith("SELECT")]
    assert len(reads) == 1 and re.search(r"\bJOIN requests\b", reads[0])
    with services.db.session() as session:
        title = current_version(session, "sales-machine").definition["title"]
    body = text_part(mailbox.to("jan@example.com")[0])
    assert title in body and "maandelijkse nieuwsbrief" in body


def test_the_retry_of_a_mail_that_lists_a_waiting_request_lists_it_again(services, mailbox):
    # Given an address mailed once, that asked twice more inside its window
    assert confirmation.send(services, a_submission(services)) == SENT
    first_waiting, second_waiting = a_submission(services), a_submission(services, purposes=("newsletter",))
    ago = utcnow() - timedelta(seconds=services.settings.confirmation_window + 1)
    with services.db.session() as session:
        session.execute(update(MailboxWindow).values(last_confirmation_at=ago))
    # When the first waiting one's mail (listing both) fails for now, and its retry runs
    transport, services._transport = services.transport, FailingTransport(TransientMailError("SMTP 451 later"))
    with pytest.raises(TransientMailError):
        confirmation.send(services, first_waiting, attempt=Attempt("job-1"))
    services._transport = transport
    assert confirmation.send(services, first_waiting, attempt=Attempt("job-2")) == SENT
    # Then the retried mail still lists the other submission's request, and that one sends nothing
    assert "maandelijkse nieuwsbrief" in text_part(mailbox.to("jan@example.com")[-1])
    assert confirmation.send(services, second_waiting) != SENT
    assert len(mailbox.to("jan@example.com")) == 2


def test_a_mail_listing_requests_made_on_two_versions_names_each_as_its_version_worded_it(services, mailbox):
    # Given an address that asked on the first version, then twice inside its window: once more on
    # that version and once on a newer version with another title
    assert confirmation.send(services, a_submission(services)) == SENT
    waiting_on_first = a_submission(services)
    definition, asset = load_toml(DEMO_FORM)
    with services.db.session() as session:
        save(session, {**definition, "title": "The newer whitepaper"}, asset)
    a_submission(services)
    # When the window ends and the earlier waiting submission's job runs
    ago = utcnow() - timedelta(seconds=services.settings.confirmation_window + 1)
    with services.db.session() as session:
        session.execute(update(MailboxWindow).values(last_confirmation_at=ago))
    assert confirmation.send(services, waiting_on_first) == SENT
    # Then its one mail names the whitepaper of each version by that version's title
    body = text_part(mailbox.to("jan@example.com")[-1])
    assert definition["title"] in body and "The newer whitepaper" in body
