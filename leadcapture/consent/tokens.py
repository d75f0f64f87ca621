"""Signed tokens (itsdangerous): one secret, a salt per kind, expiry checked by the verifier.

The links in messages carry one of the small typed payloads below. On the wire a payload is a
dict with one-letter keys ("r" a request, "s" a submission, "p" a person, "k" a purpose key).
Rows are named by their public id (random, never reused), so a link can only ever act on the
row it was made for. Tokens of the older format named rows by their integer id, which a new row
can take over once the old one is deleted: they are refused as TokenRetired.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlalchemy.orm import Session

from leadcapture.db import UPSERTS
from leadcapture.models import UsedFormToken, utcnow

CONFIRM = "confirm"  # ConfirmRequest or ConfirmSubmission
UNSUBSCRIBE = "unsubscribe"  # Withdraw or NotMe
DOWNLOAD = "download"  # Download
PREFERENCES = "preferences"  # Preferences
FORM = "form"  # {"f": slug, "t": unix time shown, "n": nonce, "v": version id shown}: a public form's CSRF token

KINDS = (CONFIRM, UNSUBSCRIBE, DOWNLOAD, PREFERENCES, FORM)
# Opt-out and preference links must keep working for as long as a message may be read.
_NEVER_EXPIRE = {UNSUBSCRIBE, PREFERENCES}
MAX_TOKEN_LENGTH = 1024  # ours are under 200 characters; longer ones are refused before any work
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # models.new_public_id: 16 random bytes, URL-safe base64


class TokenError(Exception):
    """A token that cannot be used."""


class TokenInvalid(TokenError):
    """Tampered, truncated, signed for another kind, or carrying a payload we never make."""


class TokenExpired(TokenError):
    """Signed correctly but older than its kind allows."""


class TokenRetired(TokenError):
    """Signed correctly, but naming rows by integer id: nothing proves it still names the same row."""


@dataclass(frozen=True)
class _Payload:
    kind: ClassVar[str]
    letters: ClassVar[tuple[str, ...]]  # the wire key of each field, in order

    def wire(self) -> dict[str, Any]:
        """The payload as it is signed."""
        return dict(zip(self.letters, astuple(self), strict=True))


@dataclass(frozen=True)
class ConfirmRequest(_Payload):
    """Confirm one request (a purpose, or the whitepaper)."""

    kind, letters = CONFIRM, ("r",)
    request_public_id: str


@dataclass(frozen=True)
class ConfirmSubmission(_Payload):
    """Confirm every pending request of a submission."""

    kind, letters = CONFIRM, ("s",)
    submission_public_id: str


@dataclass(frozen=True)
class NotMe(_Payload):
    """'This wasn't me': drop a submission someone else made with this address."""

    kind, letters = UNSUBSCRIBE, ("s",)
    submission_public_id: str


@dataclass(frozen=True)
class Withdraw(_Payload):
    """Withdraw one purpose of a person, or every purpose (purpose_key None), of one brand (None: of every brand,
    as links made before brands do)."""

    kind, letters = UNSUBSCRIBE, ("p", "k", "b")
    person_public_id: str
    purpose_key: str | None
    brand_id: int | None = None

    def wire(self) -> dict[str, Any]:
        """The payload as it is signed; without a brand, exactly as links made before brands."""
        wire = super().wire()
        if self.brand_id is None:
            del wire["b"]
        return wire


@dataclass(frozen=True)
class Preferences(_Payload):
    """Open a person's preference centre."""

    kind, letters = PREFERENCES, ("p",)
    person_public_id: str


@dataclass(frozen=True)
class Download(_Payload):
    """Download the whitepaper of a confirmed asset request."""

    kind, letters = DOWNLOAD, ("r",)
    request_public_id: str


LinkPayload = ConfirmRequest | ConfirmSubmission | NotMe | Withdraw | Preferences | Download

# The payloads a token of each kind may hold, told apart by their first letter (the first one there wins).
_PAYLOADS: dict[str, tuple[type[LinkPayload], ...]] = {
    CONFIRM: (ConfirmSubmission, ConfirmRequest),
    UNSUBSCRIBE: (NotMe, Withdraw),
    DOWNLOAD: (Download,),
    PREFERENCES: (Preferences,),
}


def parse(kind: str, data: dict[str, Any]) -> LinkPayload:
    """The typed payload of a loaded token of a link kind; TokenInvalid if it is not one we make.

    A validly signed but odd payload (old code, a bug) is refused here, never met by a view;
    one of the older format, naming a row by its integer id, is TokenRetired.
    """
    ids = [data[letter] for letter in "rsp" if letter in data]
    if any(type(value) is int for value in ids):
        raise TokenRetired(kind)
    if not all(isinstance(value, str) and _PUBLIC_ID.fullmatch(value) for value in ids):
        raise TokenInvalid(kind)
    key = data.get("k")
    if key is not None and not isinstance(key, str):
        raise TokenInvalid(kind)
    brand = data.get("b")
    if brand is not None and type(brand) is not int:
        raise TokenInvalid(kind)
    values = {**data, "k": key or None}  # an empty key, like None, means every purpose
    for payload in _PAYLOADS.get(kind, ()):
        if payload.letters[0] in data:
            return payload(*(values.get(letter) for letter in payload.letters))
    raise TokenInvalid(kind)


class Tokens:
    """Makes and checks tokens for every kind with the app's secret keys."""

    def __init__(self, secret_key: str, fallbacks: list[str] | None = None, max_ages=None):
        keys = [*reversed(fallbacks or []), secret_key]  # itsdangerous signs with the last
        self._max_ages: dict[str, int] = dict(max_ages or {})
        self._serializers = {
            kind: (
                URLSafeSerializer(keys, salt=f"leadcapture.{kind}")
                if kind in _NEVER_EXPIRE
                else URLSafeTimedSerializer(keys, salt=f"leadcapture.{kind}")
            )
            for kind in KINDS
        }

    def make(self, kind: str, payload: dict[str, Any]) -> str:
        """A URL-safe signed token for payload."""
        return self._serializers[kind].dumps(payload)

    def load(self, kind: str, token: str) -> dict[str, Any]:
        """The payload of a valid token, or TokenInvalid / TokenExpired."""
        serializer = self._serializers[kind]
        try:
            if isinstance(serializer, URLSafeTimedSerializer):
                payload = serializer.loads(token, max_age=self._max_ages.get(kind))
            else:
                payload = serializer.loads(token)
        except SignatureExpired as exc:
            raise TokenExpired(kind) from exc
        except (BadSignature, UnicodeError, ValueError) as exc:
            raise TokenInvalid(kind) from exc
        if not isinstance(payload, dict):
            raise TokenInvalid(kind)
        return payload

    def sign(self, payload: LinkPayload) -> str:
        """The token a link carries for payload."""
        return self.make(payload.kind, payload.wire())

    def read(self, kind: str, token: str) -> LinkPayload:
        """The typed payload of a link's token of kind, or TokenInvalid / TokenExpired / TokenRetired."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid(kind)
        return parse(kind, self.load(kind, token))


def spend_form_token(session: Session, token: str, max_age: int) -> bool:
    """Record that a form token has stored a submission; False if it already has (a replay).

    One INSERT that does nothing when the token is there: a concurrent replay waits for the first
    transaction and then finds it. Call it before anything else is written in the transaction.
    """
    conn = session.connection()
    digest = hashlib.sha256(token.encode()).hexdigest()
    values = {"token_hash": digest, "expires_at": utcnow() + timedelta(seconds=max_age)}
    return conn.execute(_SPEND[conn.dialect.name], values).first() is not None


_SPENT = UsedFormToken.__table__
_SPEND = {db: insert(_SPENT).on_conflict_do_nothing().returning(_SPENT.c.token_hash) for db, insert in UPSERTS.items()}


def purge_spent_form_tokens(session: Session, now: datetime) -> int:
    """Forget spent form tokens past their age: a token that old is refused by its signature anyway."""
    return session.execute(delete(UsedFormToken).where(UsedFormToken.expires_at < now)).rowcount
