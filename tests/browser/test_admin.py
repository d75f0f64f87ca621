"""The admin in a real browser: sign in, build a form with two purposes, embed it on another site,
submit through the embed, confirm, and find the submission and its proof; axe on every main page."""

from __future__ import annotations

import functools
import re
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import CLI, free_port
from tests.browser.test_double_opt_in import open_newest_mail
from tests.support.app import ROOT

pytestmark = pytest.mark.browser
PDF = ROOT / "demo" / "sales-machine.pdf"


@pytest.fixture(scope="module")
def customer_site(tmp_path_factory):
    """Another site (another origin) where the marketer pastes the snippet: a static web server."""
    root = tmp_path_factory.mktemp("customer")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


OWN_PASSWORD = "the owner's own long password"


@pytest.fixture(scope="module")
def admin_password(live_server, live_env) -> dict[str, str]:
    """The account's password: first the one-time password the CLI prints, then the one the owner chose."""
    result = subprocess.run(
        [*CLI, "users", "create", "owner@example.com", "--role", "admin"],
        env=live_env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return {"password": re.search(r"one-time password: (\S+)", result.stdout).group(1)}


def sign_in(page, base, password):
    page.goto(f"{base}/admin/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(password["password"])
    page.get_by_role("button", name="Sign in").click()
    if password["password"] != OWN_PASSWORD:  # the first sign-in: choose a password of one's own
        expect(page.get_by_text("You signed in with a one-time password")).to_be_visible()
        page.get_by_label("Current password").fill(password["password"])
        page.get_by_label("New password (at least 12 characters)").fill(OWN_PASSWORD)
        page.get_by_label("New password again").fill(OWN_PASSWORD)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_text("Your password is changed")).to_be_visible()
        password["password"] = OWN_PASSWORD
        page.goto(f"{base}/admin/")
    expect(page.get_by_role("heading", name="Welcome, owner@example.com")).to_be_visible()


def assert_accessible(page, what):
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, (what, [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in serious])


def test_sign_in_build_embed_submit_and_find_the_proof(page, live_server, admin_password, customer_site):
    base = live_server
    site_root, site = customer_site
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    sign_in(page, base, admin_password)

    page.get_by_role("link", name="Forms", exact=True).first.click()
    page.get_by_role("link", name="New form").click()
    page.get_by_label("Address (slug)").fill("webinar")
    page.get_by_label("Language of the form").select_option("en")
    page.get_by_label("Title").fill("Get the webinar recording")
    page.get_by_label("Controller").fill("Example Ltd, 1 High Street, London")
    page.get_by_label("Privacy notice URL").fill("https://www.example.com/privacy")
    page.get_by_label("Sites that may embed this form").fill(site)
    page.get_by_label("Whitepaper (PDF").set_input_files(str(PDF))
    page.get_by_label("Key").fill("newsletter")
    page.get_by_label("Checkbox label").fill("Send me the monthly newsletter.")
    page.get_by_role("button", name="Add a purpose").click()
    expect(page.get_by_text("Chosen: sales-machine.pdf")).to_be_visible()
    page.locator("#p1-key").fill("call")
    page.locator("#p1-channel").select_option("phone")
    page.locator("#p1-label").fill("You may call me about your services.")
    preview = page.frame_locator("iframe[name=preview]")
    expect(preview.get_by_text("You may call me about your services.")).to_be_visible()  # live, unsaved
    expect(preview.get_by_label("Email address")).to_be_visible()
    assert_accessible(page, "form editor")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as version 1.")).to_be_visible()
    assert_accessible(page, "form detail")

    page.get_by_role("button", name="Copy snippet").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    snippet = page.evaluate("navigator.clipboard.readText()")
    assert snippet == f'<script src="{base}/f/webinar/embed.js" async></script>'

    (site_root / "webinar.html").write_text(
        f"<!doctype html><html lang=en><title>Customer</title><h1>Our webinar</h1>{snippet}</html>"
    )
    customer = page.context.new_page()
    customer.goto(f"{site}/webinar.html")
    frame = customer.frame_locator("iframe")
    frame.get_by_label("Email address").fill("visitor@example.com")
    frame.get_by_label("Send me the monthly newsletter.").check()
    frame.get_by_label("You may call me about your services.").check()
    customer.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    frame.get_by_role("button", name="Send me the whitepaper").click()
    # The phone purpose brought the phone field, required now that its box is ticked
    expect(frame.get_by_text("Enter your phone number: you ticked that we may call you.")).to_be_visible()
    frame.get_by_label("Phone number").fill("+44 20 7946 0958")
    frame.get_by_role("button", name="Send me the whitepaper").click()
    expect(frame.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert customer.url == f"{site}/webinar.html"  # the host page did not navigate
    customer.close()

    text = open_newest_mail(page, base, "Confirm your request: Get the webinar recording")
    page.goto(re.search(r"to confirm:\s*(\S+)", text).group(1))
    page.get_by_role("button", name="Confirm", exact=True).click()

    page.goto(f"{base}/admin/people/")
    page.get_by_label("Email address").fill("visitor@example.com")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("heading", name="visitor@example.com")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("newsletter confirmed"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("call confirmed"))).to_be_visible()
    expect(page.get_by_text("“Send me the monthly newsletter.”")).to_be_visible()
    assert_accessible(page, "person")
    page.get_by_role("link", name="Printable proof").click()
    expect(page.get_by_role("heading", name="Proof of consent")).to_be_visible()
    expect(page.get_by_text("webinar, version 1 (en)").first).to_be_visible()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/forms/",
        "/admin/forms/new",
        "/admin/forms/sales-machine/",
        "/admin/forms/sales-machine/v/1",
        "/admin/forms/sales-machine/funnel",
        "/admin/forms/import",
        "/admin/contacts/",
        "/admin/people/",
        "/admin/people/import",
        "/admin/users",
        "/admin/audit",
        "/admin/tokens",
        "/admin/webhooks",
        "/admin/account",
        "/admin/account/2fa",
        "/admin/register",
        "/admin/leads",
        "/admin/campaigns",
        "/admin/campaigns/new",
    ],
)
def test_admin_pages_have_no_serious_accessibility_violations(page, live_server, admin_password, path):
    sign_in(page, live_server, admin_password)
    page.goto(f"{live_server}{path}")
    expect(page.locator("h1")).to_be_visible()
    assert_accessible(page, path)


@pytest.mark.parametrize("path", ["/admin/login", "/f/sales-machine", "/f/sales-machine?embed=1"])
def test_login_and_hosted_form_have_no_serious_accessibility_violations(page, live_server, path):
    page.goto(f"{live_server}{path}")
    assert_accessible(page, path)


def test_a_marketer_composes_previews_tests_and_schedules_a_campaign(page, live_server, admin_password):
    base = live_server
    sign_in(page, base, admin_password)
    page.get_by_role("link", name="Campaigns", exact=True).first.click()
    page.get_by_role("link", name="New campaign").click()
    audience = page.get_by_label("Audience: the people who consented to a purpose of a brand")
    newsletter = audience.locator("option", has_text="/ newsletter:").first.get_attribute("value")
    audience.select_option(newsletter)  # the newsletter of the demo form's brand
    page.locator("#subject_nl").fill("Drie salestips voor december")
    page.locator("#body_nl").fill("# Tip 1\n\nBel **eerst** je beste klanten.")
    preview = page.frame_locator("iframe[name=preview]")
    expect(preview.get_by_role("heading", name="Tip 1")).to_be_visible()  # live, unsaved
    assert_accessible(page, "campaign editor")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Saved as a draft.")).to_be_visible()
    page.get_by_role("button", name="Send a test to owner@example.com").click()
    expect(page.get_by_text("Test sent to owner@example.com")).to_be_visible()
    campaign_page = page.url
    text = open_newest_mail(page, base, r"\[TEST\] Drie salestips voor december")
    assert "Bel **eerst** je beste klanten." in text
    page.goto(campaign_page)
    page.get_by_label("Start at (UTC)").fill("2099-12-01T09:30")
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_text("starts by itself at 2099-12-01 09:30 UTC")).to_be_visible()
    assert_accessible(page, "campaign page")


def test_a_marketer_finds_a_lead_by_company_and_reads_the_funnel_for_a_range(page, live_server, admin_password):
    base = live_server
    visitor = page.context.new_page()
    visitor.goto(f"{base}/f/sales-machine")
    visitor.get_by_label("E-mailadres").fill("koper@example.com")
    visitor.get_by_label("Bedrijf").fill("Van der Berg Techniek")
    visitor.get_by_role("checkbox").first.check()
    visitor.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    visitor.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(visitor.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()
    visitor.close()
    sign_in(page, base, admin_password)
    page.get_by_role("link", name="Leads", exact=True).first.click()
    page.get_by_label("Company or name").fill("techniek BERG")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("koper@example.com")
    expect(rows.first).to_contain_text("Van der Berg Techniek")
    page.goto(f"{base}/admin/forms/sales-machine/funnel")
    page.get_by_label("From (UTC day)").fill("2026-01-01")
    page.get_by_label("Per", exact=True).select_option("month")
    page.get_by_role("button", name="Show").click()
    assert "since=2026-01-01" in page.url and "period=month" in page.url
    expect(page.locator(".uplot").first).to_be_visible()  # the charts drew
    expect(page.get_by_text("asked for the whitepaper")).to_be_visible()
    assert_accessible(page, "funnel with a range")


def test_import_contacts_dry_run_then_import_and_find_the_provenance(page, live_server, admin_password, tmp_path):
    csv_file = tmp_path / "fair.csv"
    csv_file.write_text(
        "email;purpose;consented_at;source;lawful_basis;form;form_version;evidence\n"
        "fair.visitor@example.com;newsletter;2026-06-01T10:00:00Z;Trade fair Utrecht;consent;sales-machine;1;"
        "badge scan 17\n"
        "=cmd@example.com;newsletter;2026-06-01;Trade fair Utrecht;consent;;;\n"
    )
    sign_in(page, live_server, admin_password)
    page.get_by_role("link", name="Import contacts").click()
    page.get_by_label("CSV file (UTF-8, up to 2 MB)").set_input_files(str(csv_file))
    expect(page.get_by_role("checkbox", name="Dry run")).to_be_checked()
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_have_text("Nothing was changed. 2 row(s): 1 created, 1 invalid.")
    assert_accessible(page, "import dry run report")
    page.get_by_label("CSV file (UTF-8, up to 2 MB)").set_input_files(str(csv_file))
    page.get_by_role("checkbox", name="Dry run").uncheck()
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="Imported fair.csv")).to_be_visible()
    expect(page.get_by_role("cell", name="email starts with '=': formula-like cells are refused")).to_be_visible()
    assert_accessible(page, "import report")
    page.get_by_role("link", name="People").click()
    page.get_by_label("Email address").fill("fair.visitor@example.com")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_text("source Trade fair Utrecht")).to_be_visible()
