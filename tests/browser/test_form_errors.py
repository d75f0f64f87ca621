"""A form sent back with an error, in a real browser: what the person typed and ticked is still there."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from leadcapture.models import LeadRequest, Submission
from tests.browser.hosts import database

pytestmark = pytest.mark.browser

NEWSLETTER = "Stuur mij de maandelijkse nieuwsbrief met salestips."
CALL = "Jullie mogen mij bellen over sales outsourcing."


def test_a_typo_in_the_address_keeps_the_ticked_boxes_and_one_fix_sends_them(page, live_server):
    page.goto(f"{live_server}/f/sales-machine")
    expect(page.get_by_label(NEWSLETTER)).not_to_be_checked()
    page.get_by_label("E-mailadres").fill("ticks@example")  # no top-level domain: the server refuses it
    page.get_by_label(NEWSLETTER).check()
    page.wait_for_timeout(1100)  # the minimum fill time
    page.get_by_role("button", name="Stuur mij de whitepaper").click()
    # Sent back: the error is shown, the address as typed, and the box the person ticked still ticked
    expect(page.get_by_role("alert")).to_contain_text("Vul een geldig e-mailadres in")
    expect(page.get_by_label("E-mailadres")).to_have_value("ticks@example")
    expect(page.get_by_label(NEWSLETTER)).to_be_checked()
    expect(page.get_by_label(CALL)).not_to_be_checked()
    page.screenshot(path="/tmp/harden-form-error.png", full_page=True)
    # One fix of the address, and the request carries the purpose without ticking again
    page.get_by_label("E-mailadres").fill("ticks@example.com")
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(page.locator("h1")).to_contain_text("Kijk in je mailbox")
    with database(live_server).session() as session:
        submission = session.scalars(select(Submission).order_by(Submission.id.desc())).first()
        kinds = session.scalars(select(LeadRequest.purpose_key).where(LeadRequest.submission_id == submission.id))
        assert sorted(k for k in kinds if k) == ["newsletter"]
