"""The double opt-in domain: submit, confirm, withdraw, 'this wasn't me', and the send gates."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadcapture.consent import ledger, outbox
from leadcapture.crypto import Vault, normalise_email
from leadcapture.models import (
    ASSET,
    CONFIRMED,
    DROPPED,
    PENDING,
    PURPOSE,
    WITHDRAWN,
    Consent,
    FormVersion,
    Person,
    Request,
    Submission,
    Suppression,
    utcnow,
)
from leadcapture.settings import Settings


@dataclass
class Visitor:
    """Where an action came from, as recorded in the ledger (minimised before storing)."""

    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None


@dataclass
class Outcome:
    """What a confirm/withdraw call did, for the page that reports it."""

    changed: list[str] = field(default_factory=list)  # purpose keys or "asset"
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def minimise_ip(ip: str | None, mode: str) -> str | None:
    """Apply the configured IP minimisation: full, truncate (/24, /48) or none."""
    if not ip or mode == "none":
        return None
    if mode == "full":
        return ip
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def find_person(session: Session, vault: Vault, email: str) -> Person | None:
    """The person with this address, looked up by blind index."""
    index = vault.blind_index(normalise_email(email))
    return session.scalar(select(Person).where(Person.email_index == index))


def is_suppressed(session: Session, person: Person) -> bool:
    """Whether the person's address is on the suppression list."""
    return session.get(Suppression, person.email_index) is not None


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
    person = _get_or_create_person(session, vault, email, definition["language"])
    now = utcnow()
    submission = Submission(
        person_id=person.id,
        form_version_id=version.id,
        language=definition["language"],
        page_url=visitor.page_url,
        ip_enc=vault.encrypt(minimise_ip(visitor.ip, settings.ip_minimisation)),
        user_agent_enc=vault.encrypt(visitor.user_agent),
        fields_enc=vault.encrypt(json.dumps(fields)) if fields else None,
        created_at=now,
    )
    submission.requests.append(Request(kind=ASSET))
    for key in purpose_keys:
        submission.requests.append(Request(kind=PURPOSE, purpose_key=key))
    session.add(submission)
    session.flush()
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
    if not is_suppressed(session, person) and _claim_confirmation_slot(session, person, settings):
        submission.sends_confirmation = True
        outbox.enqueue(session, "send_confirmation", submission.id)
    return submission


def confirm(
    session: Session,
    vault: Vault,
    settings: Settings,
    requests: list[Request],
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
            outbox.enqueue(session, "deliver_asset", request.id)
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
        ledger.append(
            session,
            vault,
            event="withdrawn",
            method=method,
            person_id=person.id,
            purpose_key=consent.purpose_key,
            payload=_trace(visitor, settings),
            occurred_at=now,
        )
        outcome.changed.append(consent.purpose_key)
    # Pending requests for these purposes can no longer be confirmed by an old link.
    pending = (
        select(Request.id)
        .join(Submission)
        .where(Submission.person_id == person.id, Request.state == PENDING, Request.kind == PURPOSE)
    )
    if purpose_keys is not None:
        pending = pending.where(Request.purpose_key.in_(purpose_keys))
    session.execute(update(Request).where(Request.id.in_(pending)).values(state=DROPPED))
    session.flush()
    return outcome


def not_me(session: Session, vault: Vault, settings: Settings, submission: Submission, *, visitor: Visitor) -> None:
    """'This wasn't me': drop every pending request of the address and suppress it."""
    person = submission.person
    pending = select(Request.id).join(Submission).where(Submission.person_id == person.id, Request.state == PENDING)
    dropped_keys = session.scalars(
        select(Request.purpose_key).where(Request.id.in_(pending), Request.kind == PURPOSE)
    ).all()
    session.execute(update(Request).where(Request.id.in_(pending)).values(state=DROPPED))
    for key in sorted(set(dropped_keys)):
        ledger.append(
            session,
            vault,
            event="withdrawn",
            method="one_click",
            person_id=person.id,
            purpose_key=key,
            payload={**_trace(visitor, settings), "reason": "not_me", "submission_id": submission.id},
        )
    if not is_suppressed(session, person):
        session.add(Suppression(email_index=person.email_index, reason="not_me"))
    session.flush()


def may_send_confirmation(session: Session, submission: Submission | None) -> bool:
    """Send-time gate for a confirmation email."""
    if submission is None or not submission.sends_confirmation:
        return False
    if is_suppressed(session, submission.person):
        return False
    return any(r.state == PENDING for r in submission.requests)


def may_deliver_asset(session: Session, request: Request | None) -> bool:
    """Send-time gate for the whitepaper: the person confirmed the asset request."""
    return (
        request is not None
        and request.kind == ASSET
        and request.state == CONFIRMED
        and not is_suppressed(session, request.submission.person)
    )


def may_send_purpose(session: Session, person: Person | None, purpose_key: str) -> bool:
    """Send-time gate for content under a purpose: consent is current and not suppressed."""
    if person is None or is_suppressed(session, person):
        return False
    consent = session.scalar(select(Consent).where(Consent.person_id == person.id, Consent.purpose_key == purpose_key))
    return consent is not None and consent.state == CONFIRMED


def _get_or_create_person(session: Session, vault: Vault, email: str, language: str) -> Person:
    address = email.strip()
    index = vault.blind_index(normalise_email(address))
    person = session.scalar(select(Person).where(Person.email_index == index))
    if person is not None:
        return person
    try:
        with session.begin_nested():
            person = Person(email_index=index, email_enc=vault.encrypt(address), language=language)
            session.add(person)
    except IntegrityError:  # a concurrent submission created the same address a moment ago
        person = session.scalar(select(Person).where(Person.email_index == index))
    return person


def _claim_confirmation_slot(session: Session, person: Person, settings: Settings) -> bool:
    """Atomically take the per-address confirmation slot; False within the window."""
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.confirmation_window)
    result = session.execute(
        update(Person)
        .where(
            Person.id == person.id,
            or_(Person.last_confirmation_at.is_(None), Person.last_confirmation_at < cutoff),
        )
        .values(last_confirmation_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _confirm_purpose(session, vault, settings, request, method, visitor, now) -> None:
    submission = request.submission
    consent = session.scalar(
        select(Consent).where(Consent.person_id == submission.person_id, Consent.purpose_key == request.purpose_key)
    )
    purpose = submission.form_version.purpose(request.purpose_key) or {}
    event = "renewed" if consent is not None and consent.state == CONFIRMED else "confirmed"
    if consent is None:
        consent = Consent(person_id=submission.person_id, purpose_key=request.purpose_key)
        session.add(consent)
    consent.channel = purpose.get("channel", "email")
    consent.state = CONFIRMED
    consent.form_version_id = submission.form_version_id
    consent.confirmed_at = now
    consent.withdrawn_at = None
    consent.last_activity_at = now
    if event == "confirmed":  # issue 6: the purpose's welcome item, if it has one (sent by a worker)
        outbox.enqueue(session, "send_welcome", submission.person_id, request.purpose_key)
    ledger.append(
        session,
        vault,
        event=event,
        method=method,
        person_id=submission.person_id,
        purpose_key=request.purpose_key,
        payload={
            **_trace(visitor, settings),
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


def _trace(visitor: Visitor, settings: Settings) -> dict[str, Any]:
    return {
        "ip": minimise_ip(visitor.ip, settings.ip_minimisation),
        "user_agent": visitor.user_agent,
        "page_url": visitor.page_url,
    }


def _notice(version, request, submission, visitor, settings) -> dict[str, Any]:
    """Everything the person saw for this purpose: the proof of what they asked for."""
    return {
        **_trace(visitor, settings),
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
