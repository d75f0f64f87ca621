"""Deleting unconfirmed requests after LEADCAPTURE_UNCONFIRMED_RETENTION_DAYS (R3.6).

What goes: requests never confirmed (pending, or dropped by 'this wasn't me' / a withdrawal),
submissions left without a confirmed request (their IP, user agent and typed fields with them),
and people left with no submission and no consent (their address). In the ledger the
`requested` events of the deleted requests keep their place, hash and digest (so `ledger verify`
passes) but lose their payload (wording shown, IP, user agent, page). Events of requests that
were confirmed are proof of consent and stay whole. Suppressions stay: they hold only a hash.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from leadcapture.consent import ledger
from leadcapture.crypto import Vault
from leadcapture.models import CONFIRMED, Consent, LeadRequest, LedgerEvent, Message, Person, Submission


@dataclass
class Purged:
    """What one purge deleted."""

    requests: int = 0
    submissions: int = 0
    people: int = 0
    ledger_payloads: int = 0


def purge_unconfirmed(session: Session, vault: Vault, now: datetime, days: int) -> Purged:
    """Delete unconfirmed requests older than `days`, and what is left without them."""
    cutoff = now - timedelta(days=days)
    done = Purged()
    old = (
        select(LeadRequest.id, Submission.person_id, Submission.id)
        .join(Submission)
        .where(Submission.created_at < cutoff, LeadRequest.state != CONFIRMED)
    )
    rows = session.execute(old).all()
    if not rows:
        return done
    by_person: dict[int, set[int]] = defaultdict(set)
    for request_id, person_id, _submission_id in rows:
        by_person[person_id].add(request_id)
    request_ids = [r[0] for r in rows]
    for chunk in _chunks(request_ids):
        done.requests += session.execute(delete(LeadRequest).where(LeadRequest.id.in_(chunk))).rowcount
    empty = select(Submission).where(
        Submission.id.in_({r[2] for r in rows}), ~exists().where(LeadRequest.submission_id == Submission.id)
    )
    for submission in session.scalars(empty).all():
        session.delete(submission)
        done.submissions += 1
    session.flush()
    for person_id, purged in by_person.items():
        done.ledger_payloads += _erase_requested_payloads(session, vault, person_id, purged)
        if _has_nothing_left(session, person_id):
            session.execute(update(Message).where(Message.person_id == person_id).values(person_id=None))
            session.execute(delete(Person).where(Person.id == person_id))
            done.people += 1
    session.flush()
    return done


def _erase_requested_payloads(session: Session, vault: Vault, person_id: int, request_ids: set[int]) -> int:
    events = session.scalars(
        select(LedgerEvent).where(
            LedgerEvent.person_id == person_id,
            LedgerEvent.event == "requested",
            LedgerEvent.payload_enc.isnot(None),
        )
    ).all()
    erased = 0
    for ev in events:
        if (ledger.payload_of(vault, ev) or {}).get("request_id") in request_ids:
            ev.payload_enc = None
            erased += 1
    return erased


def _has_nothing_left(session: Session, person_id: int) -> bool:
    has_submission = session.scalar(select(exists().where(Submission.person_id == person_id)))
    has_consent = session.scalar(select(exists().where(Consent.person_id == person_id)))
    return not has_submission and not has_consent


def _chunks(ids: list[int], size: int = 500):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
