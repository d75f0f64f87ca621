"""Brands: the controllers forms belong to, with their sender, look and sales address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadcapture.models.base import Base, utcnow

# The supervisory authority named in the rights notice unless a brand names its own.
DEFAULT_AUTHORITY_NAME = "Autoriteit Persoonsgegevens"
DEFAULT_AUTHORITY_URL = "https://www.autoriteitpersoonsgegevens.nl"
DEFAULT_COLOUR = "#1f4e79"


class Brand(Base):
    """A controller: forms belong to one, and consent to a purpose is an audience of one brand."""

    __tablename__ = "brands"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    controller: Mapped[str] = mapped_column(String(500))  # name, address, privacy contact, as in notices
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    sender_address: Mapped[str] = mapped_column(String(254), default="")  # empty: LEADCAPTURE_MAIL_FROM
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    sales_address: Mapped[str] = mapped_column(String(254), default="")  # empty: no lead notifications
    colour: Mapped[str] = mapped_column(String(7), default=DEFAULT_COLOUR)
    authority_name: Mapped[str] = mapped_column(String(200), default=DEFAULT_AUTHORITY_NAME)
    authority_url: Mapped[str] = mapped_column(Text, default=DEFAULT_AUTHORITY_URL)
    # up to 200 KB, read only by the logo's own URL: not loaded with the brand every mail joins in
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(String(32))  # set exactly when there is a logo
    logo_version: Mapped[int] = mapped_column(Integer, default=0)  # in the logo URL, so caches refresh
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def has_logo(self) -> bool:
        return self.logo_type is not None
