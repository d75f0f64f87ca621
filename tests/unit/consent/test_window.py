"""The confirmation window: one mail per mailbox per window, and what is asked inside it mailed when it ends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from leadcapture import scheduler
from leadcapture.consent import gates, window
from leadcapture.models import MailboxWindow, Submission, utcnow

JAN = "jan@example.com"


def mail_due(services, submission_id: int) -> bool:
    """The confirmation job's first step, in its own transaction."""
    with services.db.session() as session:
        return window.mail_due(session, services.vault, services.settings, submission_id)


def window_ends(services) -> None:
    """Let the mailbox's window pass, as the clock would."""
    ago = utcnow() - timedelta(seconds=services.settings.confirmation_window + 1)
    with services.db.session() as session:
        session.execute(update(MailboxWindow).values(last_confirmation_at=ago))


def mailed_in(services, submission_id: int) -> int | None:
    with services.db.session() as session:
        return session.get(Submission, submission_id).mailed_in


def test_a_submission_that_takes_the_slot_is_due_at_once_and_listed_in_its_own_mail(consents, services):
    first = consents.submit(JAN, ["newsletter"])

    assert mail_due(services, first) and mailed_in(services, first) == first
    assert mail_due(services, first)  # asking again changes nothing


def test_a_waiting_submission_is_not_due_inside_the_window_and_waits_for_its_end(consents, services):
    # Given a second request inside the window
    consents.submit(JAN, ["newsletter"])
    second = consents.submit(JAN, ["call"])
    delayed = consents.delayed_jobs()

    # When its job runs early (a clock ahead, a broker redelivering)
    due = mail_due(services, second)

    # Then it sends nothing and waits for the window's end once more
    assert not due and mailed_in(services, second) is None
    assert consents.delayed_jobs()[-1][:2] == ("send_confirmation", [second])
    assert len(consents.delayed_jobs()) == len(delayed) + 1


def test_when_the_window_ends_one_mail_lists_every_waiting_request_of_the_address(consents, services):
    # Given three requests of one address, the last two inside the window
    first = consents.submit(JAN, ["newsletter"])
    second = consents.submit(JAN, ["call"])
    third = consents.submit(JAN, ["product_news"])

    # When the window ends and the second's job runs
    window_ends(services)
    assert mail_due(services, second)

    # Then its mail lists the second and third, and the third's own job sends nothing
    assert (mailed_in(services, second), mailed_in(services, third)) == (second, second)
    assert not mail_due(services, third)
    assert mailed_in(services, first) == first  # already mailed: its own mail still names it
    with services.db.session() as session:
        listed = window.listed_in(session, session.get(Submission, second))
        assert sorted(r.purpose_key or "asset" for r in listed) == ["asset", "asset", "call", "product_news"]
        assert gates.may_send_confirmation(session, session.get(Submission, second))
        assert not gates.may_send_confirmation(session, session.get(Submission, third))
    # And the mail took the mailbox's slot: nothing else goes out within the new window
    assert not mail_due(services, consents.submit(JAN, ["call"]))


def test_another_spelling_of_the_mailbox_gets_its_own_mail_one_window_later(consents, services):
    # Given two spellings of one inbox asking inside the window (two people: two addresses)
    consents.submit(JAN, ["newsletter"])
    plain = consents.submit(JAN, ["call"])
    tagged = consents.submit("jan+work@example.com", ["call"])

    # When the window ends: the first one's mail goes
    window_ends(services)
    assert mail_due(services, plain)

    # Then the other spelling is not listed in it (it is another address), and waits for the next window
    assert not mail_due(services, tagged) and mailed_in(services, tagged) is None
    with services.db.session() as session:
        slot = session.scalar(select(MailboxWindow.last_confirmation_at))
    assert consents.delayed_jobs()[-1][1:] == (
        [tagged],
        slot + timedelta(seconds=services.settings.confirmation_window),
    )
    window_ends(services)
    assert mail_due(services, tagged)


def test_a_waiting_request_of_an_address_suppressed_meanwhile_is_not_mailed(consents, services):
    consents.submit(JAN, ["newsletter"])
    second = consents.submit(JAN, ["call"])
    consents.suppress(JAN, reason="not_me")

    window_ends(services)

    assert not mail_due(services, second) and mailed_in(services, second) is None


def test_the_scheduler_prunes_windows_that_have_passed_and_the_slot_is_taken_as_before(consents, services):
    first = consents.submit(JAN, ["newsletter"])
    consents.submit("piet@example.com", ["newsletter"])
    now = utcnow()
    # Inside the window nothing goes: it still holds back the next mail
    assert scheduler.run_jobs(services, now)["mailbox_windows_pruned"] == 0
    # Once passed, the rows go (they hold nothing a missing row does not say)
    later = now + timedelta(seconds=services.settings.confirmation_window + 1)
    assert scheduler.run_jobs(services, later)["mailbox_windows_pruned"] == 2
    with services.db.session() as session:
        assert session.scalars(select(MailboxWindow)).all() == []
    # And the next submission takes the slot and is mailed at once
    again = consents.submit(JAN, ["call"])
    assert mailed_in(services, again) == again and mailed_in(services, first) == first
