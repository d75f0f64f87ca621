"""Settings: defaults per environment and clear errors."""

from __future__ import annotations

import base64

import pytest

from leadcapture import create_app
from leadcapture.settings import ConfigError
from tests.support.app import make_config

KEY = base64.urlsafe_b64encode(b"p" * 32).decode()


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


@pytest.mark.parametrize("key", ["x", "test-secret-key", "a" * 64, "abababababababababababababababababababababab"])
def test_production_refuses_a_weak_secret_key_and_says_how_to_make_one(tmp_path, key):
    with pytest.raises(ConfigError, match="SECRET_KEY.*token_urlsafe"):
        create_app(production(tmp_path, SECRET_KEY=key))


def test_production_accepts_32_random_bytes_as_secret_key(tmp_path):
    import secrets

    app = create_app(production(tmp_path, SECRET_KEY=secrets.token_urlsafe(32)))
    app.extensions["leadcapture"].db.dispose()
