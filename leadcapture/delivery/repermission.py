"""The re-permission email: ask whether to keep a consent about to lapse, or to confirm an unverified import."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadcapture.consent import gates, ledger
from leadcapture.consent.lifecycle import cycle_of, lapses_at
from leadcapture.delivery import links
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.templates import compose_for, mail_brand, render
from leadcapture.models import UNVERIFIED, Consent, LedgerEvent, Repermission
from leadcapture.services import Services

KIND = "repermission"


def send(services: Services, repermission_id: int, *, attempt: Attempt = NO_JOB) -> str:
    """Send the re-permission email queued by the scheduler once, if the consent still needs it."""

    def prepare(session: Session) -> Outgoing | None:
        row = session.get(Repermission, repermission_id)
        consent = session.get(Consent, row.consent_id) if row else None
        if consent is None or cycle_of(consent) != row.cycle or not gates.may_send_repermission(session, consent):
            return None  # withdrawn, lapsed, renewed or suppressed since it was queued
        person = consent.person
        purpose = consent.form_version.purpose(consent.purpose_key) or {}
        preferences_url = links.preferences(services, person)
        context = {
            "brand": mail_brand(services, consent.brand),
            "form": consent.form_version.definition,
            "label": purpose.get("label", consent.purpose_key),
            "lapses_on": lapses_at(consent),
            "unverified": consent.state == UNVERIFIED,  # imported without proof: ask, do not remind
            "imported": _provenance(services, session, consent),
            "renew_url": f"{preferences_url}#purpose-{consent.purpose_key}",
            "preferences_url": preferences_url,
            "unsubscribe_url": links.unsubscribe(services, person, consent.purpose_key, consent.brand_id),
        }
        rendered = render("repermission", person.language, context)
        msg = compose_for(
            services,
            person,
            rendered,
            unsubscribe_url=context["unsubscribe_url"],
            auto_submitted=True,
            brand=consent.brand,
        )
        return Outgoing(msg, person.id, consent.purpose_key)

    return deliver(services, f"{KIND}:{repermission_id}", KIND, prepare, attempt)


def _provenance(services: Services, session: Session, consent: Consent) -> dict[str, Any] | None:
    """Where and when an unverified consent was said to be given: Art. 14 asks us to name the source."""
    if consent.state != UNVERIFIED:
        return None
    event = session.scalar(
        select(LedgerEvent)
        .where(
            LedgerEvent.person_id == consent.person_id,
            LedgerEvent.purpose_key == consent.purpose_key,
            LedgerEvent.method == "import",
        )
        .order_by(LedgerEvent.id.desc())  # insert order: the event may not be sealed yet
        .limit(1)
    )
    payload = ledger.payload_of(services.vault, event) if event is not None else None
    if not payload:
        return None
    return {"source": payload["source"], "on": date.fromisoformat(payload["consented_at"][:10])}
