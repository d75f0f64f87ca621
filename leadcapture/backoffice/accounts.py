"""Admin accounts: argon2 passwords, roles, the audit log and a login throttle kept in it."""

from __future__ import annotations

import hashlib
import json
import secrets
import unicodedata
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadcapture.models import ROLES, AdminUser, ApiToken, AuditEntry, utcnow

# What each role may do. "admin" may do everything, including users and the audit log.
PERMISSIONS: dict[str, set[str]] = {
    "marketer": {"forms", "funnel", "contacts", "leads", "campaigns", "import"},
    "privacy": {"people", "erase", "register"},
    "admin": {
        *("forms", "funnel", "contacts", "leads", "campaigns", "import"),
        *("people", "erase", "register", "users", "audit", "tokens", "webhooks", "brands"),
    },
}
MIN_PASSWORD_LENGTH = 12
LOGIN_FAILED = "login.failed"
# At most this many failed logins per account, and per IP address, in the window.
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 20
FAILURE_WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()
# Verified when the email is unknown, so a wrong address takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A user cannot be created or changed; the message says why."""


def may(role: str | None, permission: str) -> bool:
    """Whether a role has a permission."""
    return permission in PERMISSIONS.get(role or "", set())


def _fold(text: str) -> str:
    # NFKC maps look-alikes such as a fullwidth "ｅ" to "e"; case-folding goes further than lower().
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text.strip()).casefold())


def normalise(email: str) -> str:
    """The account email in its one stored form: NFKC, case-folded, email-validator's normal form."""
    try:
        return _fold(validate_email(_fold(email), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise AccountError(f"{email!r} is not a valid email address: {exc}") from exc


def login_key(email: str) -> str:
    """What a typed sign-in address is looked up and counted by, so every spelling of one account is one."""
    try:
        return normalise(email)
    except AccountError:
        return _fold(email)[:254]  # no account has it, but its failures still count together


def check_password(password: str) -> None:
    """Refuse passwords that are too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")


def generate_password() -> str:
    """A random one-time password (about 120 bits)."""
    return secrets.token_urlsafe(15)


def create_user(session: Session, email: str, role: str, password: str, *, one_time: bool = False) -> AdminUser:
    """Add an account; refuses unknown roles, short passwords and addresses already in use.

    A `one_time` password (generated, or chosen by someone else) must be changed at the first sign-in.
    """
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    email = normalise(email)
    check_password(password)
    if session.scalar(select(AdminUser).where(AdminUser.email == email)) is not None:
        raise AccountError(f"a user with email {email} already exists")
    user = AdminUser(
        email=email, role=role, password_hash=_hasher.hash(password), session_epoch=0, password_must_change=one_time
    )
    session.add(user)
    session.flush()
    return user


def end_sessions(user: AdminUser) -> None:
    """Sign the account out everywhere: every session cookie issued so far stops working."""
    user.session_epoch += 1


def set_password(user: AdminUser, password: str, *, one_time: bool = False) -> None:
    """Change the password and end every existing session of the account.

    A `one_time` password (a reset by an admin or the CLI) must be changed at the next sign-in.
    """
    check_password(password)
    user.password_hash = _hasher.hash(password)
    user.password_must_change = one_time
    end_sessions(user)


def password_matches(user: AdminUser, password: str) -> bool:
    """Whether this is the account's password (a signed-in person proving it again)."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def change_own_password(user: AdminUser, current: str, new: str) -> None:
    """A signed-in person replaces their password: they prove the current one, the new one differs."""
    if not password_matches(user, current):
        raise AccountError("the current password is not right")
    if new == current:
        raise AccountError("choose a password other than the current one")
    set_password(user, new)


def authenticate(session: Session, email: str, password: str) -> AdminUser | None:
    """The active account with this email and password, or None (same cost either way)."""
    user = session.scalar(select(AdminUser).where(AdminUser.email == login_key(email)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def throttled(session: Session, email: str, client: str | None) -> bool:
    """Whether too many logins failed lately for this account or from this client.

    `client` is the address as the rate limits count it (an IPv6 client per /64).
    """
    since = utcnow() - FAILURE_WINDOW
    recent = (
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == LOGIN_FAILED, AuditEntry.occurred_at >= since)
    )
    per_account = session.scalar(recent.where(AuditEntry.target == login_key(email)[:255])) or 0
    per_client = session.scalar(recent.where(AuditEntry.ip == client)) or 0 if client else 0
    return per_account >= MAX_FAILURES_PER_ACCOUNT or per_client >= MAX_FAILURES_PER_IP


def record_failed_login(session: Session, email: str, client: str | None) -> None:
    """Audit a failed sign-in under the keys `throttled` counts by."""
    audit(session, None, LOGIN_FAILED, login_key(email), ip=client)


def audit(
    session: Session,
    user: AdminUser | None,
    action: str,
    target: str | None = None,
    *,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit entry in the caller's transaction."""
    entry = AuditEntry(
        user_id=user.id if user else None,
        actor=user.email if user else "-",
        action=action,
        target=(target or None) and target[:255],
        ip=ip,
        detail=json.dumps(detail, sort_keys=True) if detail else None,
    )
    session.add(entry)
    return entry


API_TOKEN_PREFIX = "lc_"  # noqa: S105  (a prefix, not a secret)


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits: a plain SHA-256 cannot be brute-forced, and lookups stay fast.
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, name: str, created_by: str) -> tuple[ApiToken, str]:
    """A new API token; the plaintext is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError("give the token a name of 1 to 100 characters (what uses it)")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=_token_hash(token), prefix=token[:10], created_by=created_by)
    session.add(row)
    session.flush()
    return row, token


def find_api_token(session: Session, token: str) -> ApiToken | None:
    """The active token row for a presented bearer token, if any."""
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row
