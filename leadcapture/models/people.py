"""People and their consents: submissions, requests, consents, suppression, re-permission."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadcapture.models.base import PENDING, Base, new_public_id, utcnow
from leadcapture.models.brands import Brand
from leadcapture.models.forms import FormVersion

# Links name people, submissions and requests by their public id, never by id. SQLite reuses the
# id of a deleted row unless the table is AUTOINCREMENT; every id here outlives its row (ledger
# events, message dedupe keys), so it is never reused (PostgreSQL's sequences never do).
_NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


def _public_id() -> Mapped[str]:
    return mapped_column(String(22), index=True, unique=True, default=new_public_id)


class Person(Base):
    __tablename__ = "people"
    __table_args__ = _NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = _public_id()
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    email_enc: Mapped[str] = mapped_column(Text)
    name_enc: Mapped[str | None] = mapped_column(Text)
    company_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    # Answers to forms' own questions (custom fields), key to {label, value}, copied on confirmation.
    answers_enc: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailboxWindow(Base):
    """When a mailbox last got a confirmation email: the anti-bombing window counts per mailbox.

    Keyed by the blind index of the folded mailbox (`name+tag@Domain` is `name@domain`), so the
    ten spellings of one inbox share one window and no address is stored in plaintext.
    """

    __tablename__ = "mailbox_windows"
    mailbox_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_confirmation_at: Mapped[datetime]


class Submission(Base):
    """One form post: what the person asked for, where and how."""

    __tablename__ = "submissions"
    __table_args__ = _NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = _public_id()
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    language: Mapped[str] = mapped_column(String(8))
    page_url: Mapped[str | None] = mapped_column(Text)
    ip_enc: Mapped[str | None] = mapped_column(Text)
    user_agent_enc: Mapped[str | None] = mapped_column(Text)
    # Name, company and phone as submitted; copied to the person only on confirmation, so a
    # third party typing someone's address cannot overwrite their details.
    fields_enc: Mapped[str | None] = mapped_column(Text)
    # Answers to the form's own questions, key to value; the labels shown are in the form version.
    answers_enc: Mapped[str | None] = mapped_column(Text)
    # Campaign tags, as the link the visitor followed had them: marketing data, not personal data.
    utm_source: Mapped[str | None] = mapped_column(String(100), index=True)
    utm_medium: Mapped[str | None] = mapped_column(String(100))
    utm_campaign: Mapped[str | None] = mapped_column(String(100))
    # The page the visitor came from (origin and path), tied to their submission: encrypted.
    referrer_enc: Mapped[str | None] = mapped_column(Text)
    # The address may be mailed about it (not suppressed when it was made): it has a confirmation job.
    sends_confirmation: Mapped[bool] = mapped_column(Boolean, default=False)
    # The submission whose confirmation mail lists this one's requests (itself when it took its
    # mailbox's slot); None while it waits for the end of the mailbox's confirmation window.
    mailed_in: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    person: Mapped[Person] = relationship()
    form_version: Mapped[FormVersion] = relationship()
    requests: Mapped[list[LeadRequest]] = relationship(
        back_populates="submission", order_by="LeadRequest.id", cascade="all, delete-orphan"
    )
    terms: Mapped[list[SubmissionTerm]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class SubmissionTerm(Base):
    """A word of the name or company typed in a submission, as a blind index: the leads page finds
    "Acme" without the details being stored or searched in plaintext. Deleted with the submission."""

    __tablename__ = "submission_terms"
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    term_index: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class LeadRequest(Base):
    """One thing asked for in a submission: the asset, or one purpose. Confirmed by token."""

    __tablename__ = "requests"
    __table_args__ = _NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = _public_id()
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ASSET or PURPOSE
    purpose_key: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    confirmed_at: Mapped[datetime | None]

    submission: Mapped[Submission] = relationship(back_populates="requests")


class Consent(Base):
    """The current state of one person's consent for one purpose of one brand."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("person_id", "brand_id", "purpose_key"), _NEVER_REUSE_IDS)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    # A purpose's audience is one brand's: consent to `newsletter` on forms of two brands is two consents.
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    purpose_key: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    confirmed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship()
    form_version: Mapped[FormVersion] = relationship()
    brand: Mapped[Brand] = relationship()


class Suppression(Base):
    """Addresses (by blind index) that get no mail: erased, or 'this wasn't me'."""

    __tablename__ = "suppressions"
    email_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Repermission(Base):
    """One re-permission email per consent and inactivity cycle (the cycle is its last activity)."""

    __tablename__ = "repermissions"
    __table_args__ = (UniqueConstraint("consent_id", "cycle"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id", ondelete="CASCADE"), index=True)
    cycle: Mapped[str] = mapped_column(String(40))
    lapses_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The funnel and the contact export filter consents by purpose and state.
Index("ix_consents_purpose_state", Consent.purpose_key, Consent.state)


# Keyset pagination of a purpose's current consents, and of a campaign's pending recipients.
Index("ix_consents_purpose_state_person", Consent.purpose_key, Consent.state, Consent.person_id)
