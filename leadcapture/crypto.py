"""Encryption of personal data at rest (AES-GCM) and keyed blind indexes for lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1"


class DecryptionError(ValueError):
    """A value could not be decrypted with any configured key."""


class Vault:
    """Encrypts and decrypts short strings; the first key encrypts, every key decrypts."""

    def __init__(self, keys: list[bytes]):
        if not keys:
            raise ValueError("at least one data key is needed")
        self._keys = [(_key_id(k), AESGCM(_derive(k, b"leadcapture encryption"))) for k in keys]
        # The blind index uses the oldest key so that adding a new key keeps lookups working.
        self._index_key = _derive(keys[-1], b"leadcapture blind index")

    def encrypt(self, plaintext: str | None) -> str | None:
        """Return an encrypted, self-describing token for plaintext (None stays None)."""
        if plaintext is None:
            return None
        kid, aead = self._keys[0]
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, plaintext.encode(), kid.encode())
        return f"{_PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str | None) -> str | None:
        """Return the plaintext of a token made by encrypt."""
        if token is None:
            return None
        try:
            prefix, kid, body = token.split(":", 2)
            raw = base64.urlsafe_b64decode(body)
        except ValueError as exc:
            raise DecryptionError("malformed ciphertext") from exc
        for key_id, aead in self._keys:
            if key_id == kid and prefix == _PREFIX:
                return aead.decrypt(raw[:12], raw[12:], kid.encode()).decode()
        raise DecryptionError(f"no configured data key with id {kid}")

    def needs_rotation(self, token: str | None) -> bool:
        """Tell whether a token was encrypted with another key than the current one."""
        return token is not None and token.split(":", 2)[1] != self._keys[0][0]

    def blind_index(self, value: str) -> str:
        """Keyed hash of a normalised value, for equality lookups without plaintext."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def normalise_email(address: str) -> str:
    """Canonical form of an address for lookups: trimmed, lower-cased."""
    return address.strip().lower()


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(key)


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"leadcapture key id" + key).hexdigest()[:8]
