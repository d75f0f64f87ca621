"""Bounces and complaints: what each one does to the person and the message it is about.

- A hard bounce (5.x.x) suppresses the address (reason "bounced").
- Soft bounces (4.x.x, the remote MTA gave up) are counted; BOUNCE_SOFT_LIMIT of them within
  BOUNCE_SOFT_DAYS suppress the address (reason "bounced").
- A complaint ("this is spam") withdraws every purpose and suppresses the address (reason
  "complaint").

Each suppression is a ledger event ("suppressed", method "system"; a complaint's withdrawals
are "withdrawn" events with reason "complaint"), and the message row is marked bounced,
soft_bounced or complained for the campaign figures. A report read twice counts once.

Which person a report is about: the message its VERP token names, else the message with the
Message-ID it returns. A recipient address alone is trusted only from a signed provider
webhook: anyone can mail a made-up DSN naming any address to a bounce mailbox.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadcapture.consent import ledger
from leadcapture.consent.people import Visitor, find_person, suppress
from leadcapture.consent.transitions import withdraw
from leadcapture.crypto import Vault
from leadcapture.delivery import verp
from leadcapture.integrations.reports import Feedback
from leadcapture.models import (
    BOUNCED,
    COMPLAINED,
    COMPLAINT,
    HARD,
    SOFT,
    SOFT_BOUNCED,
    Bounce,
    Message,
    Person,
    utcnow,
)
from leadcapture.services import Services
from leadcapture.settings import Settings

log = logging.getLogger(__name__)

MAIL_SOURCES = frozenset({"smtp", "imap"})  # unauthenticated: a named recipient is not proof
# Outcomes of one report.
DUPLICATE, UNKNOWN, COUNTED, SUPPRESSED, ALREADY_SUPPRESSED = (
    "duplicate",
    "unknown",
    "counted",
    "suppressed",
    "already suppressed",
)
_FEEDBACK = {HARD: BOUNCED, SOFT: SOFT_BOUNCED, COMPLAINT: COMPLAINED}
_RANK = {None: 0, SOFT_BOUNCED: 1, BOUNCED: 2, COMPLAINED: 3}


def record(session: Session, vault: Vault, settings: Settings, feedback: Feedback, now: datetime) -> str:
    """Apply one bounce or complaint in the caller's transaction; returns what it did."""
    if session.scalar(select(Bounce.id).where(Bounce.dedupe_key == feedback.dedupe_key)) is not None:
        return DUPLICATE
    message = _message(session, settings, feedback)
    person = _person(session, vault, feedback, message)
    session.add(
        Bounce(
            dedupe_key=feedback.dedupe_key,
            kind=feedback.kind,
            source=feedback.source,
            message_row_id=message.id if message is not None else None,
            person_id=person.id if person is not None else None,
            email_index=person.email_index if person is not None else None,
            status=feedback.status,
            # The diagnostic often quotes the address: kept encrypted, and only for someone we hold.
            detail_enc=vault.encrypt(feedback.detail) if person is not None and feedback.detail else None,
            received_at=now,
        )
    )
    session.flush()
    if message is not None and _RANK[_FEEDBACK[feedback.kind]] > _RANK.get(message.feedback, 0):
        message.feedback, message.feedback_at = _FEEDBACK[feedback.kind], now
    if person is None:
        return UNKNOWN
    facts = {"source": feedback.source, "status": feedback.status, "message": message.id if message else None}
    if feedback.kind == COMPLAINT:
        withdraw(session, vault, settings, person, None, method="system", visitor=Visitor(), reason="complaint")
        return _suppress(session, vault, person, "complaint", facts, now)
    if feedback.kind == SOFT:
        count = soft_bounces(session, person.email_index, now - timedelta(days=settings.bounce_soft_days))
        if count < settings.bounce_soft_limit:
            return COUNTED
        facts["soft_bounces"] = count
    return _suppress(session, vault, person, "bounced", facts, now)


def soft_bounces(session: Session, email_index: str, since: datetime) -> int:
    """How many soft bounces the address had since then."""
    return session.scalar(
        select(func.count(Bounce.id)).where(
            Bounce.email_index == email_index, Bounce.kind == SOFT, Bounce.received_at >= since
        )
    )


def process(services: Services, feedbacks: Iterable[Feedback], now: datetime | None = None) -> Counter[str]:
    """Record each report in its own transaction; returns how many had each outcome."""
    outcomes: Counter[str] = Counter()
    for feedback in feedbacks:
        try:
            with services.db.session() as session:
                outcome = record(session, services.vault, services.settings, feedback, now or utcnow())
        except IntegrityError:  # the same report, recorded a moment ago by another process
            outcome = DUPLICATE
        outcomes[outcome] += 1
        log.info("%s report from %s: %s", feedback.kind, feedback.source, outcome)  # no address logged
    return outcomes


def _suppress(session: Session, vault: Vault, person: Person, reason: str, facts: dict, now: datetime) -> str:
    if not suppress(session, person.email_index, reason):
        return ALREADY_SUPPRESSED
    ledger.append(
        session,
        vault,
        event="suppressed",
        method="system",
        person_id=person.id,
        purpose_key=None,
        payload={"reason": reason, **{k: v for k, v in facts.items() if v is not None}},
        occurred_at=now,
    )
    return SUPPRESSED


def _message(session: Session, settings: Settings, feedback: Feedback) -> Message | None:
    for address in feedback.return_paths:
        row_id = verp.row_of_address(settings, address)
        if row_id is not None:
            return session.get(Message, row_id)
    if feedback.message_id:
        return session.scalar(select(Message).where(Message.message_id == feedback.message_id).limit(1))
    return None


def _person(session: Session, vault: Vault, feedback: Feedback, message: Message | None) -> Person | None:
    if message is not None:
        return session.get(Person, message.person_id) if message.person_id is not None else None
    if feedback.recipient and feedback.source not in MAIL_SOURCES:
        return find_person(session, vault, feedback.recipient)
    return None
