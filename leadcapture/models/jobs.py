"""Infrastructure: the transactional outbox, named leases and key bookkeeping."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadcapture.models.base import Base, utcnow


class OutboxJob(Base):
    """A job written in the same transaction as the change causing it; a relay publishes it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    args_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A delayed job (a confirmation waiting for its mailbox's window to end) is published from then on.
    not_before: Mapped[datetime | None]
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    # Set when a worker finished the job; a published job without it for OUTBOX_REDELIVER_AFTER
    # seconds is published again (a broker that lost it, e.g. restarted empty).
    done_at: Mapped[datetime | None] = mapped_column(index=True)
    # Set on a row that can never be published (an unknown job name, arguments that are not a
    # JSON list): the relay passes over it instead of stopping at it, and says why here.
    failed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Lock(Base):
    """A named lease: the periodic jobs run where the current holder is (one place at a time)."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class Setting(Base):
    """Small facts the service checks across restarts, e.g. the blind-index key id."""

    __tablename__ = "settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
