"""The consent transitions driven directly, without HTTP: one transaction per call, as a request or a job has."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from leadcapture.consent import lifecycle, people, transitions
from leadcapture.models import (
    Consent,
    FormVersion,
    LeadRequest,
    LedgerEvent,
    OutboxJob,
    Person,
    Submission,
    Suppression,
)
from leadcapture.settings import Settings

VISITOR = people.Visitor(ip="203.0.113.77", user_agent="Mozilla/5.0 (test)", page_url="https://www.example.com/paper")


class Consents:
    """Submit, confirm, withdraw, 'not me' and renew for an address, and read back what they left behind."""

    def __init__(self, services, version: FormVersion):
        self.services = services
        self.version_id = version.id

    # The transitions

    def submit(self, email: str, purposes=(), *, settings: Settings | None = None, **fields: str) -> int:
        """A form post from this address ticking these purposes; returns the submission id."""
        with self.services.db.session() as session:
            return transitions.submit(
                session,
                self.services.vault,
                settings or self.services.settings,
                session.get(FormVersion, self.version_id),
                email=email,
                fields=fields,
                purpose_keys=list(purposes),
                visitor=VISITOR,
            )

    def confirm(self, submission_id: int, method: str = "confirm_page") -> transitions.Outcome:
        """Follow the submission's confirmation link: every request it carries."""
        with self.services.db.session() as session:
            requests = list(session.get(Submission, submission_id).requests)
            return transitions.confirm(
                session, self.services.vault, self.services.settings, requests, method=method, visitor=VISITOR
            )

    def withdraw(self, email: str, keys: list[str] | None = None) -> transitions.Outcome:
        """Withdraw these purposes (None: all) from the preference centre."""
        with self.services.db.session() as session:
            person = people.find_person(session, self.services.vault, email)
            return transitions.withdraw(
                session,
                self.services.vault,
                self.services.settings,
                person,
                keys,
                method="preference_centre",
                visitor=VISITOR,
            )

    def not_me(self, submission_id: int) -> None:
        """'This wasn't me' from the submission's confirmation email."""
        with self.services.db.session() as session:
            submission = session.get(Submission, submission_id)
            transitions.not_me(session, self.services.vault, self.services.settings, submission, visitor=VISITOR)

    def renew(self, email: str, key: str, now: datetime) -> str:
        """Re-confirm a purpose in the preference centre with the form's live wording."""
        with self.services.db.session() as session:
            consent = self._consent(session, email, key)
            return lifecycle.renew(
                session,
                self.services.vault,
                self.services.settings,
                consent,
                lifecycle.live_version(session, consent),
                visitor=VISITOR,
                now=now,
            )

    def lapses_at(self, email: str, key: str) -> datetime:
        """When the confirmed consent lapses without further activity."""
        with self.services.db.session() as session:
            return lifecycle.lapses_at(self._consent(session, email, key))

    def idle(self, email: str, months: int) -> None:
        """Pretend the address's consents were last active `months` ago."""
        with self.services.db.session() as session:
            person = people.find_person(session, self.services.vault, email)
            for consent in session.scalars(select(Consent).where(Consent.person_id == person.id)):
                consent.last_activity_at = lifecycle.add_months(consent.last_activity_at, -months)

    def expire_lapsed(self, now: datetime) -> int:
        with self.services.db.session() as session:
            return lifecycle.expire_lapsed(session, self.services.vault, now)

    def suppress(self, email: str, reason: str = "erased") -> None:
        with self.services.db.session() as session:
            person = people.find_person(session, self.services.vault, email)
            session.add(Suppression(email_index=person.email_index, reason=reason))

    # What they left behind

    def state(self, email: str, key: str) -> str | None:
        """The consent's state for this purpose, None when there is no consent."""
        with self.services.db.session() as session:
            consent = self._consent(session, email, key)
            return consent.state if consent else None

    def consent(self, email: str, key: str) -> Consent | None:
        with self.services.db.session() as session:
            return self._consent(session, email, key)

    def requests(self, submission_id: int) -> dict[str, str]:
        """Request label ("asset" or the purpose key) -> state."""
        with self.services.db.session() as session:
            rows = session.scalars(select(LeadRequest).where(LeadRequest.submission_id == submission_id))
            return {row.purpose_key or row.kind: row.state for row in rows}

    def events(self) -> list[tuple[str, str, str | None]]:
        """The ledger in order: (event, method, purpose key)."""
        with self.services.db.session() as session:
            rows = session.scalars(select(LedgerEvent).order_by(LedgerEvent.id))
            return [(row.event, row.method, row.purpose_key) for row in rows]

    def payloads(self, event: str) -> list[dict]:
        with self.services.db.session() as session:
            rows = session.scalars(select(LedgerEvent).where(LedgerEvent.event == event).order_by(LedgerEvent.id))
            return [json.loads(self.services.vault.decrypt(row.payload_enc)) for row in rows]

    def jobs(self) -> list[tuple[str, list]]:
        """The outbox jobs due now, in order: (job name, arguments)."""
        with self.services.db.session() as session:
            rows = session.scalars(select(OutboxJob).where(OutboxJob.not_before.is_(None)).order_by(OutboxJob.id))
            return [(row.actor, json.loads(row.args_json)) for row in rows]

    def delayed_jobs(self) -> list[tuple[str, list, datetime]]:
        """The outbox jobs to be published later, in order: (job name, arguments, not before)."""
        with self.services.db.session() as session:
            rows = session.scalars(select(OutboxJob).where(OutboxJob.not_before.is_not(None)).order_by(OutboxJob.id))
            return [(row.actor, json.loads(row.args_json), row.not_before) for row in rows]

    def person(self, email: str) -> Person | None:
        with self.services.db.session() as session:
            return people.find_person(session, self.services.vault, email)

    def suppression(self, email: str) -> str | None:
        """Why the address is suppressed, None when it is not."""
        with self.services.db.session() as session:
            person = people.find_person(session, self.services.vault, email)
            row = session.get(Suppression, person.email_index)
            return row.reason if row else None

    def _consent(self, session, email: str, key: str) -> Consent | None:
        person = people.find_person(session, self.services.vault, email)
        return session.scalar(select(Consent).where(Consent.person_id == person.id, Consent.purpose_key == key))


@pytest.fixture
def consents(services, demo_form) -> Consents:
    """The demo form (purposes newsletter and product_news by email, call by phone) on a migrated database."""
    return Consents(services, demo_form)
