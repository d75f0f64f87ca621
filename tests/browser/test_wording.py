"""A marketer words the mails in the editor, watches the preview, saves; a visitor gets that wording."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_admin import admin_password, assert_accessible, sign_in  # noqa: F401  (a fixture)
from tests.browser.test_double_opt_in import open_newest_mail

pytestmark = pytest.mark.browser


def test_a_marketer_words_the_mails_with_a_live_preview_and_a_visitor_gets_them(page, live_server, admin_password):  # noqa: F811
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, live_server, admin_password)
    page.goto(f"{live_server}/admin/forms/sales-machine/edit")
    preview = page.frame_locator("#preview")
    expect(preview.get_by_label("E-mailadres")).to_be_visible()  # the form first

    # Typing in a mail's wording turns the preview to that mail, which follows what is typed.
    page.get_by_label("Confirmation mail: subject").fill("Nog één klik: je whitepaper")
    page.get_by_label("Confirmation mail: button").fill("Ja, stuur maar")
    page.get_by_label("Confirmation mail: line above the list of what was asked").fill("Fijn! <b>{{ 7*7 }}</b>")
    expect(page.get_by_label("Show")).to_have_value("confirmation")
    expect(preview.get_by_role("heading", name="Confirmation mail")).to_be_visible()
    expect(preview.locator(".mail-headers")).to_contain_text("Nog één klik: je whitepaper")
    mail = preview.frame_locator("iframe.mail-html")
    expect(mail.get_by_role("link", name="Ja, stuur maar")).to_be_visible()
    expect(mail.get_by_text("Fijn! <b>{{ 7*7 }}</b>")).to_be_visible()  # shown as typed: data, not markup
    expect(mail.get_by_text("Deze e-mail is verstuurd door Voorbeeld B.V.")).to_be_visible()
    expect(preview.locator(".mail-text")).to_contain_text("Ja, stuur maar:")
    page.screenshot(path="/tmp/wording-browser-confirmation.png")
    assert_accessible(page, "form editor with the confirmation mail preview")

    page.get_by_label("Thank-you message, after confirming").fill("Top, je hoort van ons!")
    expect(page.get_by_label("Show")).to_have_value("thank_you")
    expect(preview.get_by_role("status")).to_contain_text("Top, je hoort van ons!")
    page.screenshot(path="/tmp/wording-browser-thank-you.png")
    assert_accessible(page, "form editor with the thank-you page preview")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as version 2.")).to_be_visible()

    # A visitor gets the mail in the saved wording, and the thank-you message after the button.
    page.goto(f"{live_server}/f/sales-machine")
    page.get_by_label("E-mailadres").fill("worded@example.com")
    page.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    page.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(page.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()
    open_newest_mail(page, live_server, "Nog één klik")
    button = page.frame_locator("iframe").get_by_role("link", name="Ja, stuur maar")
    page.goto(button.get_attribute("href"))
    page.get_by_role("button", name="Bevestig", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Top, je hoort van ons! We mailen je de whitepaper ook.")
    page.screenshot(path="/tmp/wording-browser-thanked.png")
