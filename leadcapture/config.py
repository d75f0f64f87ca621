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
    "INDEX_KEY": "",  # empty: the blind-index key is derived from the oldest DATA_KEY
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
    "MIN_FILL_SECONDS": None,  # time trap; None: 2 in production, 0 in development (scriptable)
    "WORKER_THREADS": 2,
    "OUTBOX_RELAY_INTERVAL": 2.0,
    # Abuse resistance (issue 7): Flask-Limiter limits, "N per minute" strings joined by ";".
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URL": "",  # empty: the redis:// BROKER_URL if there is one, else memory
    "RATELIMIT_SUBMIT_PER_IP": "5 per minute;30 per hour",
    "RATELIMIT_SUBMIT_PER_FORM": "120 per minute;2000 per hour",
    "RATELIMIT_PER_IP": "300 per minute",
    "POW_DIFFICULTY": 0,  # leading zero bits of the proof-of-work; 0 switches it off
    "SCHEDULER_INTERVAL": 600,  # seconds between runs of retention, expiry and re-permission
    # production processes (see docs/deploy.md)
    "WORKER_PROCESSES": 1,  # `leadcapture worker` supervises this many worker processes
    "WEB_WORKERS": 2,  # gunicorn worker processes of `leadcapture serve --production`
    "WEB_THREADS": 4,  # threads per gunicorn worker
    "MAIL_MAX_RETRIES": 10,  # SMTP 4xx / connection errors: retries before the message is marked failed
    "MAIL_RETRY_MIN_BACKOFF": 5_000,  # ms; doubles per retry
    "MAIL_RETRY_MAX_BACKOFF": 600_000,  # ms
    "OUTBOX_REDELIVER_AFTER": 900.0,  # s; a published job not done by then is published again
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
    "POW_DIFFICULTY",
    "SCHEDULER_INTERVAL",
    "WORKER_PROCESSES",
    "WEB_WORKERS",
    "WEB_THREADS",
    "MAIL_MAX_RETRIES",
    "MAIL_RETRY_MIN_BACKOFF",
    "MAIL_RETRY_MAX_BACKOFF",
}


def load_config(app: Flask, test_config: dict[str, Any] | None = None) -> None:
    """Fill app.config from defaults, the environment (or test_config) and derived values."""
    app.config.update(DEFAULTS)
    if test_config is None:
        app.config.from_prefixed_env("LEADCAPTURE", loads=str)
    else:
        app.config.update(test_config)
    if app.config["MIN_FILL_SECONDS"] is None:
        app.config["MIN_FILL_SECONDS"] = 2 if is_production(app.config) else 0
    for key in _INT_KEYS:
        app.config[key] = _as_int(key, app.config[key])
    app.config["OUTBOX_RELAY_INTERVAL"] = float(app.config["OUTBOX_RELAY_INTERVAL"])
    app.config["RATELIMIT_ENABLED"] = _as_bool("RATELIMIT_ENABLED", app.config["RATELIMIT_ENABLED"])
    if not 0 <= app.config["POW_DIFFICULTY"] <= 24:
        raise ConfigError("LEADCAPTURE_POW_DIFFICULTY must be 0 (off) to 24 bits; 16 costs a browser under a second.")
    app.config["OUTBOX_REDELIVER_AFTER"] = float(app.config["OUTBOX_REDELIVER_AFTER"])
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
    malformed = "LEADCAPTURE_DATA_KEY must be base64 keys, comma-separated."
    wrong_size = (
        "Each LEADCAPTURE_DATA_KEY key must decode to 32 bytes; create one with "
        "`python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`."
    )
    keys = [_decode_key(part, malformed, wrong_size) for part in _split(config["DATA_KEY"])]
    if not keys:
        raise ConfigError("LEADCAPTURE_DATA_KEY is empty.")
    return keys


def index_key(config: Any) -> bytes | None:
    """Decode LEADCAPTURE_INDEX_KEY (one base64 32-byte key), or None when it is not set."""
    value = str(config.get("INDEX_KEY") or "").strip()
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


def _split(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return value
    return [p.strip() for p in value.split(",") if p.strip()]


def _as_int(key: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"LEADCAPTURE_{key} must be a whole number, got {value!r}.") from exc


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"LEADCAPTURE_{key} must be true or false, got {value!r}.")
