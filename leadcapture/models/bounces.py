"""Bounces and complaints that came back for our messages (one row per report and recipient)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadcapture.models.base import Base, utcnow

# What a report says happened: a permanent failure (5.x.x), a temporary one (4.x.x), a complaint.
HARD, SOFT, COMPLAINT = "hard", "soft", "complaint"


class Bounce(Base):
    """One bounce or complaint, as received; soft bounces of an address are counted from these rows.

    The dedupe key (the report's own id, or the provider's event id) makes a report that comes
    twice (an IMAP poll after a crash, a webhook retried) count once.
    """

    __tablename__ = "bounces"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # hard, soft, complaint
    source: Mapped[str] = mapped_column(String(16))  # smtp, imap, postmark, mailgun, sendgrid
    message_row_id: Mapped[int | None] = mapped_column(Integer)  # the messages row it names, if known
    # No foreign key: erasure deletes a person's rows itself, and a report may name nobody we know.
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    email_index: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))  # the enhanced status code, e.g. 5.1.1
    detail_enc: Mapped[str | None] = mapped_column(Text)  # the diagnostic (may name the address)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# Soft bounces of one address within the period.
Index("ix_bounces_email_kind_received", Bounce.email_index, Bounce.kind, Bounce.received_at)
