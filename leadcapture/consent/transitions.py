"""The consent transitions: submit, confirm, withdraw and 'this wasn't me' (renewal and expiry: lifecycle)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadcapture.consent import jobs, ledger, outbox, tally
from leadcapture.consent.people import (
    Visitor,
    get_or_create_person,
    index_details,
    is_suppressed,
    mailbox_index,
    minimise_ip,
    suppress,
    trace,
)
from leadcapture.crypto import Vault
from leadcapture.models import (
    ASSET,
    CONFIRMED,
    DROPPED,
    PENDING,
    PURPOSE,
    WITHDRAWN,
    Consent,
    FormVersion,
    LeadRequest,
    MailboxWindow,
    Person,
    Submission,
    Suppression,
    utcnow,
)
from leadcapture.settings import Settings


@dataclass
class Outcome:
    """What a confirm/withdraw call did, for the page that reports it."""

    changed: list[str] = field(default_factory=list)  # purpose keys or "asset"
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def submit(
    session: Session,
    vault: Vault,
    settings: Settings,
    version: FormVersion,
    *,
    email: str,
    fields: dict[str, str],
    purpose_keys: list[str],
    visitor: Visitor,
) -> Submission:
    """Record a submission and its requests; enqueue one confirmation if the address may get one."""
    definition = version.definition
    person = get_or_create_person(session, vault, email, definition["language"])
    now = utcnow()
    # Decided before the INSERT, so the submission row is written once, with its answer.
    sends = not is_suppressed(session, person) and _claim_confirmation_slot(session, vault, settings, email)
    submission = Submission(
        person_id=person.id,
        form_version_id=version.id,
        language=definition["language"],
        page_url=visitor.page_url,
        ip_enc=vault.encrypt(minimise_ip(visitor.ip, settings.ip_minimisation)),
        user_agent_enc=vault.encrypt(visitor.user_agent),
        fields_enc=vault.encrypt(json.dumps(fields)) if fields else None,
        created_at=now,
        sends_confirmation=sends,
    )
    index_details(vault, submission, fields)
    submission.requests.append(LeadRequest(kind=ASSET))
    for key in purpose_keys:
        submission.requests.append(LeadRequest(kind=PURPOSE, purpose_key=key))
    session.add(submission)
    session.flush()
    asked = [request.purpose_key or ASSET for request in submission.requests]
    tally.count(session, version.form_id, tally.SUBMITTED, asked)
    for request in submission.requests:
        if request.kind == PURPOSE:
            ledger.append(
                session,
                vault,
                event="requested",
                method="form",
                person_id=person.id,
                purpose_key=request.purpose_key,
                payload=_notice(version, request, submission, visitor, settings),
                occurred_at=now,
            )
    if sends:
        outbox.enqueue(session, jobs.SEND_CONFIRMATION, submission.id)
    return submission


def confirm(
    session: Session,
    vault: Vault,
    settings: Settings,
    requests: list[LeadRequest],
    *,
    method: str,
    visitor: Visitor,
) -> Outcome:
    """Confirm pending requests; already confirmed ones are left alone (confirming twice is harmless)."""
    outcome = Outcome()
    now = utcnow()
    for request in requests:
        label = request.purpose_key or ASSET
        if request.state == DROPPED:
            outcome.refused.append(label)
            continue
        if request.state == CONFIRMED:
            outcome.unchanged.append(label)
            continue
        request.state, request.confirmed_at = CONFIRMED, now
        submission = request.submission
        tally.count(session, submission.form_version.form_id, tally.CONFIRMED, [label])
        person = submission.person
        person.last_activity_at = now
        _apply_submitted_fields(vault, person, submission)
        # The person confirmed a request themselves: lift a 'this wasn't me' block.
        session.execute(
            Suppression.__table__.delete().where(
                Suppression.email_index == person.email_index, Suppression.reason == "not_me"
            )
        )
        if request.kind == ASSET:
            outbox.enqueue(session, jobs.DELIVER_ASSET, request.id)
        else:
            _confirm_purpose(session, vault, settings, request, method, visitor, now)
        outcome.changed.append(label)
    session.flush()
    return outcome


def withdraw(
    session: Session,
    vault: Vault,
    settings: Settings,
    person: Person,
    purpose_keys: list[str] | None,
    *,
    method: str,
    visitor: Visitor,
) -> Outcome:
    """Withdraw consent for the given purposes (None: all). Repeating it changes nothing."""
    outcome = Outcome()
    now = utcnow()
    stmt = select(Consent).where(Consent.person_id == person.id)
    if purpose_keys is not None:
        stmt = stmt.where(Consent.purpose_key.in_(purpose_keys))
    for consent in session.scalars(stmt):
        if consent.state in (WITHDRAWN, "expired"):
            outcome.unchanged.append(consent.purpose_key)
            continue
        consent.state, consent.withdrawn_at = WITHDRAWN, now
        tally.count(session, consent.form_version.form_id, tally.WITHDRAWN, [consent.purpose_key])
        ledger.append(
            session,
            vault,
            event="withdrawn",
            method=method,
            person_id=person.id,
            purpose_key=consent.purpose_key,
            payload=trace(visitor, settings),
            occurred_at=now,
        )
        outcome.changed.append(consent.purpose_key)
    # Pending requests for these purposes can no longer be confirmed by an old link.
    pending = (
        select(LeadRequest.id)
        .join(Submission)
        .where(Submission.person_id == person.id, LeadRequest.state == PENDING, LeadRequest.kind == PURPOSE)
    )
    if purpose_keys is not None:
        pending = pending.where(LeadRequest.purpose_key.in_(purpose_keys))
    session.execute(update(LeadRequest).where(LeadRequest.id.in_(pending)).values(state=DROPPED))
    session.flush()
    return outcome


def not_me(session: Session, vault: Vault, settings: Settings, submission: Submission, *, visitor: Visitor) -> None:
    """'This wasn't me': drop every pending request of the address and suppress it."""
    person = submission.person
    pending = (
        select(LeadRequest.id).join(Submission).where(Submission.person_id == person.id, LeadRequest.state == PENDING)
    )
    dropped_keys = session.scalars(
        select(LeadRequest.purpose_key).where(LeadRequest.id.in_(pending), LeadRequest.kind == PURPOSE)
    ).all()
    session.execute(update(LeadRequest).where(LeadRequest.id.in_(pending)).values(state=DROPPED))
    for key in sorted(set(dropped_keys)):
        ledger.append(
            session,
            vault,
            event="withdrawn",
            method="one_click",
            person_id=person.id,
            purpose_key=key,
            payload={**trace(visitor, settings), "reason": "not_me", "submission_id": submission.id},
        )
    suppress(session, person.email_index, "not_me")
    session.flush()


def _claim_confirmation_slot(session: Session, vault: Vault, settings: Settings, email: str) -> bool:
    """Atomically take the mailbox's confirmation slot; False within the window.

    Every spelling of one inbox (`+tag`, case) shares the slot. One upsert takes it: it inserts
    the mailbox seen for the first time, or moves a window that has passed; a mailbox inside its
    window (or one a concurrent submission just took) writes nothing.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.confirmation_window)
    upsert = _UPSERTS[session.get_bind().dialect.name](MailboxWindow)
    stmt = upsert.values(mailbox_index=mailbox_index(vault, email), last_confirmation_at=now).on_conflict_do_update(
        index_elements=[MailboxWindow.mailbox_index],
        set_={"last_confirmation_at": now},
        where=MailboxWindow.last_confirmation_at < cutoff,
    )
    return session.execute(stmt.returning(MailboxWindow.mailbox_index)).first() is not None


_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def set_confirmed(consent: Consent, version: FormVersion, now: datetime) -> None:
    """The one way a consent becomes current: confirmed now, under this version's wording and channel."""
    purpose = version.purpose(consent.purpose_key) or {}
    consent.channel = purpose.get("channel", consent.channel or "email")
    consent.state = CONFIRMED
    consent.form_version = version
    consent.confirmed_at = now
    consent.withdrawn_at = None
    consent.last_activity_at = now


def _confirm_purpose(
    session: Session,
    vault: Vault,
    settings: Settings,
    request: LeadRequest,
    method: str,
    visitor: Visitor,
    now: datetime,
) -> None:
    submission = request.submission
    consent = session.scalar(
        select(Consent).where(Consent.person_id == submission.person_id, Consent.purpose_key == request.purpose_key)
    )
    event = "renewed" if consent is not None and consent.state == CONFIRMED else "confirmed"
    if consent is None:
        consent = Consent(person_id=submission.person_id, purpose_key=request.purpose_key)
    set_confirmed(consent, submission.form_version, now)
    session.add(consent)  # after set_confirmed: an autoflush must never see it half-filled
    if event == "confirmed":  # the purpose's welcome item, if it has one (sent by a worker)
        outbox.enqueue(session, jobs.SEND_WELCOME, submission.person_id, request.purpose_key)
    ledger.append(
        session,
        vault,
        event=event,
        method=method,
        person_id=submission.person_id,
        purpose_key=request.purpose_key,
        payload={
            **trace(visitor, settings),
            "submission_id": submission.id,
            "request_id": request.id,
            "form_version_hash": submission.form_version.content_hash,
        },
        occurred_at=now,
    )


def _apply_submitted_fields(vault: Vault, person: Person, submission: Submission) -> None:
    if submission.fields_enc:
        for name, value in json.loads(vault.decrypt(submission.fields_enc)).items():
            setattr(person, f"{name}_enc", vault.encrypt(value) if value else None)


def _notice(version, request, submission, visitor, settings) -> dict[str, Any]:
    """Everything the person saw for this purpose: the proof of what they asked for."""
    return {
        **trace(visitor, settings),
        **purpose_notice(version, request.purpose_key),
        "submission_id": submission.id,
        "request_id": request.id,
    }


def purpose_notice(version: FormVersion, purpose_key: str) -> dict[str, Any]:
    """The wording of one purpose in a form version, as recorded in the ledger."""
    definition = version.definition
    purpose = version.purpose(purpose_key) or {}
    return {
        "form_slug": definition["slug"],
        "form_version": version.number,
        "form_version_hash": version.content_hash,
        "language": definition["language"],
        "label": purpose.get("label"),
        "description": purpose.get("description"),
        "channel": purpose.get("channel"),
        "legal_basis": purpose.get("legal_basis"),
        "retention_months": purpose.get("retention_months"),
        "controller": definition["controller"],
        "privacy_url": definition["privacy_url"],
    }
