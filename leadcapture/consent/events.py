"""Events for webhook endpoints, written to the outbox in the transaction of the change that causes them.

Consent events are derived from the ledger (`ledger.append` calls `from_ledger`), so every path
that changes a consent (the confirm page, the preference centre, the API, expiry, an import)
sends them without knowing about webhooks. A suppression sends `suppression.added` from
`people.suppress`. The outbox row carries ids only; the integrations layer fans it out to the
endpoints and builds each payload at send time, so an erasure in between is honoured.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from leadcapture.consent import jobs, outbox
from leadcapture.models import Consent, Person, WebhookEndpoint, utcnow

CONSENT_CONFIRMED = "consent.confirmed"
CONSENT_WITHDRAWN = "consent.withdrawn"
CONSENT_EXPIRED = "consent.expired"
CONSENT_RENEWED = "consent.renewed"
PERSON_ERASED = "person.erased"
SUPPRESSION_ADDED = "suppression.added"
LEAD_TO_CALL = "lead.to_call"  # a purpose on the phone channel was confirmed

TYPES = (
    CONSENT_CONFIRMED,
    CONSENT_WITHDRAWN,
    CONSENT_EXPIRED,
    CONSENT_RENEWED,
    PERSON_ERASED,
    SUPPRESSION_ADDED,
    LEAD_TO_CALL,
)

_FROM_LEDGER = {
    "confirmed": CONSENT_CONFIRMED,
    "withdrawn": CONSENT_WITHDRAWN,
    "expired": CONSENT_EXPIRED,
    "renewed": CONSENT_RENEWED,
    "erased": PERSON_ERASED,
}


def new_event_id() -> str:
    """A unique event id in the Standard Webhooks style (the webhook-id header)."""
    return "msg_" + secrets.token_hex(16)


def listening(session: Session) -> bool:
    """Whether an enabled endpoint may want events (asked once per transaction)."""
    # Without an enabled endpoint no row is written. The answer is asked once per transaction
    # (an expiry run or a confirmation of several purposes changes many consents in one).
    transaction = session.get_transaction()
    cached = session.info.get("webhooks_listening")
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    answer = bool(session.scalar(select(exists().where(WebhookEndpoint.enabled.is_(True)))))
    session.info["webhooks_listening"] = (transaction, answer)
    return answer


def emit(
    session: Session,
    event_type: str,
    *,
    person_public_id: str | None,
    purpose_key: str | None = None,
    reason: str | None = None,
    occurred_at: datetime | None = None,
) -> None:
    """Queue an event for the webhook endpoints in the caller's transaction (nothing if none is enabled)."""
    if event_type not in TYPES:
        raise ValueError(f"unknown webhook event {event_type!r}")
    if not listening(session):
        return
    when = (occurred_at or utcnow()).isoformat()
    args = (new_event_id(), event_type, person_public_id, purpose_key, reason, when)
    outbox.enqueue(session, jobs.WEBHOOK_EVENT, *args)


def from_ledger(
    session: Session, event: str, *, person_id: int | None, purpose_key: str | None, occurred_at: datetime
) -> None:
    """The webhook events of a ledger event: a confirmed purpose on the phone channel is also a lead to call.

    Events name the person by their public id, read now: it outlives an erasure that follows.
    """
    event_type = _FROM_LEDGER.get(event)
    if event_type is None or not listening(session):
        return
    public_id = session.scalar(select(Person.public_id).where(Person.id == person_id))
    emit(session, event_type, person_public_id=public_id, purpose_key=purpose_key, occurred_at=occurred_at)
    if event == "confirmed" and purpose_key is not None:
        channel = session.scalar(
            select(Consent.channel).where(Consent.person_id == person_id, Consent.purpose_key == purpose_key)
        )
        if channel == "phone":
            emit(session, LEAD_TO_CALL, person_public_id=public_id, purpose_key=purpose_key, occurred_at=occurred_at)
