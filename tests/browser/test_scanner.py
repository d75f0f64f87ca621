"""R3.3: a mail security scanner (Safe Links, Mimecast, ...) opens every link of every message in
headless Chromium with JavaScript on, and HEADs and GETs them; nothing is confirmed, withdrawn,
erased or suppressed, and no extra mail is sent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.browser.hosts import database, snapshot, wait_for_mail
from tests.support.app import links

pytestmark = pytest.mark.browser

ADDRESS = "scanned@example.com"


def ours(server, message) -> list[str]:
    found = [url for url in links(message) if url.startswith(server)]
    assert found, links(message)
    return found


def scan(context, urls: list[str]) -> int:
    """Open each link as a scanner does: HEAD, GET, then render it with JavaScript and wait."""
    opened = 0
    for url in urls:
        context.request.head(url)
        context.request.get(url)
        page = context.new_page()
        try:
            page.goto(url, wait_until="load")
        except PlaywrightError as exc:  # the download link starts a download instead of a page
            assert "Download is starting" in str(exc), exc
        page.wait_for_timeout(300)  # time for any script to act (ours never does)
        page.close()
        opened += 1
    return opened


def test_a_scanner_opening_every_link_changes_nothing(browser, live_server, page):
    context = browser.new_context(accept_downloads=True, java_script_enabled=True)
    db = database(live_server)

    page.goto(f"{live_server}/f/sales-machine")
    page.get_by_label("E-mailadres").fill(ADDRESS)
    page.get_by_label(re.compile("nieuwsbrief")).check()
    page.get_by_role("checkbox", name=re.compile("bellen")).check()
    page.get_by_label(re.compile("Telefoonnummer")).fill("030 123 4567")  # asked when "call" is ticked
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(page.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()

    # 1. The confirmation: per-purpose links, "confirm all", "this wasn't me", preferences, List-Unsubscribe.
    (confirmation,) = wait_for_mail(live_server, ADDRESS)
    before = snapshot(db)
    assert all(state == "pending" for _, state in before["requests"])
    urls = ours(live_server, confirmation)
    assert {"/c/", "/u/", "/p/"} <= {re.sub(r"^https?://[^/]+(/./).*", r"\1", u) for u in urls}
    assert scan(context, urls) == len(urls)
    assert snapshot(db) == before
    assert len(wait_for_mail(live_server, ADDRESS)) == 1

    # The person confirms with the button (a POST); the whitepaper email follows.
    page.goto(re.search(r"bevestigen:\s*(\S+)", confirmation.get_body(("plain",)).get_content()).group(1))
    page.get_by_role("button", name="Bevestig", exact=True).click()
    expect(page.get_by_role("heading", name="Bedankt, bevestigd")).to_be_visible()
    messages = wait_for_mail(live_server, ADDRESS, count=2)
    whitepaper = messages[-1]
    page.wait_for_timeout(500)  # let the worker record the send
    confirmed = snapshot(db)
    assert {state for _, state in confirmed["consents"]} == {"confirmed"}

    # 2. The whitepaper email: download, one-click opt-out, preferences; and the confirmation's links again.
    urls = ours(live_server, whitepaper) + ours(live_server, confirmation)
    assert any("/d/" in u for u in urls) and any("/u/" in u for u in urls)
    scan(context, urls)
    page.wait_for_timeout(1000)  # any job a click had queued would have run by now
    assert snapshot(db) == confirmed  # nothing withdrawn, erased, suppressed or sent
    assert len(wait_for_mail(live_server, ADDRESS, count=2)) == 2
    context.close()
    db.dispose()
