"""The confirmation window (R3.5, R3.7): one confirmation per mailbox per window, and nothing dropped.

A submission that takes its mailbox's slot (one per CONFIRMATION_WINDOW; every `+tag` spelling of
an inbox shares it) is mailed at once: it is listed in its own mail (`mailed_in` is itself). One
made inside the window waits: its confirmation job goes to the outbox with the window's end as
its not-before time, so every broker (in-process, Redis, RabbitMQ) runs it then. Then it takes the
slot, and its one mail lists every request of the address still waiting for a mail. A waiting
submission listed in another's mail sends nothing of its own; one whose mailbox was mailed again
meanwhile (another spelling of it) waits for the end of that window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadcapture.consent import jobs, outbox
from leadcapture.consent.people import is_suppressed, mailbox_index
from leadcapture.crypto import Vault
from leadcapture.models import PENDING, LeadRequest, MailboxWindow, Submission, utcnow
from leadcapture.settings import Settings


def queue_confirmation(session: Session, vault: Vault, settings: Settings, submission: Submission, email: str) -> None:
    """At submit: mail the submission now if its mailbox's slot is free, else when the window ends."""
    submission.sends_confirmation = True
    index = mailbox_index(vault, email)
    now = utcnow()
    if _take_slot(session, settings, index, now):
        submission.mailed_in = submission.id
        outbox.enqueue(session, jobs.SEND_CONFIRMATION, submission.id)
    else:
        _wait_for_window(session, settings, index, submission, now)


def mail_due(session: Session, vault: Vault, settings: Settings, submission_id: int) -> bool:
    """In the confirmation job: whether this submission's mail goes out now (and what it lists is fixed).

    A waiting submission takes its mailbox's slot and then lists every waiting submission of its
    address; if the slot is taken it waits for the next window. Repeating it changes nothing.
    """
    submission = session.get(Submission, submission_id)
    if submission is None or not submission.sends_confirmation:
        return False
    if submission.mailed_in is not None:
        return submission.mailed_in == submission.id
    person = submission.person
    if is_suppressed(session, person) or not any(r.state == PENDING for r in submission.requests):
        return False
    index = mailbox_index(vault, vault.decrypt(person.email_enc))
    now = utcnow()
    if not _take_slot(session, settings, index, now):
        _wait_for_window(session, settings, index, submission, now)
        return False
    waiting = (
        update(Submission)
        .where(
            Submission.person_id == person.id,
            Submission.sends_confirmation.is_(True),
            Submission.mailed_in.is_(None),
            exists().where(LeadRequest.submission_id == Submission.id, LeadRequest.state == PENDING),
        )
        .values(mailed_in=submission.id)
        .execution_options(synchronize_session=False)
    )
    session.execute(waiting)
    session.refresh(submission)
    return True


def listed_in(session: Session, submission: Submission) -> list[LeadRequest]:
    """Every request the confirmation mail of this submission lists (its own first), whatever their state now."""
    others = select(Submission.id).where(Submission.mailed_in == submission.id, Submission.id != submission.id)
    more = session.scalars(
        select(LeadRequest).where(LeadRequest.submission_id.in_(others)).order_by(LeadRequest.id)
    ).all()
    return [*submission.requests, *more]


def prune(session: Session, settings: Settings, now: datetime) -> int:
    """Delete the windows that have passed: a mailbox without a row takes the slot just as one whose window ended."""
    cutoff = now - timedelta(seconds=settings.confirmation_window)
    return session.execute(delete(MailboxWindow).where(MailboxWindow.last_confirmation_at <= cutoff)).rowcount


def _take_slot(session: Session, settings: Settings, index: str, now: datetime) -> bool:
    """Atomically take the mailbox's confirmation slot; False within the window.

    One upsert: it inserts a mailbox seen for the first time, or moves a window that has passed; a
    mailbox inside its window (or one a concurrent submission just took) writes nothing.
    """
    cutoff = now - timedelta(seconds=settings.confirmation_window)
    upsert = _UPSERTS[session.get_bind().dialect.name](MailboxWindow)
    stmt = upsert.values(mailbox_index=index, last_confirmation_at=now).on_conflict_do_update(
        index_elements=[MailboxWindow.mailbox_index],
        set_={"last_confirmation_at": now},
        where=MailboxWindow.last_confirmation_at <= cutoff,
    )
    # RETURNING, not rowcount: psycopg reports -1 for an upsert.
    return session.execute(stmt.returning(MailboxWindow.mailbox_index)).first() is not None


_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _wait_for_window(session: Session, settings: Settings, index: str, submission: Submission, now: datetime) -> None:
    """Queue the submission's confirmation job for the end of its mailbox's current window."""
    last = session.scalar(select(MailboxWindow.last_confirmation_at).where(MailboxWindow.mailbox_index == index))
    ends = (last or now) + timedelta(seconds=settings.confirmation_window)
    outbox.enqueue(session, jobs.SEND_CONFIRMATION, submission.id, not_before=max(ends, now))
