"""Form definitions: forms, their immutable versions and the assets (whitepapers) they offer."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadcapture.models.base import Base, utcnow
from leadcapture.models.brands import Brand


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
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)

    brand: Mapped[Brand] = relationship()
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
        """The definition, parsed once per instance (a version never changes; treat it as read-only)."""
        parsed = self.__dict__.get("_parsed")
        if parsed is None or parsed[0] is not self.definition_json:
            parsed = self.__dict__["_parsed"] = (self.definition_json, json.loads(self.definition_json))
        return parsed[1]

    def purpose(self, key: str) -> dict[str, Any] | None:
        """The purpose with this key in this version, if any."""
        return next((p for p in self.definition["purposes"] if p["key"] == key), None)


class FunnelCount(Base):
    """How often one step of a form's funnel happened on a day: views, submissions, confirmations,
    downloads and withdrawals, per purpose ("asset" for the whitepaper, "" for the form itself).

    The rows hold no personal data, so an erasure never changes the figures. They are only ever
    inserted (no row is a hot spot that submissions would queue on); the scheduler sums the rows
    of past days into one per day and step.
    """

    __tablename__ = "funnel_counts"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"))
    purpose_key: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))
    # Where the visitors came from: utm_source, "direct" without one, "" where it is not counted
    # (withdrawals, downloads, and the counts from before sources were recorded).
    source: Mapped[str] = mapped_column(String(100), default="", server_default="")
    count: Mapped[int] = mapped_column(Integer)


Index("ix_funnel_counts_form_day", FunnelCount.form_id, FunnelCount.day)
