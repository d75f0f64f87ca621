"""The embed on a customer's site on another origin, in headless Chromium with third-party cookies blocked.

Done-when of issue 7: a page on another origin (a second local port) embeds the form with the
snippet; submitting (by keyboard, with the proof of work on) and confirming works; a page on a
non-allowed origin does not get the form (embed.js declines, and CSP frame-ancestors blocks a
hand-made iframe).
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from leadcapture.models import Consent, Submission
from tests.browser.conftest import CHROMIUM_ARGS, serving
from tests.browser.hosts import allow_origin, customer_page, database, static_site, wait_for_mail

pytestmark = pytest.mark.browser

TITLE = "Maak van je verkoopteam een sales machine"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A live server with the proof of work on (pow.js runs in the embed)."""
    with serving(tmp_path_factory.mktemp("embed") / "var", POW_DIFFICULTY="12") as base:
        yield base


@pytest.fixture(scope="module")
def sites(server, tmp_path_factory):
    """An allowed customer site and a foreign one, on two more ports; the first added by a TOML import."""
    root = tmp_path_factory.mktemp("sites")
    snippet = f'<script src="{server}/f/sales-machine/embed.js" async></script>'
    hand_made = f'<iframe id="raw" src="{server}/f/sales-machine?embed=1" title="raw"></iframe>'
    with (
        static_site(root / "allowed", customer_page(snippet)) as allowed,
        static_site(root / "foreign", customer_page(snippet + hand_made)) as foreign,
    ):
        allow_origin(server, f"http://localhost:{allowed}", root / "form")
        yield {"allowed": f"http://localhost:{allowed}", "foreign": f"http://localhost:{foreign}"}


@pytest.fixture(scope="module")
def context(chromium_path, tmp_path_factory):
    """A Chromium profile that blocks third-party cookies (our frame is third-party on the customer site)."""
    profile = tmp_path_factory.mktemp("profile")
    (profile / "Default").mkdir()
    prefs = {"profile": {"block_third_party_cookies": True, "cookie_controls_mode": 1}}
    (profile / "Default" / "Preferences").write_text(json.dumps(prefs))
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield ctx
        ctx.close()


def form_frame(page, server):
    frame = next((f for f in page.frames if f.url.startswith(f"{server}/f/sales-machine")), None)
    assert frame is not None, [f.url for f in page.frames]
    return frame


def active_id(frame) -> str:
    return frame.evaluate("() => document.activeElement && document.activeElement.id")


def test_a_customer_site_embeds_the_form_and_a_visitor_subscribes_by_keyboard(context, server, sites):
    seen = []
    context.on("response", lambda response: seen.append(response))
    page = context.new_page()
    page.goto(sites["allowed"])
    iframe = page.locator("iframe[data-leadcapture]")
    expect(iframe).to_have_attribute("title", TITLE)
    frame_loc = page.frame_locator("iframe[data-leadcapture]")
    expect(frame_loc.get_by_label("E-mailadres")).to_be_visible()
    frame = form_frame(page, server)

    # Third-party cookies really are blocked in this frame, and the form does not need them.
    probe = "() => { document.cookie = 'probe=1; SameSite=None; Secure'; return document.cookie; }"
    assert frame.evaluate(probe) == ""

    # The frame grew to its content (postMessage from our origin to this origin only).
    page.wait_for_function("() => document.querySelector('iframe[data-leadcapture]').style.height !== '640px'")
    content_height = frame.evaluate("() => document.documentElement.scrollHeight")
    assert abs(iframe.bounding_box()["height"] - content_height) <= 2

    # A script on the host page cannot spoof a resize: messages must come from the frame itself.
    before = iframe.evaluate("el => el.style.height")
    page.evaluate("() => window.postMessage({type: 'leadcapture:height', height: 150}, '*')")
    page.wait_for_timeout(200)
    assert iframe.evaluate("el => el.style.height") == before

    # Keyboard only: from the link before the form, Tab enters the frame at the address field.
    page.focus("#before")
    page.keyboard.press("Tab")
    assert active_id(frame) == "email"
    page.keyboard.type("keyboard@example.com")
    for _ in range(10):
        page.keyboard.press("Tab")
        if active_id(frame) == "purpose_newsletter":
            break
    assert active_id(frame) == "purpose_newsletter"  # the honeypot is skipped
    page.keyboard.press("Space")
    expect(frame_loc.get_by_label(re.compile("nieuwsbrief"))).to_be_checked()
    page.wait_for_timeout(1100)  # the minimum fill time
    frame.focus("#email")
    page.keyboard.press("Enter")  # pow.js computes the proof of work, then posts

    done = frame_loc.get_by_role("heading", name="Kijk in je mailbox")
    expect(done).to_be_visible()
    expect(done).to_be_focused()  # a screen reader lands on the outcome
    assert page.url.rstrip("/") == sites["allowed"]  # the host page did not navigate

    db = database(server)
    with db.session() as session:
        submission = session.scalars(select(Submission)).one()
        assert submission.page_url.startswith(sites["allowed"])  # where the form was filled in

    # Confirm from the email, as the visitor would.
    (message,) = wait_for_mail(server, "keyboard@example.com")
    text = message.get_body(("plain",)).get_content()
    confirm_all = re.search(r"bevestigen:\s*(\S+)", text).group(1)
    confirm_page = context.new_page()
    confirm_page.goto(confirm_all)
    confirm_page.get_by_role("button", name="Bevestig", exact=True).click()
    expect(confirm_page.get_by_role("heading", name="Bedankt, bevestigd")).to_be_visible()
    with db.session() as session:
        assert session.scalars(select(Consent.state).where(Consent.purpose_key == "newsletter")).one() == "confirmed"
    db.dispose()

    ours = [r for r in seen if r.url.startswith(server)]
    assert ours
    for response in ours:
        assert response.header_value("set-cookie") is None, response.url
        assert response.request.header_value("cookie") is None, response.url
    assert context.cookies() == []


def test_a_site_that_is_not_allowed_does_not_get_the_form(context, server, sites):
    messages = []
    page = context.new_page()
    page.on("console", lambda msg: messages.append(msg.text))
    with page.expect_response(re.compile(r"/embed\.js$")):
        page.goto(sites["foreign"])
    page.wait_for_load_state("networkidle")
    expect(page.locator("iframe[data-leadcapture]")).to_have_count(0)  # embed.js declined
    assert any("may not embed form sales-machine" in m for m in messages), messages
    # The site owner testing the embed sees why, in the embed's place, in the form's language.
    notice = page.locator("[data-leadcapture-notice]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(f"Dit formulier kan niet op {sites['foreign']} worden getoond")
    expect(notice).to_contain_text("allowed_origins")
    assert notice.evaluate("el => el.previousElementSibling.src").endswith("/embed.js")  # where the snippet is

    # A hand-made iframe is refused by the browser itself (CSP frame-ancestors).
    for frame in page.frames[1:]:
        try:
            assert frame.locator("#email").count() == 0
        except Exception as exc:  # an error page's frame may not be scriptable at all
            assert "Target" in str(exc) or "frame" in str(exc).lower()
    assert any("frame-ancestors" in m for m in messages), messages


def test_the_browser_proof_of_work_hashes_exactly_like_the_server(context, server):
    import hashlib

    page = context.new_page()
    page.goto(f"{server}/f/sales-machine")
    samples = ["", "abc", "a" * 55, "b" * 56, "c" * 64, "d" * 119, "tøken:ém@ïl.nl:123", "𝔘" * 40]
    script = """samples => samples.map(s => window.leadcapturePow.sha256(new TextEncoder().encode(s))
        .map(w => (w >>> 0).toString(16).padStart(8, '0')).join(''))"""
    assert page.evaluate(script, samples) == [hashlib.sha256(s.encode()).hexdigest() for s in samples]


def test_the_embed_follows_its_content_down_after_submit(context, server, sites):
    # Given the form embedded on a customer's page, grown to the form's height
    page = context.new_page()
    page.goto(sites["allowed"])
    iframe = page.locator("iframe[data-leadcapture]")
    frame_loc = page.frame_locator("iframe[data-leadcapture]")
    expect(frame_loc.get_by_label("E-mailadres")).to_be_visible()
    page.wait_for_function("() => document.querySelector('iframe[data-leadcapture]').style.height !== '640px'")
    form_height = iframe.bounding_box()["height"]
    assert form_height > 900
    # When the visitor submits
    frame_loc.get_by_label("E-mailadres").fill("shrink@example.com")
    page.wait_for_timeout(1100)  # the minimum fill time
    frame_loc.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(frame_loc.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()
    # Then the frame shrinks to the thank-you: no blank block is left on the customer's page
    shrunk = "h => document.querySelector('iframe[data-leadcapture]').getBoundingClientRect().height < h / 2"
    page.wait_for_function(shrunk, arg=form_height)
    frame = form_frame(page, server)
    content = frame.evaluate("() => document.body.getBoundingClientRect().height")
    assert abs(iframe.bounding_box()["height"] - content) <= 2
    assert content < 400
