"""The phone field in a real browser: required as soon as "call me" is ticked, said before anything is sent."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.hosts import database, snapshot

pytestmark = pytest.mark.browser


def test_ticking_call_me_without_a_number_is_stopped_in_the_browser_then_sent_with_one(page, live_server):
    db = database(live_server)
    before = snapshot(db)
    page.goto(f"{live_server}/f/sales-machine")
    phone = page.get_by_label("Telefoonnummer")
    expect(phone).to_have_attribute("aria-required", "false")
    page.get_by_label("E-mailadres").fill("bel@example.com")
    page.get_by_label("Jullie mogen mij bellen over sales outsourcing.").check()
    expect(phone).to_have_attribute("aria-required", "true")
    page.wait_for_timeout(1100)  # the minimum fill time
    requests = []
    page.on("request", lambda r: requests.append(r) if r.method == "POST" else None)
    page.get_by_role("button", name="Stuur mij de whitepaper").click()
    # The browser says what is missing, at the field, and sends nothing
    expect(page.locator("#phone-error")).to_have_text(
        "Vul je telefoonnummer in: je hebt aangevinkt dat we je mogen bellen."
    )
    expect(phone).to_be_focused()
    expect(phone).to_have_attribute("aria-invalid", "true")
    assert requests == [] and snapshot(db) == before
    # With a number the form goes through
    phone.fill("030 123 4567")
    page.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(page.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()
    db.dispose()


def test_unticking_call_me_makes_the_number_optional_again(page, live_server):
    page.goto(f"{live_server}/f/sales-machine")
    box = page.get_by_label("Jullie mogen mij bellen over sales outsourcing.")
    box.check()
    box.uncheck()
    expect(page.get_by_label("Telefoonnummer")).to_have_attribute("aria-required", "false")
