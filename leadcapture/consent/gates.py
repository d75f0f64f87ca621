"""The send-time gates and the one rule of "may we contact this person for this purpose".

`contactable` is that rule as a SQL condition (for exports, campaigns and the API, which ask it
of many people at once); `may_contact` asks it of one person. Every sender checks its gate in
the transaction that claims the message, right before the transport.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from leadcapture.consent import window
from leadcapture.consent.people import is_suppressed
from leadcapture.models import (
    ASSET,
    CONFIRMED,
    PENDING,
    UNVERIFIED,
    Consent,
    LeadRequest,
    Person,
    Submission,
    Suppression,
)

# SQL over Person: the person's address is on the suppression list.
SUPPRESSED = exists().where(Suppression.email_index == Person.email_index)


def contactable(purpose_key: Any = None, channel: Any = None, brand_id: Any = None) -> ColumnElement[bool]:
    """SQL over Consent (joined to its Person): consent confirmed now and the address not suppressed.

    Only `confirmed` counts: an `unverified` (imported) consent reaches nobody until the person confirms it.

    purpose_key, channel and brand_id narrow it (values or bind parameters); None means any. An
    audience is a purpose of a brand: consent to `newsletter` given to one brand never lets another mail.
    """
    rule = and_(Consent.state == CONFIRMED, ~SUPPRESSED)
    if purpose_key is not None:
        rule = and_(rule, Consent.purpose_key == purpose_key)
    if brand_id is not None:
        rule = and_(rule, Consent.brand_id == brand_id)
    return rule if channel is None else and_(rule, Consent.channel == channel)


def may_contact(
    session: Session, person: Person | None, purpose_key: str, channel: str | None = None, brand_id: int | None = None
) -> bool:
    """Whether this person may be contacted now for the purpose (and channel) of the brand (None: of any brand)."""
    if person is None:
        return False
    found = session.scalar(
        select(Consent.id)
        .join(Person, Person.id == Consent.person_id)
        .where(Consent.person_id == person.id, contactable(purpose_key, channel, brand_id))
        .limit(1)
    )
    return found is not None


def may_send_repermission(session: Session, consent: Consent | None) -> bool:
    """Send-time gate for a re-permission email: a current or unverified consent, the address not suppressed."""
    return (
        consent is not None and consent.state in (CONFIRMED, UNVERIFIED) and not is_suppressed(session, consent.person)
    )


def may_send_confirmation(
    session: Session,
    submission: Submission | None,
    listed: list[LeadRequest] | None = None,
    suppressed: bool | None = None,
) -> bool:
    """Send-time gate for a confirmation email: its turn in the window, something still asked, not suppressed.

    listed: the requests its mail lists (window.listed_in), and suppressed: whether the address
    is suppressed (SUPPRESSED), when the caller has read them already in this transaction.
    """
    if submission is None or not submission.sends_confirmation or submission.mailed_in != submission.id:
        return False
    if is_suppressed(session, submission.person) if suppressed is None else suppressed:
        return False
    return any(r.state == PENDING for r in (window.listed_in(session, submission) if listed is None else listed))


def may_deliver_asset(session: Session, request: LeadRequest | None) -> bool:
    """Send-time gate for the whitepaper: the person confirmed the asset request."""
    return (
        request is not None
        and request.kind == ASSET
        and request.state == CONFIRMED
        and not is_suppressed(session, request.submission.person)
    )
