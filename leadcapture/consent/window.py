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

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from leadcapture.consent import jobs, outbox
from leadcapture.consent.people import is_suppressed, mailbox_index
from leadcapture.crypto import Vault
from leadcapture.db import UPSERTS
from leadcapture.models import PENDING, LeadRequest, MailboxWindow, Submission, utcnow
from leadcapture.settings import Settings


def reserve(session: Session, vault: Vault, settings: Settings, email: str, now: datetime) -> datetime | None:
    """At submit, before the submission is written: take its mailbox's slot (None: mail at once),
    or else the end of the mailbox's window, when its confirmation goes out."""
    index = mailbox_index(vault, email)
    if _take_slot(session, settings, index, now):
        return None
    return _window_end(session, settings, index, now)


def queue_confirmation(session: Session, submission_id: int, mail_at: datetime | None) -> None:
    """Queue a new submission's confirmation job: now, listed in its own mail, or at mail_at (see reserve)."""
    if mail_at is None:
        session.connection().execute(_MAILED_IN_ITSELF, {"b_id": submission_id})
    outbox.enqueue(session, jobs.SEND_CONFIRMATION, submission_id, not_before=mail_at)


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
        outbox.enqueue(
            session, jobs.SEND_CONFIRMATION, submission.id, not_before=_window_end(session, settings, index, now)
        )
        return False
    listed = session.scalars(_TAKE_WAITING, {"b_person_id": person.id, "b_mailed_in": submission.id}).all()
    if submission.id not in listed:
        return False  # its requests were answered since it was read: nothing left to ask
    set_committed_value(submission, "mailed_in", submission.id)
    return True


# Every waiting submission of an address goes in the mail of the one that took the slot.
_TAKE_WAITING = (
    update(Submission)
    .where(
        Submission.person_id == bindparam("b_person_id"),
        Submission.sends_confirmation.is_(True),
        Submission.mailed_in.is_(None),
        exists().where(LeadRequest.submission_id == Submission.id, LeadRequest.state == PENDING),
    )
    .values(mailed_in=bindparam("b_mailed_in"))
    .returning(Submission.id)
    .execution_options(synchronize_session=False)
)


def listed_in(session: Session, submission: Submission) -> list[LeadRequest]:
    """Every request the confirmation mail of this submission lists (its own first), whatever their state now.

    One query reads its own requests with the others': they also become `submission.requests`.
    """
    return as_listed(submission, session.scalars(_LISTED, {"b_id": submission.id}).all())


def listing(stmt: Select[Any], submission_id: Any) -> Select[Any]:
    """stmt joined to the requests a submission's mail lists: its own and those of the submissions mailed in it.

    submission_id: the column of the submission stmt selects. Each way in (a submission's id, its
    mailed_in) has its index, so the database reads those requests only, however many there are.
    """
    mailed = aliased(Submission)
    return stmt.join(mailed, or_(mailed.id == submission_id, mailed.mailed_in == submission_id)).join(
        LeadRequest, LeadRequest.submission_id == mailed.id
    )


def as_listed(submission: Submission, requests: Sequence[LeadRequest]) -> list[LeadRequest]:
    """The requests of a submission's mail read in id order (`listing`), its own first; its own become its requests."""
    own = [r for r in requests if r.submission_id == submission.id]
    set_committed_value(submission, "requests", own)
    return [*own, *(r for r in requests if r.submission_id != submission.id)]


_LISTED = (
    listing(select(LeadRequest).select_from(Submission), Submission.id)
    .where(Submission.id == bindparam("b_id"))
    .order_by(LeadRequest.id)
)


def prune(session: Session, settings: Settings, now: datetime) -> int:
    """Delete the windows that have passed: a mailbox without a row takes the slot just as one whose window ended."""
    cutoff = now - timedelta(seconds=settings.confirmation_window)
    return session.execute(delete(MailboxWindow).where(MailboxWindow.last_confirmation_at <= cutoff)).rowcount


def _take_slot(session: Session, settings: Settings, index: str, now: datetime) -> bool:
    """Atomically take the mailbox's confirmation slot; False within the window.

    One upsert: it inserts a mailbox seen for the first time, or moves a window that has passed; a
    mailbox inside its window (or one a concurrent submission just took) writes nothing.
    """
    conn = session.connection()
    values = {"b_index": index, "b_now": now, "b_cutoff": now - timedelta(seconds=settings.confirmation_window)}
    # RETURNING, not rowcount: psycopg reports -1 for an upsert.
    return conn.execute(_TAKE_SLOT[conn.dialect.name], values).first() is not None


_WINDOWS = MailboxWindow.__table__
_TAKE_SLOT = {
    db: insert(_WINDOWS)
    .values(mailbox_index=bindparam("b_index"), last_confirmation_at=bindparam("b_now"))
    .on_conflict_do_update(
        index_elements=[_WINDOWS.c.mailbox_index],
        set_={"last_confirmation_at": bindparam("b_now")},
        where=_WINDOWS.c.last_confirmation_at <= bindparam("b_cutoff"),
    )
    .returning(_WINDOWS.c.mailbox_index)
    for db, insert in UPSERTS.items()
}
_MAILED_IN_ITSELF = (
    update(Submission.__table__)
    .where(Submission.__table__.c.id == bindparam("b_id"))
    .values(mailed_in=bindparam("b_id"))
)


def _window_end(session: Session, settings: Settings, index: str, now: datetime) -> datetime:
    """When the mailbox's current window ends (now, if it has)."""
    last = session.scalar(select(MailboxWindow.last_confirmation_at).where(MailboxWindow.mailbox_index == index))
    return max((last or now) + timedelta(seconds=settings.confirmation_window), now)
