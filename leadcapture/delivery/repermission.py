"""The re-permission email: a month before a consent lapses, ask whether to keep it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadcapture.consent import gates
from leadcapture.consent.lifecycle import cycle_of, lapses_at
from leadcapture.delivery import links
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.templates import compose_for, render
from leadcapture.models import CONFIRMED, Consent, Repermission
from leadcapture.services import Services

KIND = "repermission"


def send(services: Services, repermission_id: int, *, attempt: Attempt = NO_JOB) -> str:
    """Send the re-permission email queued by the scheduler once, if the consent still needs it."""

    def prepare(session: Session) -> Outgoing | None:
        row = session.get(Repermission, repermission_id)
        consent = session.get(Consent, row.consent_id) if row else None
        if consent is None or consent.state != CONFIRMED or cycle_of(consent) != row.cycle:
            return None  # withdrawn, lapsed or renewed since it was queued
        person = consent.person
        if not gates.may_contact(session, person, consent.purpose_key):
            return None
        purpose = consent.form_version.purpose(consent.purpose_key) or {}
        preferences_url = links.preferences(services, person)
        context = {
            "form": consent.form_version.definition,
            "label": purpose.get("label", consent.purpose_key),
            "lapses_on": lapses_at(consent),
            "renew_url": f"{preferences_url}#purpose-{consent.purpose_key}",
            "preferences_url": preferences_url,
            "unsubscribe_url": links.unsubscribe(services, person, consent.purpose_key),
        }
        rendered = render("repermission", person.language, context)
        msg = compose_for(services, person, rendered, unsubscribe_url=context["unsubscribe_url"], auto_submitted=True)
        return Outgoing(msg, person.id, consent.purpose_key)

    return deliver(services, f"{KIND}:{repermission_id}", KIND, prepare, attempt)
