"""The consent ledger: append-only events, chained in order by the sealer, and the head of the chain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadcapture.models.base import Base


class LedgerHead(Base):
    """The chain's tip: the last sealed event's seq and hash (made by the migration, written only by the sealer)."""

    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class LedgerEvent(Base):
    """An append-only consent event. The payload may be erased; its digest stays.

    `id` orders events at insert; the sealer then gives each its place in the chain (`seq`, 1, 2, ...),
    `prev_hash`, `hash` and the id of the key that chained it. Until then those are NULL.
    """

    __tablename__ = "ledger_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, index=True)
    recorded_at: Mapped[datetime]
    occurred_at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    purpose_key: Mapped[str | None] = mapped_column(String(64))
    payload_enc: Mapped[str | None] = mapped_column(Text)
    payload_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    hash_version: Mapped[int | None] = mapped_column(SmallInteger)  # 1: SHA-256 (before the key), 2: HMAC-SHA256
    key_id: Mapped[str | None] = mapped_column(String(16))
