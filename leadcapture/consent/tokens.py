"""Signed tokens (itsdangerous): one secret, a salt per kind, expiry checked by the verifier."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

CONFIRM = "confirm"  # {"r": request_id} or {"s": submission_id} (confirm all)
UNSUBSCRIBE = "unsubscribe"  # {"p": person_id, "k": purpose_key} or {"s": submission_id}
DOWNLOAD = "download"  # {"r": request_id}
PREFERENCES = "preferences"  # {"p": person_id}
FORM = "form"  # {"f": slug, "t": unix time shown}: cookie-less CSRF token of a public form

KINDS = (CONFIRM, UNSUBSCRIBE, DOWNLOAD, PREFERENCES, FORM)
# Opt-out and preference links must keep working for as long as a message may be read.
_NEVER_EXPIRE = {UNSUBSCRIBE, PREFERENCES}


class TokenError(Exception):
    """A token that cannot be used."""


class TokenInvalid(TokenError):
    """Tampered, truncated or signed for another kind."""


class TokenExpired(TokenError):
    """Signed correctly but older than its kind allows."""


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
