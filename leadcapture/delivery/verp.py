"""VERP return paths: each message's envelope sender names its `messages` row, signed.

A bounce or a complaint comes back to `bounces+<token>@<bounce domain>`; the token is the row id
and a truncated HMAC of it (keyed from SECRET_KEY, so nobody can forge a bounce for a message we
did not send), in lower-case letters and digits because some mail systems fold the local part.
The SECRET_KEY_FALLBACKS still verify, so tokens in messages sent before a key rotation work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from leadcapture.settings import Settings

LOCAL_PREFIX = "bounces+"
_SIGNATURE_BYTES = 10  # 80 bits: 16 base32 characters


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"leadcapture.verp", hashlib.sha256).digest()


def _signature(secret: str, row_id: int) -> str:
    digest = hmac.digest(_key(secret), str(row_id).encode(), "sha256")[:_SIGNATURE_BYTES]
    return base64.b32encode(digest).decode().lower()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def token(settings: Settings, row_id: int) -> str:
    """The signed token of a message row: `<id in base 36>-<signature>`."""
    return f"{_base36(row_id)}-{_signature(settings.secret_key, row_id)}"


def return_path(settings: Settings, row_id: int) -> str:
    """The envelope sender of the message in this row: bounces+<token>@<bounce domain>."""
    return f"{LOCAL_PREFIX}{token(settings, row_id)}@{settings.bounce_domain}"


def row_of_token(settings: Settings, text: str) -> int | None:
    """The message row a token names, or None if it is malformed or not signed by us."""
    number, dash, signature = text.strip().lower().partition("-")
    if not dash or not number or len(number) > 13 or not number.isalnum() or not number.isascii():
        return None
    row_id = int(number, 36)
    for secret in (settings.secret_key, *settings.secret_key_fallbacks):
        if hmac.compare_digest(signature, _signature(secret, row_id)):
            return row_id
    return None


def row_of_address(settings: Settings, address: str) -> int | None:
    """The message row a VERP address of our bounce domain names, or None for any other address."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower().rstrip(".") != settings.bounce_domain.lower():
        return None
    if not local.lower().startswith(LOCAL_PREFIX):
        return None
    return row_of_token(settings, local[len(LOCAL_PREFIX) :])
