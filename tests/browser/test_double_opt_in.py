"""A visitor in a real browser: form, confirmation email, confirm button, whitepaper."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def open_newest_mail(page, base, subject_part):
    link = page.get_by_role("link", name=re.compile(subject_part)).first
    for _ in range(50):  # the in-process worker sends a moment after the page answered
        page.goto(f"{base}/dev/mail/")
        if link.count():
            break
        page.wait_for_timeout(300)
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
    page.get_by_role("checkbox", name=re.compile("bellen")).check()
    page.get_by_label(re.compile("Telefoonnummer")).fill("030 123 4567")  # asked when "call" is ticked
    page.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    page.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(page.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()

    # The mail has one button; the page behind it lists what it confirms, the name typed too.
    open_newest_mail(page, live_server, "Bevestig je aanvraag")
    mail = page.frame_locator("iframe")
    button = mail.get_by_role("link", name="Bevestig", exact=True)
    expect(button).to_have_count(1)
    page.goto(button.get_attribute("href"))
    expect(page.get_by_role("heading", name="Bevestig je aanvraag")).to_be_visible()
    expect(page.get_by_text("Bea Browser")).to_be_visible()
    expect(page.get_by_role("checkbox")).to_have_count(0)

    # The visitor leaves the call out (a secondary action), then confirms the rest.
    page.get_by_role("listitem").filter(has_text="bellen").get_by_role("link", name="Laat dit weg").click()
    expect(page.get_by_role("heading", name="Weggelaten (niet bevestigd):")).to_be_visible()
    page.get_by_role("button", name="Bevestig", exact=True).click()
    expect(page.get_by_role("heading", name="Bedankt, bevestigd")).to_be_visible()
    expect(page.get_by_text("We mailen je de whitepaper ook.")).to_be_visible()

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
