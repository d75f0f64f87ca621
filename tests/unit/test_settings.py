"""Settings: defaults per environment and clear errors."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from leadcapture import create_app
from leadcapture.settings import ConfigError, load_settings
from tests.support.app import make_config

KEY = base64.urlsafe_b64encode(b"p" * 32).decode()
BROKEN_PEM = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----"


SECRET = "Kx3vQ9tLr2mW8pZc5nYb7hJd4fGs6aEu1oRi0kTw_-A"


def production(tmp_path, **kw):
    kw.setdefault("SECRET_KEY", SECRET)
    return make_config(tmp_path, ENV="production", BASE_URL="https://forms.example.com", MIN_FILL_SECONDS=None, **kw)


def test_production_has_a_time_trap_by_default(tmp_path):
    app = create_app(production(tmp_path))
    assert app.config["MIN_FILL_SECONDS"] == 2
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_development_has_none_so_the_form_can_be_scripted(tmp_path):
    app = create_app(make_config(tmp_path, MIN_FILL_SECONDS=None))
    assert app.config["MIN_FILL_SECONDS"] == 0


def test_production_wants_an_https_base_url(tmp_path):
    with pytest.raises(ConfigError, match="https"):
        create_app(production(tmp_path) | {"BASE_URL": "http://forms.example.com"})


@pytest.mark.parametrize("key", ["not base64 !!", base64.urlsafe_b64encode(b"short").decode()])
def test_a_bad_data_key_is_a_clear_error(tmp_path, key):
    with pytest.raises(ConfigError, match="DATA_KEY"):
        create_app(make_config(tmp_path, DATA_KEY=key))


def test_environment_values_become_typed_settings(tmp_path, monkeypatch):
    # Given every kind of value as the strings an environment holds
    environment = {
        "VAR_DIR": str(tmp_path / "var"),
        "WORKER_THREADS": "8",
        "OUTBOX_RELAY_INTERVAL": "0.5",
        "RATELIMIT_ENABLED": "off",
        "SECRET_KEY_FALLBACKS": "old-one, older-one",
        "SEND_RATE": "12.5",
        "BASE_URL": "https://forms.example.com/",
        "SOMETHING_WE_DO_NOT_KNOW": "ignored",
    }
    for name in [name for name in os.environ if name.startswith("LEADCAPTURE_")]:
        monkeypatch.delenv(name)
    for key, value in environment.items():
        monkeypatch.setenv(f"LEADCAPTURE_{key}", value)
    # When they are loaded
    settings = load_settings()
    # Then each has its type, and derived values are filled in
    assert settings.worker_threads == 8
    assert settings.outbox_relay_interval == 0.5
    assert settings.ratelimit_enabled is False
    assert settings.secret_key_fallbacks == ("old-one", "older-one")
    assert (settings.send_rate, settings.send_burst) == (12.5, 12)
    assert settings.base_url == "https://forms.example.com" and settings.base_url_configured is True
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'leadcapture.db'}"
    assert not hasattr(settings, "something_we_do_not_know")


def test_the_default_base_url_is_marked_as_not_configured(tmp_path):
    settings = load_settings({k: v for k, v in make_config(tmp_path).items() if k != "BASE_URL"})
    assert settings.base_url == "http://127.0.0.1:5000" and settings.base_url_configured is False


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("CONFIRM_MAX_AGE", "a week", "LEADCAPTURE_CONFIRM_MAX_AGE must be a whole number"),
        ("CONFIRM_MAX_AGE", "-1", "LEADCAPTURE_CONFIRM_MAX_AGE must be 0 or more"),
        ("WORKER_THREADS", "0", "LEADCAPTURE_WORKER_THREADS must be at least 1"),
        ("SCHEDULER_INTERVAL", "0", "LEADCAPTURE_SCHEDULER_INTERVAL must be at least 1"),
        ("OUTBOX_RELAY_INTERVAL", "0", "LEADCAPTURE_OUTBOX_RELAY_INTERVAL must be a number of seconds above 0"),
        ("OUTBOX_REDELIVER_AFTER", "soon", "LEADCAPTURE_OUTBOX_REDELIVER_AFTER must be a number"),
        ("RATELIMIT_ENABLED", "maybe", "LEADCAPTURE_RATELIMIT_ENABLED must be true or false"),
        ("POW_DIFFICULTY", "40", "LEADCAPTURE_POW_DIFFICULTY must be 0 (off) to 24 bits"),
        ("SEND_RATE", "fast", "LEADCAPTURE_SEND_RATE must be a number"),
        ("IP_MINIMISATION", "partial", "LEADCAPTURE_IP_MINIMISATION must be one of full, truncate, none"),
        ("MAIL_FROM", "nobody", "LEADCAPTURE_MAIL_FROM must be an address"),
        ("BROKER_URL", "kafka://broker", "LEADCAPTURE_BROKER_URL must start with redis://, amqp://"),
        ("MAIL_URL", "http://relay.example.net", "LEADCAPTURE_MAIL_URL must look like smtp://host:port"),
        ("REDIS_URL", "memcached://cache", "LEADCAPTURE_REDIS_URL must start with redis://"),
        ("DATABASE_URL", "not a url", "LEADCAPTURE_DATABASE_URL must look like postgresql+psycopg://"),
        ("DATABASE_URL", "nosuchdb://host/name", "LEADCAPTURE_DATABASE_URL must look like postgresql+psycopg://"),
        ("INDEX_KEY", "c2hvcnQ=", "LEADCAPTURE_INDEX_KEY must decode to 32 bytes"),
    ],
)
def test_a_bad_value_is_one_clear_error_naming_the_setting(tmp_path, key, value, problem):
    with pytest.raises(ConfigError) as raised:
        load_settings(make_config(tmp_path, **{key: value}))
    assert str(raised.value).startswith(problem)
    assert "\n" not in str(raised.value)


def test_production_needs_every_secret(tmp_path):
    with pytest.raises(ConfigError, match="LEADCAPTURE_SECRET_KEY must be set when LEADCAPTURE_ENV=production"):
        load_settings(production(tmp_path, SECRET_KEY=""))


def test_production_needs_a_ledger_key(tmp_path):
    with pytest.raises(ConfigError, match="LEADCAPTURE_LEDGER_KEY must be set when LEADCAPTURE_ENV=production"):
        load_settings(production(tmp_path, LEDGER_KEY=""))


def test_development_generates_a_ledger_key_under_var_and_keeps_it(tmp_path):
    first = load_settings(make_config(tmp_path, LEDGER_KEY=""))
    again = load_settings(make_config(tmp_path, LEDGER_KEY=""))
    assert first.ledger_keys == again.ledger_keys and len(first.ledger_keys[0]) == 32
    assert (tmp_path / "var" / "ledger_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "given, problem",
    [
        ({"LEDGER_KEY": "c2hvcnQ"}, "must decode to 32 bytes"),
        ({"LEDGER_KEY_FALLBACKS": "c2hvcnQ"}, "must decode to 32 bytes"),
        ({"LEDGER_KEY": "not base64!"}, "LEADCAPTURE_LEDGER_KEY must be base64"),
    ],
)
def test_a_ledger_key_that_is_not_32_bytes_is_refused(tmp_path, given, problem):
    with pytest.raises(ConfigError, match=problem):
        load_settings(make_config(tmp_path, **given))


def test_ledger_key_fallbacks_follow_the_current_key(tmp_path):
    old = base64.urlsafe_b64encode(b"o" * 32).decode()
    settings = load_settings(make_config(tmp_path, LEDGER_KEY_FALLBACKS=old))
    assert settings.ledger_keys[1:] == [b"o" * 32]


# --- DKIM -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_without_dkim_settings_mail_is_not_signed(tmp_path):
    assert load_settings(make_config(tmp_path)).dkim_enabled is False


def test_a_dkim_key_file_is_read_when_the_settings_are_loaded(tmp_path, pem):
    (tmp_path / "dkim.pem").write_text(pem)
    settings = load_settings(
        make_config(
            tmp_path,
            DKIM_SELECTOR=" mail2026 ",
            DKIM_DOMAIN="voorbeeld.nl",
            DKIM_PRIVATE_KEY_FILE=str(tmp_path / "dkim.pem"),
        )
    )
    assert settings.dkim_enabled is True
    assert settings.dkim_selector == "mail2026"
    assert settings.dkim_private_key == pem.strip()


def test_a_dkim_key_on_one_line_keeps_its_newlines(tmp_path, pem):
    one_line = pem.strip().replace("\n", "\\n")
    settings = load_settings(make_config(tmp_path, DKIM_SELECTOR="s", DKIM_DOMAIN="d.nl", DKIM_PRIVATE_KEY=one_line))
    assert settings.dkim_private_key == pem.strip()


@pytest.mark.parametrize(
    ("dkim", "problem"),
    [
        ({"DKIM_SELECTOR": "mail2026"}, "DKIM signing needs LEADCAPTURE_DKIM_SELECTOR, LEADCAPTURE_DKIM_DOMAIN"),
        ({"DKIM_PRIVATE_KEY_FILE": "/nonexistent/dkim.pem"}, "LEADCAPTURE_DKIM_PRIVATE_KEY_FILE: cannot read"),
        (
            {"DKIM_SELECTOR": "s", "DKIM_DOMAIN": "d.nl", "DKIM_PRIVATE_KEY": "not a key"},
            "LEADCAPTURE_DKIM_PRIVATE_KEY must be a PEM private key",
        ),
        (
            {"DKIM_SELECTOR": "s", "DKIM_DOMAIN": "d.nl", "DKIM_PRIVATE_KEY": BROKEN_PEM},
            "LEADCAPTURE_DKIM_PRIVATE_KEY must be a PEM private key",
        ),
    ],
)
def test_bad_dkim_settings_are_refused_at_start(tmp_path, dkim, problem):
    with pytest.raises(ConfigError) as raised:
        load_settings(make_config(tmp_path, **dkim))
    assert str(raised.value).startswith(problem)


@pytest.mark.parametrize("key", ["x", "test-secret-key", "a" * 64, "abababababababababababababababababababababab"])
def test_production_refuses_a_weak_secret_key_and_says_how_to_make_one(tmp_path, key):
    with pytest.raises(ConfigError, match="SECRET_KEY.*token_urlsafe"):
        create_app(production(tmp_path, SECRET_KEY=key))


def test_production_accepts_32_random_bytes_as_secret_key(tmp_path):
    import secrets

    app = create_app(production(tmp_path, SECRET_KEY=secrets.token_urlsafe(32)))
    app.extensions["leadcapture"].db.dispose()


def test_commands_link_to_the_url_the_dev_server_recorded_unless_base_url_is_given(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    (var / "serve_url").write_text("http://127.0.0.1:5611\n")
    without_base_url = {k: v for k, v in make_config(tmp_path, VAR_DIR=str(var)).items() if k != "BASE_URL"}
    assert load_settings(without_base_url).base_url == "http://127.0.0.1:5611"
    assert load_settings({**without_base_url, "BASE_URL": "http://forms.test"}).base_url == "http://forms.test"
    (var / "serve_url").write_text("javascript:alert(1)\n")  # anything but an http(s) URL is ignored
    assert load_settings(without_base_url).base_url == "http://127.0.0.1:5000"


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_the_ledger_seal_interval_must_be_some_seconds(tmp_path, value):
    with pytest.raises(ConfigError, match="LEADCAPTURE_LEDGER_SEAL_INTERVAL"):
        load_settings(make_config(tmp_path, LEDGER_SEAL_INTERVAL=value))
