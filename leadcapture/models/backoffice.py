"""Admin accounts, their audit log and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadcapture.models.base import Base, utcnow

ROLES = ("marketer", "privacy", "admin")
# What an API token may do; a token holds a space-separated subset.
MAY_CONTACT_READ, CONTACTS_READ = "may-contact:read", "contacts:read"
API_SCOPES = (MAY_CONTACT_READ, CONTACTS_READ)


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
    # A password someone else chose or generated (created, reset): replaced at the next sign-in.
    password_must_change: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    totp_secret: Mapped[str | None] = mapped_column(Text)  # encrypted with the data key; None: no second factor
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # a code is accepted once


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
    scopes: Mapped[str] = mapped_column(String(255), default=" ".join(API_SCOPES))

    def has_scope(self, scope: str) -> bool:
        """Whether this token may do what scope names."""
        return scope in self.scopes.split()


class UsedFormToken(Base):
    """A form token that has stored a submission: the same token stores nothing again until it expires."""

    __tablename__ = "used_form_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
