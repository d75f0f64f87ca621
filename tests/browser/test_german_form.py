"""A German form end to end in a real browser: form, confirmation mail, confirm page, download, preferences."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from leadcapture.delivery.transports import MaildirTransport
from leadcapture.i18n import format_date
from tests.browser.conftest import CLI
from tests.support.app import ROOT

pytestmark = pytest.mark.browser

SHOTS = "/tmp/i18n-{}.png"
TITLE = "Machen Sie Ihren Vertrieb planbar"


def mail_to(server, address: str, subject_start: str):
    """The newest message to address whose subject starts so, as the recipient's client reads it."""
    outbox = MaildirTransport(server.var / "outbox")
    for _ in range(100):  # the in-process worker sends a moment after the page answered
        for _key, msg in outbox.messages():
            if msg["To"] == address and str(msg["Subject"]).startswith(subject_start):
                return msg
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address} starting {subject_start!r}")


def test_a_german_visitor_sees_german_pages_and_mails(page, live_server):
    # Given a German form, imported as a marketer would
    imported = subprocess.run(
        [*CLI, "forms", "import", str(ROOT / "demo" / "vertrieb.toml")],
        env=live_server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr

    # When a visitor fills it in and ticks the newsletter
    page.goto(f"{live_server}/f/vertrieb")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.get_by_text("Freiwillig: Was dürfen wir außerdem?")).to_be_visible()
    expect(page.get_by_text("Rechtsgrundlage: Ihre Einwilligung (Art. 6 Abs. 1 lit. a DSGVO).").first).to_be_visible()
    expect(page.get_by_text("Beschwerde bei der Aufsichtsbehörde, Autoriteit Persoonsgegevens")).to_be_visible()
    expect(page.get_by_text("Unbestätigte Anfragen löschen wir nach 30 Tagen.")).to_be_visible()
    page.get_by_label("E-Mail-Adresse").fill("greta@example.com")
    page.get_by_label("Name").fill("Greta Gründlich")
    page.get_by_label(re.compile("monatlichen Newsletter")).check()
    page.screenshot(path=SHOTS.format("form"), full_page=True)
    page.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    page.get_by_role("button", name="Whitepaper anfordern").click()
    expect(page.get_by_role("heading", name="Bitte sehen Sie in Ihrem Postfach nach")).to_be_visible()
    page.screenshot(path=SHOTS.format("check-mail"), full_page=True)

    # Then the confirmation mail is German: subject, body, footer, and it has the one-click headers
    msg = mail_to(live_server, "greta@example.com", "Bitte bestätigen")
    assert str(msg["Subject"]) == f"Bitte bestätigen Sie Ihre Anfrage: {TITLE}"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert text.startswith("Guten Tag,\n\nJemand – hoffentlich Sie – hat über unser Formular")
    assert "- Bitte senden Sie mir das Whitepaper: " + TITLE in text
    assert "- Senden Sie mir den monatlichen Newsletter mit Vertriebstipps." in text
    assert "Die Schaltfläche" not in text and "Der Link funktioniert 7 Tage lang" in " ".join(text.split())
    assert "Diese E-Mail wurde von Beispiel GmbH, Friedrichstraße 1, 10117 Berlin," in text
    assert "Nicht von Ihnen angefordert? Stornieren und sperren: http" in text
    assert (
        "Einstellungen verwalten: http" in text and "Datenschutzerklärung: https://www.example.com/datenschutz" in text
    )
    assert '<html lang="de">' in html and ">Bestätigen</a>" in html and "sperren diese Adresse</a>" in html
    assert re.fullmatch(r"<http://[^>]+/u/[^>]+>", msg["List-Unsubscribe"]), msg["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    for word in ("Hello", "Confirm", "Hallo", "Bevestig", "Privacy notice"):
        assert word not in text, word

    # The mail as the local mailbox shows it
    page.goto(f"{live_server}/dev/mail/")
    page.get_by_role("link", name=re.compile("Bitte bestätigen Sie")).first.click()
    page.screenshot(path=SHOTS.format("confirmation-mail"), full_page=True)

    # When the visitor opens the confirm link, the confirm page is German
    confirm_url = re.search(r"Zum Bestätigen öffnen Sie bitte diesen Link:\n(\S+)", text).group(1)
    page.goto(confirm_url)
    expect(page.get_by_role("heading", name="Bitte bestätigen Sie Ihre Anfrage")).to_be_visible()
    expect(page.get_by_text("Mit der Schaltfläche bestätigen Sie:")).to_be_visible()
    expect(page.get_by_text("Greta Gründlich")).to_be_visible()
    page.screenshot(path=SHOTS.format("confirm"), full_page=True)
    page.get_by_role("button", name="Bestätigen", exact=True).click()

    # Then the thank-you page offers the download, in German
    expect(page.get_by_role("heading", name="Vielen Dank, bestätigt")).to_be_visible()
    expect(page.get_by_text("Das Whitepaper senden wir Ihnen außerdem per E-Mail.")).to_be_visible()
    page.screenshot(path=SHOTS.format("thank-you"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Whitepaper jetzt herunterladen").click()
    with open(download.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    asset = mail_to(live_server, "greta@example.com", "Ihr Whitepaper")
    assert str(asset["Subject"]) == f"Ihr Whitepaper: {TITLE}"
    assert "Der Download-Link ist" in asset.get_body(("plain",)).get_content()

    # And the preference centre is German, its dates written as Germans write them
    page.get_by_role("link", name="Einstellungen verwalten").click()
    expect(page.get_by_role("heading", name="Ihre Einstellungen")).to_be_visible()
    row = page.locator("#purpose-newsletter")
    expect(row).to_contain_text("aktiv")
    expect(row).to_contain_text(f"seit {format_date(datetime.now(UTC), 'de')}")
    expect(row.get_by_role("button", name="Widerrufen")).to_be_visible()
    expect(page.get_by_role("button", name="Alles widerrufen")).to_be_visible()
    expect(page.get_by_role("link", name="Alle meine Daten löschen")).to_be_visible()
    page.screenshot(path=SHOTS.format("preferences"), full_page=True)
