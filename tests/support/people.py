"""People in a known state: confirmed through the real flow, or written straight to the database."""

from __future__ import annotations

import re

from sqlalchemy import select

from leadcapture.crypto import normalise_email
from leadcapture.delivery import campaigns
from leadcapture.models import CLAIMED, CONFIRMED, Consent, Form, Message, Person, Suppression, utcnow
from tests.support.app import path_of, submit, text_part


def confirmed_person(client, worker, mailbox, email="jan@example.com", purposes=("newsletter", "call")):
    submit(client, email, purposes, name="Jan Jansen", company="Jansen BV")
    worker.drain()
    link = re.search(r"bevestigen:\s*(\S+)", text_part(mailbox.to(email)[-1])).group(1)
    client.post(path_of(link))
    worker.drain()


def add_person(services, version, email, state=CONFIRMED, language="nl", purpose="newsletter", suppressed=False):
    """A person with a consent in the given state (as earlier flows and housekeeping leave them)."""
    with services.db.session() as session:
        person = Person(
            email_index=services.vault.blind_index(normalise_email(email)),
            email_enc=services.vault.encrypt(email),
            language=language,
        )
        session.add(person)
        session.flush()
        if state is not None:
            session.add(
                Consent(
                    person_id=person.id,
                    brand_id=session.scalar(select(Form.brand_id).where(Form.id == version.form_id)),
                    purpose_key=purpose,
                    channel="email",
                    state=state,
                    form_version_id=version.id,
                    confirmed_at=utcnow(),
                )
            )
        if suppressed:
            session.add(Suppression(email_index=person.email_index, reason="erased"))
        return person.id


def progress(services, cid):
    with services.db.session() as session:
        return campaigns.progress(session, cid)


def claimed_by_another_job(campaign_id: int, person_id: int) -> Message:
    """The message row of a campaign recipient whose message another job has claimed and is sending."""
    return Message(
        dedupe_key=f"campaign:{campaign_id}:{person_id}",
        kind="campaign",
        status=CLAIMED,
        claimed_by="other-job",
        claimed_at=utcnow(),
    )
