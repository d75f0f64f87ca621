"""Settings: defaults, then the LEADCAPTURE_* environment, then a test mapping."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message tells the operator what to do."""


DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "VAR_DIR": "var",
    "DATABASE_URL": "",  # empty: sqlite:///<VAR_DIR>/leadcapture.db
    "BROKER_URL": "",  # empty: in-process worker
    "MAIL_URL": "",  # empty: Maildir outbox under VAR_DIR
    "SECRET_KEY": "",
    "SECRET_KEY_FALLBACKS": [],
    "DATA_KEY": "",
    "BASE_URL": "http://127.0.0.1:5000",
    "MAIL_FROM": "leadcapture <noreply@localhost>",
    "LIST_UNSUBSCRIBE_MAILTO": "",  # optional address for RFC 2369 mailto unsubscribe
    "CONFIRM_MAX_AGE": 7 * 24 * 3600,
    "DOWNLOAD_MAX_AGE": 30 * 24 * 3600,
    "CONFIRMATION_WINDOW": 15 * 60,  # at most one confirmation per address per window
    "UNCONFIRMED_RETENTION_DAYS": 30,
    "IP_MINIMISATION": "truncate",  # "full", "truncate" (/24, /48) or "none" (not stored)
    "MAX_FIELD_LENGTH": 200,
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "MIN_FILL_SECONDS": 2,
    "WORKER_THREADS": 2,
    "OUTBOX_RELAY_INTERVAL": 2.0,
    # issue 6: campaigns, throttling and DKIM
    "SEND_RATE": 0,  # campaign messages per second per relay and sending domain; 0 = no limit
    "SEND_BURST": 0,  # messages that may go at once; 0 = one second's worth
    "REDIS_URL": "",  # shared throttle state; empty = the broker's Redis, if any, else in-process
    "REDIS_PREFIX": "leadcapture:",
    "DKIM_SELECTOR": "",
    "DKIM_DOMAIN": "",
    "DKIM_PRIVATE_KEY": "",  # PEM; or a path in DKIM_PRIVATE_KEY_FILE
    "DKIM_PRIVATE_KEY_FILE": "",
}

_INT_KEYS = {
    "CONFIRM_MAX_AGE",
    "DOWNLOAD_MAX_AGE",
    "CONFIRMATION_WINDOW",
    "UNCONFIRMED_RETENTION_DAYS",
    "MAX_FIELD_LENGTH",
    "MAX_CONTENT_LENGTH",
    "MIN_FILL_SECONDS",
    "WORKER_THREADS",
}


def load_config(app: Flask, test_config: dict[str, Any] | None = None) -> None:
    """Fill app.config from defaults, the environment (or test_config) and derived values."""
    app.config.update(DEFAULTS)
    if test_config is None:
        app.config.from_prefixed_env("LEADCAPTURE", loads=str)
    else:
        app.config.update(test_config)
    for key in _INT_KEYS:
        app.config[key] = _as_int(key, app.config[key])
    app.config["OUTBOX_RELAY_INTERVAL"] = float(app.config["OUTBOX_RELAY_INTERVAL"])
    if isinstance(app.config["SECRET_KEY_FALLBACKS"], str):
        app.config["SECRET_KEY_FALLBACKS"] = _split(app.config["SECRET_KEY_FALLBACKS"])

    var_dir = Path(app.config["VAR_DIR"]).resolve()
    app.config["VAR_DIR"] = str(var_dir)
    production = is_production(app.config)
    if production:
        for key in ("SECRET_KEY", "DATA_KEY", "BASE_URL", "DATABASE_URL"):
            if not app.config.get(key):
                raise ConfigError(
                    f"LEADCAPTURE_{key} must be set when LEADCAPTURE_ENV=production. "
                    "See README.md, section 'Configuration'."
                )
    else:
        var_dir.mkdir(parents=True, exist_ok=True)
        if not app.config["SECRET_KEY"]:
            app.config["SECRET_KEY"] = _persistent_secret(var_dir / "secret_key", 32)
        if not app.config["DATA_KEY"]:
            app.config["DATA_KEY"] = _persistent_secret(var_dir / "data_key", 32)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{var_dir / 'leadcapture.db'}"
    app.config["BASE_URL"] = app.config["BASE_URL"].rstrip("/")
    if production and not app.config["BASE_URL"].startswith("https://"):
        raise ConfigError("LEADCAPTURE_BASE_URL must be an https:// URL in production.")
    app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # forms may stay open for a long time
    app.config["WTF_CSRF_SSL_STRICT"] = False  # embedded forms post without a Referer


def is_production(config: Any) -> bool:
    """Tell whether the settings describe a production deployment."""
    return str(config.get("ENV", "development")).lower() == "production"


def data_keys(config: Any) -> list[bytes]:
    """Decode LEADCAPTURE_DATA_KEY (comma-separated base64 keys, newest first)."""
    keys = []
    for part in _split(config["DATA_KEY"]):
        try:
            key = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except ValueError as exc:
            raise ConfigError("LEADCAPTURE_DATA_KEY must be base64 keys, comma-separated.") from exc
        if len(key) != 32:
            raise ConfigError(
                "Each LEADCAPTURE_DATA_KEY key must decode to 32 bytes; create one with "
                "`python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`."
            )
        keys.append(key)
    if not keys:
        raise ConfigError("LEADCAPTURE_DATA_KEY is empty.")
    return keys


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


def _split(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return value
    return [p.strip() for p in value.split(",") if p.strip()]


def _as_int(key: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"LEADCAPTURE_{key} must be a whole number, got {value!r}.") from exc
