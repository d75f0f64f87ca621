"""Webhooks in a real browser: an admin adds an endpoint, a visitor confirms, the receiver verifies the event."""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CLI, serving
from tests.browser.test_admin import assert_accessible, sign_in
from tests.browser.test_double_opt_in import open_newest_mail
from tests.support.app import ROOT
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("webhooks") / "var", WEBHOOK_ALLOW_NETWORKS="127.0.0.1") as base:
        result = subprocess.run(
            [*CLI, "users", "create", "owner@example.com", "--role", "admin"],
            env=base.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        base.password = {"password": re.search(r"one-time password: (\S+)", result.stdout).group(1)}
        yield base


def test_an_admin_adds_an_endpoint_and_a_confirmation_reaches_it_signed(page, server):
    receiver = Receiver()
    try:
        sign_in(page, server, server.password)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
        assert_accessible(page, "/admin/webhooks (empty)")

        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label(re.compile("consent.confirmed")).check()
        page.get_by_label(re.compile("Include the person's email address")).check()
        page.get_by_role("button", name="Add endpoint").click()
        receiver.secret = page.locator("#new-secret").inner_text()
        assert receiver.secret.startswith("whsec_")
        assert_accessible(page, "/admin/webhooks (with an endpoint)")

        visitor = page.context.new_page()
        visitor.goto(f"{server}/f/sales-machine")
        visitor.get_by_label("E-mailadres").fill("hook@example.com")
        visitor.get_by_label(re.compile("nieuwsbrief")).check()
        visitor.wait_for_timeout(1100)
        visitor.get_by_role("button", name="Stuur mij de whitepaper").click()
        text = open_newest_mail(visitor, server, "Bevestig je aanvraag")
        visitor.goto(re.search(r"bevestigen:\s*(\S+)", text).group(1))
        visitor.get_by_role("button", name="Bevestig", exact=True).click()
        expect(visitor.get_by_role("heading", name="Bedankt, bevestigd")).to_be_visible()

        for _ in range(50):  # the embedded worker posts a moment after the confirmation
            if receiver.received:
                break
            page.wait_for_timeout(200)
        assert receiver.rejected == []
        assert [(e["type"], e["data"]["purpose"], e["data"]["email"]) for e in receiver.received] == [
            ("consent.confirmed", "newsletter", "hook@example.com")
        ]

        page.get_by_role("link", name=receiver.url, exact=True).click()
        expect(page.get_by_role("heading", name=re.compile("Deliveries to"))).to_be_visible()
        expect(page.get_by_role("cell", name="delivered")).to_be_visible()
        assert_accessible(page, "/admin/webhooks/1")
    finally:
        receiver.close()
