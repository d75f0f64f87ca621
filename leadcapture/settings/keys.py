"""Secrets and keys: the production checks, generated development secrets, data, index and DKIM keys."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from leadcapture.settings.parse import ConfigError, split

_NEW = "create one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."  # a SECRET_KEY


def check_secrets(config: dict[str, Any]) -> None:
    """Production needs every secret given; development keeps generated ones under VAR_DIR."""
    if config["ENV"] == "production":
        for key in ("SECRET_KEY", "DATA_KEY", "LEDGER_KEY", "BASE_URL", "DATABASE_URL"):
            if not config.get(key):
                raise ConfigError(
                    f"LEADCAPTURE_{key} must be set when LEADCAPTURE_ENV=production. "
                    "See README.md, section 'Configuration'."
                )
        if not config["BASE_URL"].startswith("https://"):
            raise ConfigError("LEADCAPTURE_BASE_URL must be an https:// URL in production.")
        if len(config["SECRET_KEY"]) < 43 or len(set(config["SECRET_KEY"])) < 10:  # 32 random bytes, as base64
            raise ConfigError(f"LEADCAPTURE_SECRET_KEY must be 32 random bytes (43+ characters) in production; {_NEW}")
    else:
        var_dir = Path(config["VAR_DIR"])
        var_dir.mkdir(parents=True, exist_ok=True)
        if not config["SECRET_KEY"]:
            config["SECRET_KEY"] = _persistent_secret(var_dir / "secret_key", 32)
        if not config["DATA_KEY"]:
            config["DATA_KEY"] = _persistent_secret(var_dir / "data_key", 32)
        if not config["LEDGER_KEY"]:
            config["LEDGER_KEY"] = _persistent_secret(var_dir / "ledger_key", 32)
    data_keys(config["DATA_KEY"])  # malformed keys are reported now, not at the first encryption
    index_key(config["INDEX_KEY"])
    config["SECRET_KEY_FALLBACKS"] = tuple(split(config["SECRET_KEY_FALLBACKS"]))
    config["LEDGER_KEY_FALLBACKS"] = tuple(split(config["LEDGER_KEY_FALLBACKS"]))
    ledger_keys(config["LEDGER_KEY"], config["LEDGER_KEY_FALLBACKS"])


def check_dkim(config: dict[str, Any]) -> None:
    """Signing needs a selector, a domain and a usable PEM key together; a key file is read now."""
    selector = str(config["DKIM_SELECTOR"]).strip()
    domain = str(config["DKIM_DOMAIN"]).strip()
    key, key_file = config["DKIM_PRIVATE_KEY"], config["DKIM_PRIVATE_KEY_FILE"]
    config["DKIM_SELECTOR"], config["DKIM_DOMAIN"] = selector, domain
    if not (selector or domain or key or key_file):
        return
    if key_file and not key:
        try:
            key = Path(key_file).read_text()
        except OSError as exc:
            raise ConfigError(f"LEADCAPTURE_DKIM_PRIVATE_KEY_FILE: cannot read {key_file}: {exc}") from exc
    if not (selector and domain and key):
        raise ConfigError(
            "DKIM signing needs LEADCAPTURE_DKIM_SELECTOR, LEADCAPTURE_DKIM_DOMAIN and "
            "LEADCAPTURE_DKIM_PRIVATE_KEY (or _KEY_FILE) together."
        )
    pem = key.replace("\\n", "\n").strip()  # a one-line environment value carries its newlines as \n
    try:
        serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"LEADCAPTURE_DKIM_PRIVATE_KEY must be a PEM private key (-----BEGIN …PRIVATE KEY-----): {exc}"
        ) from exc
    config["DKIM_PRIVATE_KEY"] = pem


def data_keys(text: str) -> list[bytes]:
    """Decode LEADCAPTURE_DATA_KEY (comma-separated base64 keys, newest first)."""
    malformed = "LEADCAPTURE_DATA_KEY must be base64 keys, comma-separated."
    wrong_size = (
        "Each LEADCAPTURE_DATA_KEY key must decode to 32 bytes; create one with "
        "`python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`."
    )
    keys = [_decode_key(part, malformed, wrong_size) for part in split(text)]
    if not keys:
        raise ConfigError("LEADCAPTURE_DATA_KEY is empty.")
    return keys


def ledger_keys(current: str, fallbacks: tuple[str, ...]) -> list[bytes]:
    """Decode LEDGER_KEY and LEDGER_KEY_FALLBACKS (base64 32-byte keys): the current key first."""
    wrong_size = (
        "Each LEADCAPTURE_LEDGER_KEY (and _FALLBACKS) key must decode to 32 bytes; create one with "
        "`python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`."
    )
    texts = [str(current).strip(), *fallbacks]
    return [_decode_key(text, "LEADCAPTURE_LEDGER_KEY must be base64 keys.", wrong_size) for text in texts]


def index_key(text: str) -> bytes | None:
    """Decode LEADCAPTURE_INDEX_KEY (one base64 32-byte key), or None when it is not set."""
    value = str(text or "").strip()
    if not value:
        return None
    return _decode_key(
        value,
        "LEADCAPTURE_INDEX_KEY must be one base64 key.",
        "LEADCAPTURE_INDEX_KEY must decode to 32 bytes; print the current one with `leadcapture keys index-key`.",
    )


def _decode_key(text: str, malformed: str, wrong_size: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise ConfigError(malformed) from exc
    if len(key) != 32:
        raise ConfigError(wrong_size)
    return key


def _persistent_secret(path: Path, size: int) -> str:
    if path.exists():
        return path.read_text().strip()
    value = base64.urlsafe_b64encode(secrets.token_bytes(size)).decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it a moment ago
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
