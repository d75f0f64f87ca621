"""VERP return paths: each message's envelope sender names its row, and only we can make one."""

from __future__ import annotations

import dataclasses

import pytest

from leadcapture.delivery import verp
from leadcapture.settings import load_settings
from tests.support.app import make_config


@pytest.fixture
def settings(tmp_path):
    return load_settings(make_config(tmp_path))


def test_a_return_path_names_its_row_on_the_bounce_domain(settings):
    address = verp.return_path(settings, 123456)

    local, _, domain = address.partition("@")
    assert domain == "voorbeeld.nl"  # the domain of MAIL_FROM when no BOUNCE_DOMAIN is set
    assert local.startswith("bounces+") and len(local) <= 64  # RFC 5321 limit of a local part
    assert verp.row_of_address(settings, address) == 123456


def test_mail_systems_that_fold_case_or_add_brackets_do_not_lose_the_row(settings):
    address = verp.return_path(settings, 42)

    assert verp.row_of_address(settings, f"<{address.upper()}>") == 42


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.replace("bounces+", "bounces+1"),  # another row under the same signature
        lambda a: a[: a.index("@") - 1] + ("a" if a[a.index("@") - 1] != "a" else "b") + a[a.index("@") :],
        lambda a: a.split("-")[0] + "@voorbeeld.nl",  # no signature
        lambda a: a.replace("@voorbeeld.nl", "@example.com"),  # not our bounce domain
        lambda a: a.replace("bounces+", "info+"),
        lambda a: "bounces+@voorbeeld.nl",
        lambda a: "bounces+zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-abc@voorbeeld.nl",
        lambda a: "no address at all",
    ],
)
def test_a_forged_or_foreign_address_names_no_row(settings, change):
    assert verp.row_of_address(settings, change(verp.return_path(settings, 42))) is None


def test_tokens_signed_before_a_key_rotation_still_name_their_row(settings):
    old = verp.return_path(settings, 7)
    rotated = dataclasses.replace(settings, secret_key="a-new-secret", secret_key_fallbacks=(settings.secret_key,))
    stranger = dataclasses.replace(settings, secret_key="someone-elses-secret", secret_key_fallbacks=())

    assert verp.row_of_address(rotated, old) == 7
    assert verp.row_of_address(stranger, old) is None


def test_the_bounce_domain_can_be_set(tmp_path):
    settings = load_settings(make_config(tmp_path, BOUNCE_DOMAIN="Bounces.Voorbeeld.NL."))

    assert verp.return_path(settings, 1).endswith("@bounces.voorbeeld.nl")
