"""Data-subject rights: access/portability export with proof of consent, and erasure.

Field names of the consent records follow ISO/IEC TS 27560 and the Kantara Consent Receipt
where they fit: controller, purpose, legal_basis, notice (text, version, language, url),
collection_method, event_time, state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from leadcapture.consent import customfields, ledger
from leadcapture.consent.lifecycle import lapses_at
from leadcapture.consent.people import mailbox_index, suppress
from leadcapture.crypto import Vault
from leadcapture.models import (
    CONFIRMED,
    EXPIRED,
    UNVERIFIED,
    Bounce,
    Consent,
    LedgerEvent,
    MailboxWindow,
    Message,
    Person,
    Submission,
    Suppression,
    utcnow,
)

EXPORT_SCHEMA = "leadcapture.person-export/1"


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def export_person(session: Session, vault: Vault, person: Person) -> dict[str, Any]:
    """Everything we hold about a person, decrypted, with every ledger event (Art. 15, 20; R4.3)."""
    events = session.scalars(
        select(LedgerEvent).where(LedgerEvent.person_id == person.id).order_by(LedgerEvent.id)
    ).all()
    ledger_rows = [
        {
            "seq": ev.seq,
            "event_time": _iso(ev.occurred_at),
            "event": ev.event,
            "collection_method": ev.method,
            "purpose": ev.purpose_key,
            "details": ledger.payload_of(vault, ev),
            # seq, hash and prev_hash are None for the seconds until the sealer chains the event.
            "hash": ev.hash,
            "prev_hash": ev.prev_hash,
            "key_id": ev.key_id,
        }
        for ev in events
    ]
    submissions = session.scalars(
        select(Submission).where(Submission.person_id == person.id).order_by(Submission.id)
    ).all()
    messages = session.scalars(select(Message).where(Message.person_id == person.id).order_by(Message.id)).all()
    bounces = session.scalars(select(Bounce).where(Bounce.person_id == person.id).order_by(Bounce.id)).all()
    suppression = session.get(Suppression, person.email_index)
    return {
        "schema": EXPORT_SCHEMA,
        "generated_at": _iso(utcnow()),
        "subject": {
            "email": vault.decrypt(person.email_enc),
            "name": vault.decrypt(person.name_enc),
            "company": vault.decrypt(person.company_enc),
            "phone": vault.decrypt(person.phone_enc),
            # Answers to forms' own questions, as confirmed: key to the label shown and the value.
            "answers": json.loads(vault.decrypt(person.answers_enc)) if person.answers_enc else {},
            "language": person.language,
            "first_seen": _iso(person.created_at),
            "last_activity": _iso(person.last_activity_at),
        },
        "suppressed": suppression is not None,
        "suppression": {"reason": suppression.reason, "since": _iso(suppression.created_at)} if suppression else None,
        "bounces": [
            {
                "kind": b.kind,
                "received_at": _iso(b.received_at),
                "source": b.source,
                "status": b.status,
                "detail": vault.decrypt(b.detail_enc),
            }
            for b in bounces
        ],
        "consents": [_consent_record(c, events, vault) for c in _consents(session, person)],
        "submissions": [_submission_record(s, vault) for s in submissions],
        "messages": [
            {
                "kind": m.kind,
                "purpose": m.purpose_key,
                "status": m.status,
                "message_id": m.message_id,
                "created_at": _iso(m.created_at),
                "sent_at": _iso(m.sent_at),
                "feedback": m.feedback,
            }
            for m in messages
        ],
        "ledger": ledger_rows,
    }


def _consents(session: Session, person: Person) -> list[Consent]:
    return list(session.scalars(select(Consent).where(Consent.person_id == person.id).order_by(Consent.purpose_key)))


def _consent_record(consent: Consent, events: list[LedgerEvent], vault: Vault) -> dict[str, Any]:
    """One purpose: what the person saw, when and where they asked and confirmed, its state now."""
    version = consent.form_version
    definition = version.definition
    purpose = version.purpose(consent.purpose_key) or {}
    own = [ev for ev in events if ev.purpose_key == consent.purpose_key]
    # An import records where the person was asked elsewhere: it stands for the request.
    requested = next((ev for ev in reversed(own) if ev.event == "requested" or ev.method == "import"), None)
    confirmed = next((ev for ev in reversed(own) if ev.event in ("confirmed", "renewed")), None)
    requested_payload = ledger.payload_of(vault, requested) if requested else None
    imported = next((ev for ev in reversed(own) if ev.method == "import"), None)
    shown = requested_payload or {}
    if requested is not None and requested.method == "import":  # only the wording the source recorded
        text, description = shown.get("label"), None
    else:
        text, description = (
            shown.get("label") or purpose.get("label"),
            shown.get("description") or purpose.get("description"),
        )
    return {
        "purpose": consent.purpose_key,
        "channel": consent.channel,
        "legal_basis": purpose.get("legal_basis", "consent"),
        "state": consent.state,
        "controller": definition["controller"],
        "notice": {
            # The wording as recorded in the ledger when they asked; the version's text otherwise.
            "text": text,
            "description": description,
            "form": definition["slug"],
            "version": version.number,
            "version_hash": version.content_hash,
            "language": definition["language"],
            "url": definition["privacy_url"],
        },
        "retention_months": purpose.get("retention_months"),
        "requested": _event_summary(requested, requested_payload),
        "confirmed": _event_summary(confirmed, ledger.payload_of(vault, confirmed) if confirmed else None),
        "imported": _import_summary(imported, ledger.payload_of(vault, imported) if imported else None),
        "withdrawn_at": _iso(consent.withdrawn_at),
        "last_activity": _iso(consent.last_activity_at),
        # When it lapses without activity (confirmed, unverified), or lapsed (expired); see lifecycle.py.
        "lapses_at": _iso(lapses_at(consent)) if consent.state in (CONFIRMED, EXPIRED, UNVERIFIED) else None,
    }


def _event_summary(ev: LedgerEvent | None, payload: dict[str, Any] | None) -> dict[str, Any] | None:
    if ev is None:
        return None
    payload = payload or {}
    return {
        "event_time": _iso(ev.occurred_at),
        "collection_method": ev.method,
        "page_url": payload.get("page_url"),
        "ip": payload.get("ip"),
        "user_agent": payload.get("user_agent"),
        "ledger_seq": ev.seq,
    }


def _import_summary(ev: LedgerEvent | None, payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """An imported consent's provenance: when it was imported, and when, where and how it was given."""
    if ev is None:
        return None
    keep = (
        "consented_at",
        "source",
        "lawful_basis",
        "evidence",
        "verified",
        "form_version",
        "file",
        "line",
        "imported_by",
    )
    return {"imported_at": _iso(ev.occurred_at), "ledger_seq": ev.seq, **{k: (payload or {}).get(k) for k in keep}}


def _submission_record(submission: Submission, vault: Vault) -> dict[str, Any]:
    fields = json.loads(vault.decrypt(submission.fields_enc)) if submission.fields_enc else {}
    return {
        "id": submission.id,
        "time": _iso(submission.created_at),
        "form": submission.form_version.definition["slug"],
        "form_version": submission.form_version.number,
        "language": submission.language,
        "page_url": submission.page_url,
        "ip": vault.decrypt(submission.ip_enc),
        "user_agent": vault.decrypt(submission.user_agent_enc),
        "fields": fields,
        "answers": customfields.submitted_answers(vault, [submission]),
        "source": {
            "utm_source": submission.utm_source,
            "utm_medium": submission.utm_medium,
            "utm_campaign": submission.utm_campaign,
            "referrer": vault.decrypt(submission.referrer_enc),
        },
        "requests": [
            {"kind": r.kind, "purpose": r.purpose_key, "state": r.state, "confirmed_at": _iso(r.confirmed_at)}
            for r in submission.requests
        ],
    }


def erase_person(
    session: Session,
    vault: Vault,
    person: Person,
    *,
    method: str,
    forget_mail: Callable[[str], int] | None = None,
) -> dict[str, int]:
    """Delete the person's data, keep the ledger verifiable, suppress the address (R6.2).

    The ledger keeps each event's hash and payload digest (so `ledger verify` still passes) but
    loses the payload (IP, user agent, wording shown); an `erased` event records the erasure.
    The blind index goes on the suppression list so that no import or submission mails the
    address again without a fresh opt-in by the person. `forget_mail` (the services' one) deletes
    the copies of their mail that the transport keeps, such as the development outbox.
    """
    person_id, index = person.id, person.email_index
    address = vault.decrypt(person.email_enc)
    erased_payloads = ledger.erase_payloads(session, person_id)
    ledger.append(
        session,
        vault,
        event="erased",
        method=method,
        person_id=person_id,
        purpose_key=None,
        payload={"erased_payloads": erased_payloads},
    )
    suppress(session, index, "erased")
    session.execute(update(Message).where(Message.person_id == person_id).values(person_id=None))
    session.execute(delete(Bounce).where(Bounce.person_id == person_id))
    session.execute(delete(MailboxWindow).where(MailboxWindow.mailbox_index == mailbox_index(vault, address)))
    consents = session.execute(delete(Consent).where(Consent.person_id == person_id)).rowcount
    submissions = session.scalars(select(Submission).where(Submission.person_id == person_id)).all()
    for submission in submissions:
        session.delete(submission)  # its requests go with it
    session.delete(person)
    session.flush()
    if forget_mail is not None:
        forget_mail(address)
    return {"consents": consents, "submissions": len(submissions), "ledger_payloads": erased_payloads}
