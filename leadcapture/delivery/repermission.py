"""The re-permission email: one month before a consent lapses, ask whether to keep it (R4.4)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadcapture.consent import gates
from leadcapture.consent.lifecycle import cycle_of, lapses_at
from leadcapture.delivery import links
from leadcapture.delivery.mail import compose, render
from leadcapture.delivery.sending import Prepared, deliver
from leadcapture.models import CONFIRMED, Consent, Repermission
from leadcapture.services import Services


def send_repermission(services: Services, repermission_id: int) -> str:
    """Send the re-permission email queued by the scheduler, if the consent still needs it."""

    def prepare(session: Session) -> Prepared | None:
        row = session.get(Repermission, repermission_id)
        consent = session.get(Consent, row.consent_id) if row else None
        if consent is None or consent.state != CONFIRMED or cycle_of(consent) != row.cycle:
            return None  # withdrawn, lapsed or renewed since it was queued
        person = consent.person
        if not gates.may_contact(session, person, consent.purpose_key):
            return None
        version = consent.form_version
        purpose = version.purpose(consent.purpose_key) or {}
        preferences_url = links.preferences(services, person.id)
        context = {
            "form": version.definition,
            "label": purpose.get("label", consent.purpose_key),
            "lapses_on": lapses_at(consent).date().isoformat(),
            "renew_url": f"{preferences_url}#purpose-{consent.purpose_key}",
            "preferences_url": preferences_url,
            "unsubscribe_url": links.unsubscribe(services, person.id, consent.purpose_key),
        }
        msg = compose(
            render("repermission", person.language, context),
            sender=services.settings.mail_from,
            to=services.vault.decrypt(person.email_enc),
            unsubscribe_url=context["unsubscribe_url"],
            unsubscribe_mailto=services.settings.list_unsubscribe_mailto,
            auto_submitted=True,
        )
        return msg, person.id, consent.purpose_key

    return deliver(services, f"repermission:{repermission_id}", "repermission", prepare)
