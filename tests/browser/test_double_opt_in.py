"""A visitor in a real browser: form, confirmation email, confirm button, whitepaper."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def open_newest_mail(page, base, subject_part):
    """The text of the newest message with this subject, waiting for the worker to send it."""
    link = page.get_by_role("link", name=re.compile(subject_part)).first
    for _ in range(60):  # the in-process worker sends within seconds, slower on a busy machine
        page.goto(f"{base}/dev/mail/")
        if link.count():
            break
        page.wait_for_timeout(500)
    link.click()
    return page.locator("#text-part").inner_text()


def test_a_visitor_gets_the_whitepaper_through_double_opt_in(page, live_server):
    page.goto(f"{live_server}/f/sales-machine")
    boxes = page.get_by_role("checkbox")
    expect(boxes).to_have_count(3)
    for i in range(3):
        expect(boxes.nth(i)).not_to_be_checked()
    page.get_by_label("E-mailadres").fill("browser@example.com")
    page.get_by_label("Naam").fill("Bea Browser")
    page.get_by_label(re.compile("nieuwsbrief")).check()
    page.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    page.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(page.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()

    text = open_newest_mail(page, live_server, "Bevestig je aanvraag")
    confirm_all = re.search(r"bevestigen:\s*(\S+)", text).group(1)
    page.goto(confirm_all)
    expect(page.get_by_role("heading", name="Bevestig je aanvraag")).to_be_visible()
    page.get_by_role("button", name="Alles bevestigen").click()
    expect(page.get_by_role("heading", name="Bedankt, bevestigd")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download de whitepaper nu").click()
    path = download_info.value.path()
    with open(path, "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    assert download_info.value.suggested_filename == "sales-machine.pdf"

    text = open_newest_mail(page, live_server, "Je whitepaper")
    assert "/d/" in text


def test_the_embed_snippet_renders_the_form_in_an_iframe(page, live_server):
    page.goto(f"{live_server}/dev/embed/sales-machine")
    frame = page.frame_locator("iframe")
    expect(frame.get_by_label("E-mailadres")).to_be_visible()
    frame.get_by_label("E-mailadres").fill("embedded@example.com")
    page.wait_for_timeout(1100)
    frame.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(frame.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()
    assert page.url.endswith("/dev/embed/sales-machine")  # the host page did not navigate
