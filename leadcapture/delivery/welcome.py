"""The welcome email: a purpose's welcome content item, sent once when the person confirms it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadcapture.consent import gates
from leadcapture.delivery.content import welcome_item
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.renderer import ContentRenderer
from leadcapture.models import Consent, Person
from leadcapture.services import Services

KIND = "welcome"
NONE = "none"  # the purpose has no welcome item: nothing to send


def send(
    services: Services, person_id: int, purpose_key: str, brand_id: int | None = None, *, attempt: Attempt = NO_JOB
) -> str:
    """Send the purpose's newest welcome item once per item and person, behind the gate of the brand's purpose."""
    with services.db.session() as session:
        item = welcome_item(session, purpose_key)
    if item is None:
        return NONE
    renderer = ContentRenderer(services, item, purpose_key, brand_id)

    def prepare(session: Session) -> Outgoing | None:
        person = session.get(Person, person_id)
        if not gates.may_contact(session, person, purpose_key, brand_id=brand_id):
            return None
        query = select(Consent.form_version_id).where(
            Consent.person_id == person_id, Consent.purpose_key == purpose_key
        )
        version_id = session.scalar(query.where(Consent.brand_id == brand_id) if brand_id else query.limit(1))
        renderer.load_versions(session, {version_id})
        return Outgoing(renderer.message(person, version_id), person_id, purpose_key)

    return deliver(services, f"{KIND}:{item.id}:{person_id}", KIND, prepare, attempt)
