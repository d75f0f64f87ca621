"""The consent transitions: submit, confirm, withdraw and 'this wasn't me' (renewal and expiry: lifecycle)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from leadcapture.consent import brands, customfields, jobs, ledger, outbox, tally, window
from leadcapture.consent.people import (
    Visitor,
    detail_terms,
    find_or_add,
    lift_not_me,
    minimise_ip,
    suppress,
    trace,
)
from leadcapture.consent.source import Source, funnel_source
from leadcapture.crypto import Vault
from leadcapture.models import (
    ASSET,
    CONFIRMED,
    DROPPED,
    PENDING,
    PURPOSE,
    WITHDRAWN,
    Consent,
    Form,
    FormVersion,
    LeadRequest,
    Person,
    Submission,
    SubmissionTerm,
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
    answers: dict[str, str] | None = None,
    source: Source | None = None,
) -> int:
    """Record a submission and its requests; queue one confirmation if the address may get one.

    answers are the form's own questions answered (key to value), source where the visitor came from.
    Every form's hot path, so it writes with single statements rather than the ORM's unit of work:
    about ten, each one round trip. Returns the submission's id.
    """
    definition = version.definition
    person = find_or_add(session, vault, email, definition["language"])
    now = utcnow()
    source = source or Source()
    mail_at = None if person.suppressed else window.reserve(session, vault, settings, email, now)
    conn = session.connection()
    submission_id = conn.execute(
        _ADD_SUBMISSION,
        {
            "person_id": person.id,
            "form_version_id": version.id,
            "language": definition["language"],
            "page_url": visitor.page_url,
            "ip_enc": vault.encrypt(minimise_ip(visitor.ip, settings.ip_minimisation)),
            "user_agent_enc": vault.encrypt(visitor.user_agent),
            "fields_enc": vault.encrypt(json.dumps(fields)) if fields else None,
            "answers_enc": vault.encrypt(json.dumps(answers)) if answers else None,
            "utm_source": source.utm_source or None,
            "utm_medium": source.utm_medium or None,
            "utm_campaign": source.utm_campaign or None,
            "referrer_enc": vault.encrypt(source.referrer) if source.referrer else None,
            "sends_confirmation": not person.suppressed,
            "mailed_in": None,
            "created_at": now,
        },
    ).scalar_one()
    asked = [ASSET, *purpose_keys]
    rows = [{"submission_id": submission_id, "kind": ASSET, "purpose_key": None}]
    rows += [{"submission_id": submission_id, "kind": PURPOSE, "purpose_key": key} for key in purpose_keys]
    request_ids = conn.execute(_ADD_REQUESTS, rows).scalars().all()
    terms = detail_terms(vault, fields)
    if terms:
        conn.execute(_ADD_TERMS, [{"submission_id": submission_id, "term_index": t} for t in terms])
    tally.count(session, version.form_id, tally.SUBMITTED, asked, source=source.funnel_source)
    for key, request_id in zip(asked, request_ids, strict=True):
        if key != ASSET:
            ledger.append(
                session,
                vault,
                event="requested",
                method="form",
                person_id=person.id,
                purpose_key=key,
                payload=_notice(version, key, submission_id, request_id, visitor, settings),
                occurred_at=now,
            )
    if not person.suppressed:
        window.queue_confirmation(session, submission_id, mail_at)
    return submission_id


_ADD_SUBMISSION = insert(Submission.__table__).returning(Submission.__table__.c.id)
_ADD_REQUESTS = insert(LeadRequest.__table__).returning(LeadRequest.__table__.c.id, sort_by_parameter_order=True)
_ADD_TERMS = insert(SubmissionTerm.__table__)


def confirm(
    session: Session,
    vault: Vault,
    settings: Settings,
    requests: list[LeadRequest],
    *,
    method: str,
    visitor: Visitor,
    keep_details: bool = True,
) -> Outcome:
    """Confirm pending requests; already confirmed ones are left alone (confirming twice is harmless).

    Confirming proves the address: the details typed with each submission are stored on the
    person (unless keep_details is False), and a 'this wasn't me' block is lifted. A whitepaper
    asked for twice among the requests is mailed once.
    """
    outcome = Outcome()
    now = utcnow()
    confirmed: dict[int, Submission] = {}
    mailed_assets: set[str] = set()
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
        confirmed.setdefault(submission.id, submission)
        source = funnel_source(submission.utm_source)  # counted under the source its submission was
        tally.count(session, submission.form_version.form_id, tally.CONFIRMED, [label], source=source)
        if request.kind == ASSET:
            asset = submission.form_version.definition.get("asset_sha256") or f"request:{request.id}"
            if asset not in mailed_assets:
                mailed_assets.add(asset)
                outbox.enqueue(session, jobs.DELIVER_ASSET, request.id)
        else:
            _confirm_purpose(session, vault, settings, request, method, visitor, now)
        outcome.changed.append(label)
    for submission in confirmed.values():
        person = submission.person
        person.last_activity_at = now
        if keep_details:
            for name, value in submitted_details(vault, [submission]).items():
                setattr(person, f"{name}_enc", vault.encrypt(value) if value else None)
            customfields.keep_answers(vault, person, submission)
        lift_not_me(session, person)
    session.flush()
    return outcome


def submitted_details(vault: Vault, submissions: list[Submission]) -> dict[str, str]:
    """The name, company and phone typed with these submissions (a later one wins), stored on confirmation."""
    details: dict[str, str] = {}
    for submission in submissions:
        if submission.fields_enc:
            details.update(json.loads(vault.decrypt(submission.fields_enc)))
    return details


def opt_in(
    session: Session,
    vault: Vault,
    settings: Settings,
    person: Person,
    version: FormVersion,
    purpose_key: str,
    *,
    visitor: Visitor,
    now: datetime,
) -> None:
    """Opt in from the preference centre to a purpose of a form the person used, with its wording shown.

    The centre's link reaches only the person's mailbox, so it proves the address as a confirm
    link does: the ledger gets `requested` (the exact wording shown) and `confirmed`, both with
    method preference_centre, and no second mail is needed.
    """
    common = {"method": "preference_centre", "person_id": person.id, "purpose_key": purpose_key}
    shown = {**trace(visitor, settings), **purpose_notice(version, purpose_key)}
    ledger.append(session, vault, event="requested", payload=shown, occurred_at=now, **common)
    brand_id = brands.of_version(session, version)
    consent = session.scalar(
        select(Consent).where(
            Consent.person_id == person.id, Consent.brand_id == brand_id, Consent.purpose_key == purpose_key
        )
    )
    if consent is None:
        consent = Consent(person_id=person.id, brand_id=brand_id, purpose_key=purpose_key)
    set_confirmed(consent, version, now)
    session.add(consent)
    session.flush()
    brands.notify_sales(session, consent)
    payload = {**trace(visitor, settings), "form_version_hash": version.content_hash}
    ledger.append(session, vault, event="confirmed", payload=payload, occurred_at=now, **common)
    outbox.enqueue(session, jobs.SEND_WELCOME, person.id, purpose_key, brand_id)
    lift_not_me(session, person)
    session.flush()


def withdraw(
    session: Session,
    vault: Vault,
    settings: Settings,
    person: Person,
    purpose_keys: list[str] | None,
    *,
    method: str,
    visitor: Visitor,
    reason: str | None = None,
    brand_id: int | None = None,
) -> Outcome:
    """Withdraw consent for the given purposes (None: all) of one brand (None: any brand). Repeating it changes nothing.

    reason, when given, is recorded in each withdrawn event (say "complaint" for a spam report).
    """
    outcome = Outcome()
    now = utcnow()
    stmt = select(Consent).where(Consent.person_id == person.id)
    if purpose_keys is not None:
        stmt = stmt.where(Consent.purpose_key.in_(purpose_keys))
    if brand_id is not None:
        stmt = stmt.where(Consent.brand_id == brand_id)
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
            payload={**trace(visitor, settings), **({"reason": reason} if reason else {})},
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
    if brand_id is not None:
        pending = pending.where(
            Submission.form_version_id.in_(
                select(FormVersion.id).join(Form, Form.id == FormVersion.form_id).where(Form.brand_id == brand_id)
            )
        )
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
    brand_id = submission.form_version.form.brand_id
    consent = session.scalar(
        select(Consent).where(
            Consent.person_id == submission.person_id,
            Consent.brand_id == brand_id,
            Consent.purpose_key == request.purpose_key,
        )
    )
    event = "renewed" if consent is not None and consent.state == CONFIRMED else "confirmed"
    if consent is None:
        consent = Consent(person_id=submission.person_id, brand_id=brand_id, purpose_key=request.purpose_key)
    set_confirmed(consent, submission.form_version, now)
    session.add(consent)  # after set_confirmed: an autoflush must never see it half-filled
    session.flush()
    brands.notify_sales(session, consent)
    if event == "confirmed":  # the purpose's welcome item, if it has one (sent by a worker)
        outbox.enqueue(session, jobs.SEND_WELCOME, submission.person_id, request.purpose_key, brand_id)
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


def _notice(version, purpose_key, submission_id, request_id, visitor, settings) -> dict[str, Any]:
    """Everything the person saw for this purpose: the proof of what they asked for."""
    return {
        **trace(visitor, settings),
        **purpose_notice(version, purpose_key),
        "submission_id": submission_id,
        "request_id": request_id,
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
