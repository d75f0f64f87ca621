"""The lead notification: a confirmed phone purpose, mailed once to its brand's sales address.

Internal mail: it goes to the brand's sales team only, names no one else, has no unsubscribe
for the person (they are not its recipient), and its message row names no person, so a bounce
of the sales mailbox never suppresses the lead's own address.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from leadcapture.consent import brands
from leadcapture.consent.people import is_suppressed
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.templates import compose, mail_brand, render
from leadcapture.models import CONFIRMED, Consent
from leadcapture.services import Services

KIND = "lead"


def send(services: Services, consent_id: int, confirmed_at: str, *, attempt: Attempt = NO_JOB) -> str:
    """Mail the brand's sales address about this confirmation of a phone purpose, once."""

    def prepare(session: Session) -> Outgoing | None:
        consent = session.get(Consent, consent_id)
        if (
            consent is None
            or consent.state != CONFIRMED
            or consent.channel != "phone"
            or consent.confirmed_at is None
            or consent.confirmed_at != datetime.fromisoformat(confirmed_at)  # aware: any offset compares right
            or not consent.brand.sales_address
            or is_suppressed(session, consent.person)
        ):
            return None  # withdrawn or confirmed again since, erased, or the brand has no sales address now
        person, brand, version = consent.person, consent.brand, consent.form_version
        vault = services.vault
        # The details confirmed with the address (copied to the person on confirmation), never ones typed since.
        details = {
            name: vault.decrypt(value) if value else ""
            for name, value in (("name", person.name_enc), ("company", person.company_enc), ("phone", person.phone_enc))
        }
        definition = version.definition
        purpose = version.purpose(consent.purpose_key) or {}
        context = {
            "brand": mail_brand(services, brand),
            "brand_name": brand.name,
            "details": details,
            "form_title": definition["title"],
            "form_slug": definition["slug"],
            "label": purpose.get("label", consent.purpose_key),
            "confirmed_at": consent.confirmed_at,
            "lead_url": services.url(f"/admin/people/{person.id}"),
        }
        rendered = render("lead", definition["language"], context)
        msg = compose(
            rendered,
            sender=brands.sender(brand, services.settings.mail_from),
            to=brand.sales_address,
            unsubscribe_url="",
            auto_submitted=True,
        )
        return Outgoing(msg, None, consent.purpose_key)

    return deliver(services, f"{KIND}:{consent_id}:{confirmed_at}", KIND, prepare, attempt)
