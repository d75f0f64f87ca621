"""Sent messages (one row per message, the at-most-once record) and content campaigns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadcapture.models.base import PENDING, Base, utcnow

# A message's states. CLAIMED: a job holds it and may be handing it to the transport right now;
# RETRY_PENDING: the transport failed transiently and the job's retry will take it again;
# SENT, SKIPPED (the gate was shut), FAILED: final, no job ever sends it again.
CLAIMED, RETRY_PENDING, SENT, SKIPPED, FAILED = "claimed", "retry_pending", "sent", "skipped", "failed"
FINAL = frozenset({SENT, SKIPPED, FAILED})
# Feedback on a sent message (Message.feedback).
BOUNCED, SOFT_BOUNCED, COMPLAINED = "bounced", "soft_bounced", "complained"


class Message(Base):
    """One email we send, keyed so a retried or duplicated job never sends a second copy.

    The row is the lock: the job whose conditional INSERT or UPDATE sets it CLAIMED sends it.
    """

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    purpose_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # claimed, retry_pending, sent, skipped, failed
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)  # a report names it
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # Who holds the claim (the broker's id of the job) and since when: a redelivery of the same
    # job, or any job once the claim is older than the engine's lease, may take it over.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    # What came back after sending: bounced (permanently), soft_bounced, complained; None: nothing.
    feedback: Mapped[str | None] = mapped_column(String(16))
    feedback_at: Mapped[datetime | None]


DRAFT, SENDING_CAMPAIGN, PAUSED, DONE, CANCELLED = "draft", "sending", "paused", "done", "cancelled"


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
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))  # the audience: a purpose of a brand
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)  # draft, sending, paused, done, cancelled
    scheduled_at: Mapped[datetime | None]  # a draft with a time starts by itself then (the scheduler)
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


Index(
    "ix_campaign_recipients_status",
    CampaignRecipient.campaign_id,
    CampaignRecipient.status,
    CampaignRecipient.person_id,
)
