"""Database tables. Personal data columns end in _enc (encrypted) or _index (keyed hash)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Requests and consents move through these states.
PENDING, CONFIRMED, DROPPED, WITHDRAWN, EXPIRED = (
    "pending",
    "confirmed",
    "dropped",
    "withdrawn",
    "expired",
)
ASSET, PURPOSE = "asset", "purpose"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and always returns aware UTC datetimes (SQLite too)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given where UTC was expected")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Asset(Base):
    """A downloadable file (the whitepaper), stored in the database so every web node has it."""

    __tablename__ = "assets"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Form(Base):
    __tablename__ = "forms"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("form_versions.id", use_alter=True, name="fk_forms_current_version")
    )
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    current_version: Mapped[FormVersion | None] = relationship(foreign_keys=[current_version_id], post_update=True)


class FormVersion(Base):
    """An immutable snapshot of a form definition; consents point at the one the person saw."""

    __tablename__ = "form_versions"
    __table_args__ = (
        UniqueConstraint("form_id", "content_hash"),
        UniqueConstraint("form_id", "number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"))
    number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    definition_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    form: Mapped[Form] = relationship(foreign_keys=[form_id])

    @property
    def definition(self) -> dict[str, Any]:
        return json.loads(self.definition_json)

    def purpose(self, key: str) -> dict[str, Any] | None:
        """The purpose with this key in this version, if any."""
        return next((p for p in self.definition["purposes"] if p["key"] == key), None)


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    email_enc: Mapped[str] = mapped_column(Text)
    name_enc: Mapped[str | None] = mapped_column(Text)
    company_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_confirmation_at: Mapped[datetime | None]


class Submission(Base):
    """One form post: what the person asked for, where and how."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    language: Mapped[str] = mapped_column(String(8))
    page_url: Mapped[str | None] = mapped_column(Text)
    ip_enc: Mapped[str | None] = mapped_column(Text)
    user_agent_enc: Mapped[str | None] = mapped_column(Text)
    # Name, company and phone as submitted; copied to the person only on confirmation, so a
    # third party typing someone's address cannot overwrite their details.
    fields_enc: Mapped[str | None] = mapped_column(Text)
    sends_confirmation: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    person: Mapped[Person] = relationship()
    form_version: Mapped[FormVersion] = relationship()
    requests: Mapped[list[Request]] = relationship(
        back_populates="submission", order_by="Request.id", cascade="all, delete-orphan"
    )


class Request(Base):
    """One thing asked for in a submission: the asset, or one purpose. Confirmed by token."""

    __tablename__ = "requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ASSET or PURPOSE
    purpose_key: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    confirmed_at: Mapped[datetime | None]

    submission: Mapped[Submission] = relationship(back_populates="requests")


class Consent(Base):
    """The current state of one person's consent for one purpose."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("person_id", "purpose_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    purpose_key: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    confirmed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship()
    form_version: Mapped[FormVersion] = relationship()


class Suppression(Base):
    """Addresses (by blind index) that get no mail: erased, or 'this wasn't me'."""

    __tablename__ = "suppressions"
    email_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerHead(Base):
    """The single row holding the chain's tip; updating it serialises appends."""

    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class LedgerEvent(Base):
    """An append-only, hash-chained consent event. The payload may be erased; its digest stays."""

    __tablename__ = "ledger_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    purpose_key: Mapped[str | None] = mapped_column(String(64))
    payload_enc: Mapped[str | None] = mapped_column(Text)
    payload_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class OutboxJob(Base):
    """A job written in the same transaction as the change causing it; a relay publishes it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    args_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    # issue 3 (revision 0003): set when a worker finished the job; a published job without it
    # for OUTBOX_REDELIVER_AFTER seconds is published again (a broker that lost it, e.g. restarted empty).
    done_at: Mapped[datetime | None] = mapped_column(index=True)


class Message(Base):
    """One email we send, keyed so a retried or duplicated job never sends a second copy."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    purpose_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # sending, sent, skipped, failed
    message_id: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


# --- issue 5: scheduler leases, re-permission mail, key bookkeeping -------------------------


class Lock(Base):
    """A named lease: the periodic jobs run where the current holder is (one place at a time)."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class Repermission(Base):
    """One re-permission email per consent and inactivity cycle (the cycle is its last activity)."""

    __tablename__ = "repermissions"
    __table_args__ = (UniqueConstraint("consent_id", "cycle"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id", ondelete="CASCADE"), index=True)
    cycle: Mapped[str] = mapped_column(String(40))
    lapses_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Setting(Base):
    """Small facts the service checks across restarts, e.g. the blind-index key id."""

    __tablename__ = "settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# --- admin accounts and audit log (issue 4) ---------------------------------------------------

ROLES = ("marketer", "privacy", "admin")


class AdminUser(Base):
    """A person who may use the admin; the password is stored as an argon2id hash."""

    __tablename__ = "admin_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Changes when the password changes or the account is disabled: old sessions stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what to which target, when and from where; failed logins feed the login throttle."""

    __tablename__ = "admin_audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(254))  # the account's email at the time
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored (the token is shown once)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in the list, to tell tokens apart
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


# The funnel and the contact export filter consents by purpose and state.
Index("ix_consents_purpose_state", Consent.purpose_key, Consent.state)
# --- issue 6: content streams and campaigns -------------------------------------------------

DRAFT, SENDING_CAMPAIGN, PAUSED, DONE = "draft", "sending", "paused", "done"


class ContentItem(Base):
    """A piece of content for one purpose, with a translation per language."""

    __tablename__ = "content_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    purpose_key: Mapped[str] = mapped_column(String(64), index=True)
    welcome: Mapped[bool] = mapped_column(Boolean, default=False)  # sent when the purpose is confirmed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    translations: Mapped[list[ContentTranslation]] = relationship(
        back_populates="item", order_by="ContentTranslation.id", cascade="all, delete-orphan"
    )


class ContentTranslation(Base):
    """The subject and body of a content item in one language; HTML and text rendered once."""

    __tablename__ = "content_translations"
    __table_args__ = (UniqueConstraint("item_id", "language"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(255))
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)

    item: Mapped[ContentItem] = relationship(back_populates="translations")


class Campaign(Base):
    """One send of a content item to everyone whose consent for its purpose is current."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id"))
    purpose_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)  # draft, sending, paused, done
    # Keyset position of the fan-out: recipients up to this person id have a row.
    cursor_person_id: Mapped[int] = mapped_column(Integer, default=0)
    fanout_done: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    item: Mapped[ContentItem] = relationship()


class CampaignRecipient(Base):
    """One (campaign, person): created before sending, so each is sent at most once."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (UniqueConstraint("campaign_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # No foreign key: erasing a person leaves an anonymous count behind, nothing personal.
    person_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)  # pending, sent, skipped, failed


# Keyset pagination of a purpose's current consents, and of a campaign's pending recipients.
Index("ix_consents_purpose_state_person", Consent.purpose_key, Consent.state, Consent.person_id)
Index(
    "ix_campaign_recipients_status",
    CampaignRecipient.campaign_id,
    CampaignRecipient.status,
    CampaignRecipient.person_id,
)
