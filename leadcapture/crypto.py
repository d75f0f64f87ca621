"""Encryption of personal data at rest (AES-GCM) and keyed blind indexes for lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1"


class DecryptionError(ValueError):
    """A value could not be decrypted with any configured key."""


class Vault:
    """Encrypts and decrypts short strings; the first key encrypts, every key decrypts."""

    def __init__(self, keys: list[bytes], index_key: bytes | None = None):
        if not keys:
            raise ValueError("at least one data key is needed")
        self._keys = [(_key_id(k), AESGCM(_derive(k, b"leadcapture encryption"))) for k in keys]
        # The blind index never changes with data-key rotation: the suppression list holds only
        # hashes of erased addresses, which cannot be recomputed. By default it is derived from
        # the oldest data key; LEADCAPTURE_INDEX_KEY pins it so that key can be retired.
        self._index_key = index_key if index_key is not None else _derive(keys[-1], b"leadcapture blind index")

    @property
    def current_key_id(self) -> str:
        """The id of the key new values are encrypted with."""
        return self._keys[0][0]

    @property
    def key_ids(self) -> list[str]:
        """Ids of every configured data key, newest first."""
        return [kid for kid, _aead in self._keys]

    @property
    def index_key(self) -> bytes:
        """The blind-index HMAC key (to pin it in LEADCAPTURE_INDEX_KEY)."""
        return self._index_key

    @property
    def index_key_id(self) -> str:
        """A fingerprint of the blind-index key, safe to store and print."""
        return _key_id(b"index" + self._index_key)

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
                try:
                    return aead.decrypt(raw[:12], raw[12:], kid.encode()).decode()
                except InvalidTag as exc:  # the ciphertext was changed, or cut short
                    raise DecryptionError(f"ciphertext fails authentication under key {kid}") from exc
        raise DecryptionError(f"no configured data key with id {kid}")

    def needs_rotation(self, token: str | None) -> bool:
        """Tell whether a token was encrypted with another key than the current one."""
        return token is not None and not token.startswith(self.current_prefix)

    @property
    def current_prefix(self) -> str:
        """The prefix every token made with the current key starts with."""
        return f"{_PREFIX}:{self._keys[0][0]}:"

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
