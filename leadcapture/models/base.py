"""The declarative base, the UTC datetime type and the states requests and consents move through."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Requests and consents move through these states.
PENDING, CONFIRMED, DROPPED, WITHDRAWN, EXPIRED = (
    "pending",
    "confirmed",
    "dropped",
    "withdrawn",
    "expired",
)
# An imported consent without enough proof: it gets only a re-permission mail until the person confirms.
UNVERIFIED = "unverified"


ASSET, PURPOSE = "asset", "purpose"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_public_id() -> str:
    """A fresh public id: 128 random bits, URL-safe (22 characters). Links name rows by it."""
    return secrets.token_urlsafe(16)


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
