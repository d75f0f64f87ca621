"""Consent lifetime (R4.4): activity, lapsing after the purpose's retention, re-permission, renewal.

Activity that keeps a consent alive: its confirmation, a renewal, and any POST in the
preference centre. GETs never count (mail scanners follow links; showing a page changes
nothing). A consent lapses `retention_months` (of the purpose in the version the person
agreed to) after its last activity; a re-permission email goes out one month before.

An unverified consent (imported without enough proof, never confirmed) lives one month: its
re-permission email goes out at once, and without the person's confirmation it lapses.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadcapture.consent import jobs, ledger, outbox
from leadcapture.consent.people import Visitor, is_suppressed, trace
from leadcapture.consent.transitions import purpose_notice, set_confirmed
from leadcapture.crypto import Vault
from leadcapture.models import CONFIRMED, EXPIRED, UNVERIFIED, Consent, Form, FormVersion, Person, Repermission
from leadcapture.settings import Settings

DEFAULT_RETENTION_MONTHS = 24
REPERMISSION_MONTHS_BEFORE = 1
UNVERIFIED_MONTHS = 1


def add_months(when: datetime, months: int) -> datetime:
    """The same day and time `months` later (or earlier), clamped to the month's last day."""
    total = when.month - 1 + months
    year, month = when.year + total // 12, total % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def retention_months(consent: Consent) -> int:
    """The retention the person was told for this purpose."""
    purpose = consent.form_version.purpose(consent.purpose_key) or {}
    return int(purpose.get("retention_months") or DEFAULT_RETENTION_MONTHS)


def lifetime_months(consent: Consent) -> int:
    """Months without activity before a consent lapses; a never-confirmed (unverified) import gets one."""
    return UNVERIFIED_MONTHS if consent.confirmed_at is None else retention_months(consent)


def lapses_at(consent: Consent) -> datetime:
    """When a confirmed or unverified consent lapses without further activity."""
    return add_months(consent.last_activity_at, lifetime_months(consent))


def cycle_of(consent: Consent) -> str:
    """Identifies one inactivity period: a renewal starts a new one (and a new re-permission)."""
    return consent.last_activity_at.isoformat(timespec="seconds")


def record_activity(session: Session, person: Person, now: datetime) -> int:
    """The person acted (a preference-centre POST): every confirmed consent starts a new period."""
    person.last_activity_at = now
    count = 0
    for c in session.scalars(select(Consent).where(Consent.person_id == person.id, Consent.state == CONFIRMED)):
        c.last_activity_at = now
        count += 1
    return count


def expire_lapsed(session: Session, vault: Vault, now: datetime) -> int:
    """Move confirmed and unverified consents past their lifetime to `expired`, with a ledger event each."""
    count = 0
    for consent in _current(session, before=now):
        due = lapses_at(consent)
        if due > now:
            continue
        reason = "unconfirmed_import" if consent.state == UNVERIFIED else "inactivity"
        consent.state = EXPIRED
        ledger.append(
            session,
            vault,
            event="expired",
            method="system",
            person_id=consent.person_id,
            purpose_key=consent.purpose_key,
            payload={
                "reason": reason,
                "retention_months": lifetime_months(consent),
                "last_activity": consent.last_activity_at.isoformat(),
                "lapsed_at": due.isoformat(),
            },
            occurred_at=now,
        )
        count += 1
    session.flush()
    return count


def schedule_repermissions(session: Session, now: datetime) -> int:
    """Queue one re-permission email per consent entering its last month; return how many."""
    count = 0
    for consent in _current(session, before=add_months(now, REPERMISSION_MONTHS_BEFORE)):
        due = lapses_at(consent)
        if not (now < due <= add_months(now, REPERMISSION_MONTHS_BEFORE)):
            continue
        if is_suppressed(session, consent.person):
            continue
        count += queue_repermission(session, consent, now)
    return count


def queue_repermission(session: Session, consent: Consent, now: datetime) -> bool:
    """Queue the consent's re-permission email of its current cycle; False if it was queued already."""
    try:
        with session.begin_nested():
            row = Repermission(
                consent_id=consent.id, cycle=cycle_of(consent), lapses_at=lapses_at(consent), created_at=now
            )
            session.add(row)
            session.flush()
    except IntegrityError:  # already queued in this cycle (another run, another machine)
        return False
    outbox.enqueue(session, jobs.SEND_REPERMISSION, row.id)
    return True


def _current(session: Session, *, before: datetime) -> list[Consent]:
    """Confirmed and unverified consents whose last activity is old enough that they may be due (coarse filter)."""
    # Every lifetime is at least one month, so anything active within the last month is not due.
    horizon = add_months(before, -1)
    stmt = (
        select(Consent)
        .where(Consent.state.in_((CONFIRMED, UNVERIFIED)), Consent.last_activity_at <= horizon)
        .order_by(Consent.id)
    )
    return list(session.scalars(stmt))


def live_version(session: Session, consent: Consent) -> FormVersion | None:
    """The live version of the consent's form, if it still offers the purpose."""
    form = session.get(Form, consent.form_version.form_id)
    if form is None or form.archived_at is not None or form.current_version is None:
        return None
    return form.current_version if form.current_version.purpose(consent.purpose_key) else None


def renew(
    session: Session,
    vault: Vault,
    settings: Settings,
    consent: Consent,
    version: FormVersion,
    *,
    visitor: Visitor,
    now: datetime,
) -> str:
    """Re-confirm a purpose from the preference centre with the live wording; return the event.

    An active consent is `renewed`. A lapsed or unverified one is a fresh consent: a `requested`
    event with the wording shown on the page, then `confirmed`, both with method preference_centre.
    """
    shown = {**trace(visitor, settings), **purpose_notice(version, consent.purpose_key)}
    common = {"method": "preference_centre", "person_id": consent.person_id, "purpose_key": consent.purpose_key}
    if consent.state == CONFIRMED:
        event = "renewed"
    elif consent.state in (EXPIRED, UNVERIFIED):
        event = "confirmed"
        ledger.append(session, vault, event="requested", payload=shown, occurred_at=now, **common)
    else:
        raise ValueError(f"a {consent.state} consent cannot be renewed from the preference centre")
    set_confirmed(consent, version, now)
    payload = shown if event == "renewed" else {**trace(visitor, settings), "form_version_hash": version.content_hash}
    ledger.append(session, vault, event=event, payload=payload, occurred_at=now, **common)
    session.flush()
    return event
