"""Settings: defaults, then the LEADCAPTURE_* environment (or a test mapping), parsed and validated once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from leadcapture.settings.bounces import check_bounces
from leadcapture.settings.keys import check_dkim, check_secrets, data_keys, index_key, ledger_keys
from leadcapture.settings.parse import ConfigError, IPNetwork, as_bool, as_float, as_int, parse_networks

__all__ = ["DEFAULTS", "ConfigError", "Settings", "flask_config", "is_redis_url", "load_settings"]


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
    "LEDGER_KEY": "",  # HMAC key of the consent ledger's chain; generated under VAR_DIR in development
    "LEDGER_KEY_FALLBACKS": [],  # retired ledger keys: they verify old events, never chain new ones
    "LEDGER_SEAL_INTERVAL": 1.0,  # seconds between runs of the ledger sealer
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
    "WORKER_THREADS": 8,  # SMTP round trips wait on the network: one connection per thread
    "OUTBOX_RELAY_INTERVAL": 2.0,
    # Abuse resistance: Flask-Limiter limits, "N per minute" strings joined by ";".
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
    # campaigns: throttling and DKIM
    "SEND_RATE": 0,  # campaign messages per second per relay and sending domain; 0 = no limit
    "SEND_BURST": 0,  # messages that may go at once; 0 = one second's worth
    "REDIS_URL": "",  # shared throttle state; empty = the broker's Redis, if any, else in-process
    "REDIS_PREFIX": "leadcapture:",
    "DKIM_SELECTOR": "",
    "DKIM_DOMAIN": "",
    "DKIM_PRIVATE_KEY": "",  # PEM; or a path in DKIM_PRIVATE_KEY_FILE
    "DKIM_PRIVATE_KEY_FILE": "",
    "CRM_WEBHOOK_URLS": "",  # deprecated: receivers declared here are listed in the records of processing
    # webhooks (endpoints are managed in the admin and with `leadcapture webhooks`)
    "WEBHOOK_ALLOW_NETWORKS": "",  # comma-separated CIDRs that endpoints may resolve to despite being private
    "WEBHOOK_TIMEOUT": 10.0,  # s; connect and read, per attempt
    "WEBHOOK_DISABLE_AFTER": 86_400,  # s; an endpoint failing this long is disabled
    # bounces and complaints (README "Bounces and complaints")
    "BOUNCE_DOMAIN": "",  # empty: the domain of MAIL_FROM
    "BOUNCE_IMAP_URL": "",  # imaps://user:pass@host/INBOX; empty: no mailbox to poll
    "BOUNCE_POLL": True,  # the scheduler polls BOUNCE_IMAP_URL on every run
    "BOUNCE_SOFT_LIMIT": 3,  # soft bounces within BOUNCE_SOFT_DAYS that suppress an address
    "BOUNCE_SOFT_DAYS": 30,
    "BOUNCE_MAX_SIZE": 10 * 1024 * 1024,  # bytes of one report the SMTP listener accepts
    "BOUNCE_POSTMARK_AUTH": "",  # user:password of Postmark's webhook (basic auth)
    "BOUNCE_MAILGUN_SIGNING_KEY": "",  # Mailgun's webhook signing key (HMAC)
    "BOUNCE_SENDGRID_PUBLIC_KEY": "",  # SendGrid's signed event webhook verification key (ECDSA)
    "BOUNCE_SES_TOPIC_ARNS": "",  # SNS topics (comma-separated) whose SES notifications are taken
    "ADMIN_2FA": "optional",  # "required": admin accounts must sign in with an authenticator app
}

# Zero would mean no process or thread runs, or the scheduler loop spins.
_AT_LEAST_ONE = (
    "WORKER_THREADS",
    "WORKER_PROCESSES",
    "WEB_WORKERS",
    "WEB_THREADS",
    "SCHEDULER_INTERVAL",
    "BOUNCE_SOFT_LIMIT",
    "BOUNCE_SOFT_DAYS",
    "BOUNCE_MAX_SIZE",
)

IP_MINIMISATION_MODES = ("full", "truncate", "none")


@dataclass(frozen=True)
class Settings:
    """Every LEADCAPTURE_* setting, parsed and validated once by `load_settings`; nothing reads the environment."""

    env: str
    var_dir: str
    database_url: str
    broker_url: str
    mail_url: str
    secret_key: str
    secret_key_fallbacks: tuple[str, ...]
    data_key: str
    index_key_text: str
    ledger_key: str
    ledger_key_fallbacks: tuple[str, ...]
    ledger_seal_interval: float
    base_url: str
    base_url_configured: bool  # False: BASE_URL is the default, and the dev server may point it at itself
    mail_from: str
    list_unsubscribe_mailto: str
    confirm_max_age: int
    download_max_age: int
    confirmation_window: int
    unconfirmed_retention_days: int
    ip_minimisation: str
    max_field_length: int
    max_content_length: int
    min_fill_seconds: int
    worker_threads: int
    outbox_relay_interval: float
    ratelimit_enabled: bool
    ratelimit_storage_url: str
    ratelimit_submit_per_ip: str
    ratelimit_submit_per_form: str
    ratelimit_per_ip: str
    pow_difficulty: int
    scheduler_interval: int
    worker_processes: int
    web_workers: int
    web_threads: int
    mail_max_retries: int
    mail_retry_min_backoff: int
    mail_retry_max_backoff: int
    outbox_redeliver_after: float
    send_rate: float
    send_burst: int
    redis_url_setting: str
    redis_prefix: str
    dkim_selector: str
    dkim_domain: str
    dkim_private_key: str
    dkim_private_key_file: str
    crm_webhook_urls: str
    webhook_allow_networks: str
    webhook_timeout: float
    webhook_disable_after: int
    bounce_domain: str
    bounce_imap_url: str
    bounce_poll: bool
    bounce_soft_limit: int
    bounce_soft_days: int
    bounce_max_size: int
    bounce_postmark_auth: str
    bounce_mailgun_signing_key: str
    bounce_sendgrid_public_key: str
    bounce_ses_topic_arns: str
    admin_2fa: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Settings from validated upper-case keys (what `load_settings` produced)."""
        return cls(**{f.name: config[_KEY.get(f.name, f.name.upper())] for f in fields(cls)})

    @property
    def production(self) -> bool:
        """Whether these settings describe a production deployment."""
        return self.env == "production"

    @property
    def dkim_enabled(self) -> bool:
        """Whether outgoing mail is DKIM-signed (load_settings checked the selector, domain and key)."""
        return bool(self.dkim_selector)

    @property
    def data_keys(self) -> list[bytes]:
        """The decoded data keys, newest first."""
        return data_keys(self.data_key)

    @property
    def index_key(self) -> bytes | None:
        """The blind-index key, or None to derive it from the oldest data key."""
        return index_key(self.index_key_text)

    @property
    def webhook_allowed_networks(self) -> list[IPNetwork]:
        """The private networks webhook endpoints may resolve to (load_settings checked them)."""
        return parse_networks(self.webhook_allow_networks)

    @property
    def ledger_keys(self) -> list[bytes]:
        """The decoded ledger keys: the current one first, then the fallbacks."""
        return ledger_keys(self.ledger_key, self.ledger_key_fallbacks)

    @property
    def redis_url(self) -> str:
        """LEADCAPTURE_REDIS_URL, or the broker URL when the broker is Redis; empty if neither."""
        return self.redis_url_setting or (self.broker_url if is_redis_url(self.broker_url) else "")

    @property
    def ratelimit_storage(self) -> str:
        """RATELIMIT_STORAGE_URL, else the shared Redis, else process memory."""
        return self.ratelimit_storage_url or self.redis_url or "memory://"

    def as_config(self) -> dict[str, Any]:
        """The settings as upper-case keys (what Flask's app.config holds)."""
        return {_KEY.get(f.name, f.name.upper()): getattr(self, f.name) for f in fields(self)}


# Attribute names that differ from the lower-cased key (the plain name is a derived property).
_KEY = {"index_key_text": "INDEX_KEY", "redis_url_setting": "REDIS_URL"}


def is_redis_url(url: str) -> bool:
    """Whether url names a Redis server (the broker, the throttle and the rate limits share it)."""
    return url.startswith(("redis://", "rediss://", "unix://", "redis+unix://"))


def load_settings(test_config: Mapping[str, Any] | None = None) -> Settings:
    """Defaults, then the LEADCAPTURE_* environment (or test_config), validated and derived.

    Unknown LEADCAPTURE_* variables are ignored; every known one is checked here, so a bad value
    is one clear ConfigError at start and never a failure at the first message or request.
    """
    prefix = "LEADCAPTURE_"
    environment = {k[len(prefix) :]: v for k, v in os.environ.items() if k.startswith(prefix)}
    given = dict(test_config) if test_config is not None else environment
    config: dict[str, Any] = {**DEFAULTS, **given}
    config["BASE_URL_CONFIGURED"] = bool(given.get("BASE_URL"))
    _values(config)
    _addresses(config)
    check_secrets(config)
    check_dkim(config)
    check_bounces(config)
    return Settings.from_config(config)


def _values(config: dict[str, Any]) -> None:
    """Parse every int, float and bool setting by its field's type; check ranges and choices."""
    config["ENV"] = str(config["ENV"]).lower()
    if config["MIN_FILL_SECONDS"] is None:
        config["MIN_FILL_SECONDS"] = 2 if config["ENV"] == "production" else 0
    for key in ("SEND_RATE", "SEND_BURST"):
        config[key] = config[key] or 0  # empty: no limit, and a burst of one second's worth
    parsers = {"int": as_int, "float": as_float, "bool": as_bool}
    for field in fields(Settings):
        key = _KEY.get(field.name, field.name.upper())
        if field.type in parsers:
            config[key] = parsers[field.type](key, config[key])
            if field.type != "bool" and config[key] < 0:
                raise ConfigError(f"LEADCAPTURE_{key} must be 0 or more, got {config[key]}.")
    for key in _AT_LEAST_ONE:
        if config[key] < 1:
            raise ConfigError(f"LEADCAPTURE_{key} must be at least 1, got {config[key]}.")
    for key in ("OUTBOX_RELAY_INTERVAL", "OUTBOX_REDELIVER_AFTER", "WEBHOOK_TIMEOUT", "LEDGER_SEAL_INTERVAL"):
        if config[key] == 0:
            raise ConfigError(f"LEADCAPTURE_{key} must be a number of seconds above 0, got {config[key]}.")
    try:
        parse_networks(config["WEBHOOK_ALLOW_NETWORKS"])
    except ValueError as exc:
        raise ConfigError(
            f"LEADCAPTURE_WEBHOOK_ALLOW_NETWORKS must be comma-separated networks like 10.0.0.0/8 ({exc})."
        ) from exc
    if config["POW_DIFFICULTY"] > 24:
        raise ConfigError("LEADCAPTURE_POW_DIFFICULTY must be 0 (off) to 24 bits; 16 costs a browser under a second.")
    config["SEND_BURST"] = config["SEND_BURST"] or max(1, int(config["SEND_RATE"]))
    config["ADMIN_2FA"] = str(config["ADMIN_2FA"]).strip().lower()
    if config["ADMIN_2FA"] not in ("optional", "required"):
        raise ConfigError(f"LEADCAPTURE_ADMIN_2FA must be optional or required, got {config['ADMIN_2FA']!r}.")
    if config["IP_MINIMISATION"] not in IP_MINIMISATION_MODES:
        raise ConfigError(
            f"LEADCAPTURE_IP_MINIMISATION must be one of {', '.join(IP_MINIMISATION_MODES)}, "
            f"got {config['IP_MINIMISATION']!r}."
        )


def _addresses(config: dict[str, Any]) -> None:
    """The URLs, the data directory and the sender address."""
    broker = config["BROKER_URL"]
    if not (broker == "" or is_redis_url(broker) or broker.startswith(("amqp://", "amqps://"))):
        raise ConfigError("LEADCAPTURE_BROKER_URL must start with redis://, amqp:// or be empty")
    mail = urlsplit(config["MAIL_URL"])
    if config["MAIL_URL"] and (mail.scheme not in ("smtp", "smtps") or not mail.hostname):
        raise ConfigError("LEADCAPTURE_MAIL_URL must look like smtp://host:port or smtps://user:pass@host")
    if config["REDIS_URL"] and not is_redis_url(config["REDIS_URL"]):
        raise ConfigError("LEADCAPTURE_REDIS_URL must start with redis://, rediss:// or unix:// (or be empty)")
    var_dir = Path(config["VAR_DIR"]).resolve()
    config["VAR_DIR"] = str(var_dir)
    if not config["BASE_URL_CONFIGURED"] and config["ENV"] != "production":
        config["BASE_URL"] = served_url(var_dir) or config["BASE_URL"]
    if not config["DATABASE_URL"] and config["ENV"] != "production":
        config["DATABASE_URL"] = f"sqlite:///{var_dir / 'leadcapture.db'}"
    if config["DATABASE_URL"]:
        try:
            make_url(config["DATABASE_URL"]).get_dialect()
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigError(
                "LEADCAPTURE_DATABASE_URL must look like postgresql+psycopg://user:pass@host/name "
                f"or sqlite:///path ({exc})"
            ) from exc
    config["BASE_URL"] = config["BASE_URL"].rstrip("/")
    if "@" not in parseaddr(str(config["MAIL_FROM"]))[1]:
        raise ConfigError(
            f"LEADCAPTURE_MAIL_FROM must be an address like 'Name <name@example.com>', got {config['MAIL_FROM']!r}."
        )


SERVED_URL_FILE = "serve_url"


def served_url(var_dir: Path) -> str:
    """The URL the development server last served on (`serve` records it), so commands link to it; or ""."""
    try:
        url = (var_dir / SERVED_URL_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return url if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname else ""


def flask_config(settings: Settings) -> dict[str, Any]:
    """app.config for the web app: every setting, plus what Flask and Flask-WTF read."""
    return {
        **settings.as_config(),
        "SESSION_COOKIE_SECURE": settings.base_url.startswith("https://"),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # forms may stay open for a long time
        "WTF_CSRF_SSL_STRICT": False,  # embedded forms post without a Referer
        # Every message a visitor can see comes from our catalogs; WTForms' own would be read from
        # disk on each request, and on the admin they stay English.
        "WTF_I18N_ENABLED": False,
    }
