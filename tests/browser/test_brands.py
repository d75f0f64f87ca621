"""The brands admin page in a real browser: add a brand with a logo, edit it, axe on both pages, and
the hosted form and mail in the brand's colours."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_admin import admin_password, assert_accessible, sign_in  # noqa: F401  (a fixture)
from tests.support.images import png

pytestmark = pytest.mark.browser


def test_an_admin_adds_and_edits_a_brand(page, live_server, admin_password, tmp_path):  # noqa: F811
    base = live_server
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    sign_in(page, base, admin_password)
    page.get_by_role("link", name="Brands").click()
    expect(page.get_by_role("heading", name="Brands", exact=True)).to_be_visible()
    assert_accessible(page, "brands")
    # A refused brand says why, at once, and keeps what was typed
    page.get_by_label("Slug").fill("acme")
    page.get_by_label("Display name").fill("Acme Ltd")
    page.get_by_label("Controller, as notices show it").fill("Acme Ltd, 1 Main Street, London")
    page.get_by_label("Brand colour").fill("#ffd700")
    page.get_by_label("Sales address").fill("sales@acme.example")
    page.get_by_label("Sender address (From)").fill("papers@acme.example")
    page.get_by_label("Supervisory authority's web page").fill("http://ico.org.uk")
    page.get_by_role("button", name="Add brand").click()
    expect(page.get_by_role("alert")).to_contain_text("authority_url must be an https:// URL")
    assert_accessible(page, "brands with problems")
    page.screenshot(path="/tmp/brands-admin-refused.png", full_page=True)
    # Fixed, with a logo, it is added
    page.get_by_label("Supervisory authority's web page").fill("https://ico.org.uk")
    page.get_by_label("Supervisory authority", exact=True).fill("Information Commissioner's Office")
    page.get_by_label("Logo").set_input_files(str(logo))
    page.get_by_role("button", name="Add brand").click()
    expect(page.get_by_text("Brand 'Acme Ltd' added.")).to_be_visible()
    expect(page.get_by_role("img", name="Logo of Acme Ltd")).to_be_visible()
    expect(page.get_by_text("text on it is black")).to_be_visible()  # gold: black text has the contrast
    assert_accessible(page, "brand")
    page.screenshot(path="/tmp/brands-admin-edit.png", full_page=True)
    # And the demo form's brand gets a colour; its hosted form shows it
    page.goto(f"{base}/admin/brands")
    page.get_by_role("link", name="Voorbeeld B.V.").click()
    page.get_by_label("Brand colour").fill("#7a1f5c")
    page.get_by_label("Sender address (From)").fill("whitepapers@example.com")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved: sender_address, colour.")).to_be_visible()
    page.goto(f"{base}/f/sales-machine")
    button = page.get_by_role("button", name="Stuur mij de whitepaper")
    expect(button).to_have_css("background-color", "rgb(122, 31, 92)")
    expect(button).to_have_css("color", "rgb(255, 255, 255)")
    expect(page.get_by_text("Autoriteit Persoonsgegevens")).to_be_visible()
    page.screenshot(path="/tmp/brands-form.png", full_page=True)
