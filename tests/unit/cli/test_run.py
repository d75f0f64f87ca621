"""The settings `leadcapture serve` runs the embedded server with."""

from __future__ import annotations

import dataclasses

import pytest

from leadcapture.cli.run import dev_server_settings
from leadcapture.settings import load_settings
from tests.support.app import make_config


def settings_without_base_url(tmp_path, **overrides):
    config = {k: v for k, v in make_config(tmp_path, **overrides).items() if k != "BASE_URL"}
    return load_settings(config)


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8123"),
        ("0.0.0.0", "http://127.0.0.1:8123"),  # a link cannot point at "every address"
        ("::1", "http://[::1]:8123"),
        ("forms.local", "http://forms.local:8123"),
    ],
)
def test_links_in_dev_mail_point_at_the_dev_server(tmp_path, host, base_url):
    settings = dev_server_settings(settings_without_base_url(tmp_path), host, 8123)
    assert settings.base_url == base_url


def test_a_configured_base_url_is_kept(tmp_path):
    settings = load_settings(make_config(tmp_path, BASE_URL="http://forms.example.com"))
    assert dev_server_settings(settings, "127.0.0.1", 8123) is settings


def test_production_keeps_its_base_url(tmp_path):
    settings = settings_without_base_url(tmp_path)
    production = dataclasses.replace(settings, env="production")
    assert dev_server_settings(production, "127.0.0.1", 8123) is production
