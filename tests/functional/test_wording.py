"""A form's own wording in the mails the worker sends and the pages a visitor sees; the legal parts stay."""

from __future__ import annotations

import tomllib

import pytest

from leadcapture.consent.formdefs import save, validate
from tests.support.app import DEMO_FORM, html_part, links, path_of, submit, text_part

PDF = (DEMO_FORM.parent / "sales-machine.pdf").read_bytes()
OWN = {
    "confirmation_subject": "Nog één klik: je whitepaper",
    "confirmation_intro": "Fijn dat je onze whitepaper wilt lezen.",
    "confirmation_button": "Ja, stuur maar",
    "asset_subject": "Hier is je whitepaper",
    "asset_intro": "Veel leesplezier met de whitepaper.",
    "asset_button": "Lees de whitepaper",
    "check_inbox": "Kijk in je mailbox en klik op de knop.",
    "thank_you": "Top, je hoort van ons!",
}
HOSTILE = "<script>x()</script>{{ 7*7 }}{% if 1 %}"  # fits the shortest limit (40)
ESCAPED = "&lt;script&gt;x()&lt;/script&gt;{{ 7*7 }}{% if 1 %}"


def import_with(services, wording: dict[str, str]):
    raw = tomllib.loads(DEMO_FORM.read_text())
    raw["wording"] = wording
    with services.db.session() as session:
        version, _ = save(session, validate(raw), PDF)
        return version.number


def only_mail(mailbox, email):
    (msg,) = mailbox.to(email)
    return msg


def confirm_everything(client, msg):
    (link,) = [u for u in links(msg) if "/c/" in u]
    return client.post(path_of(link))


def assert_legal_parts(msg, unsubscribe_text):
    assert msg["List-Unsubscribe"].startswith("<http://lc.test/u/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for part in (text_part(msg), html_part(msg)):
        assert "Deze e-mail is verstuurd door Voorbeeld B.V., Stationsplein 1" in part
        assert unsubscribe_text in part and "Beheer je voorkeuren" in part
        assert "https://www.example.com/privacy" in part and "Privacyverklaring" in part


def test_the_confirmation_mail_carries_the_forms_wording_and_still_the_legal_footer(client, services, worker, mailbox):
    # Given a form with its own wording
    import_with(services, OWN)
    # When a visitor asks for the whitepaper
    page = submit(client, "jan@example.com").get_data(as_text=True)
    worker.drain()
    # Then the check-inbox page and the mail read as the marketer wrote them
    assert OWN["check_inbox"] in page and "Voor je veiligheid sturen we hooguit" in page  # the fixed hint stays
    msg = only_mail(mailbox, "jan@example.com")
    assert msg["Subject"] == OWN["confirmation_subject"]
    assert msg["Auto-Submitted"] == "auto-generated"
    html, text = html_part(msg), text_part(msg)
    assert f"<p>{OWN['confirmation_intro']}</p>" in html and OWN["confirmation_intro"] in text
    assert ">Ja, stuur maar</a>" in html and "Ja, stuur maar:\nhttp://lc.test/c/" in text
    assert "Iemand (hopelijk jij)" not in text and ">Bevestig</a>" not in html
    assert "Stuur mij de whitepaper: Maak van je verkoopteam een sales machine" in text  # what was asked stays
    assert "Heb je dit niet aangevraagd?" in text  # and so does the way out
    assert_legal_parts(msg, "Niet door jou aangevraagd? Annuleer en blokkeer")


def test_the_thank_you_page_and_the_whitepaper_mail_carry_the_forms_wording(client, services, worker, mailbox):
    import_with(services, OWN)
    submit(client, "jan@example.com")
    worker.drain()
    page = confirm_everything(client, only_mail(mailbox, "jan@example.com")).get_data(as_text=True)
    assert OWN["thank_you"] in page and "We mailen je de whitepaper ook." in page
    worker.drain()
    (asset_mail,) = [m for m in mailbox.to("jan@example.com") if m["Subject"] == OWN["asset_subject"]]
    html, text = html_part(asset_mail), text_part(asset_mail)
    assert OWN["asset_intro"] in html and OWN["asset_intro"] in text
    assert ">Lees de whitepaper</a>" in html and "Lees de whitepaper:\nhttp://lc.test/d/" in text
    assert "De downloadlink is 30 dagen geldig." in text
    assert_legal_parts(asset_mail, "Afmelden voor alle e-mail van ons")


def test_without_wording_the_mails_and_pages_read_as_before(client, demo_form, worker, mailbox):
    page = submit(client, "jan@example.com").get_data(as_text=True)
    assert "We hebben een bevestigingsmail gestuurd" in page
    worker.drain()
    msg = only_mail(mailbox, "jan@example.com")
    assert msg["Subject"] == "Bevestig je aanvraag: Maak van je verkoopteam een sales machine"
    assert "Iemand (hopelijk jij) heeft via ons formulier" in text_part(msg) and ">Bevestig</a>" in html_part(msg)
    assert "Klik op de link om te bevestigen:\nhttp://lc.test/c/" in text_part(msg)
    assert "Bedankt, dit is bevestigd." in confirm_everything(client, msg).get_data(as_text=True)


def test_the_mail_uses_the_wording_of_the_version_the_visitor_saw(client, services, worker, mailbox):
    # Given a submission made under version 1
    import_with(services, {"confirmation_subject": "Versie één"})
    with worker.paused():
        submit(client, "jan@example.com")
        # When the marketer changes the wording before the worker sends the mail
        assert import_with(services, {"confirmation_subject": "Versie twee"}) == 2
    worker.drain()
    # Then the mail reads as the version the visitor submitted
    assert only_mail(mailbox, "jan@example.com")["Subject"] == "Versie één"


@pytest.mark.parametrize("key", ["confirmation_subject", "confirmation_intro", "confirmation_button"])
def test_markup_and_template_syntax_in_the_confirmation_wording_stay_inert(key, client, services, worker, mailbox):
    import_with(services, {key: HOSTILE})
    submit(client, "jan@example.com")
    worker.drain()
    msg = only_mail(mailbox, "jan@example.com")
    html, text = html_part(msg), text_part(msg)
    assert "<script>" not in html  # and the literal {{ 7*7 }} below shows nothing was evaluated
    if key == "confirmation_subject":
        assert msg["Subject"] == HOSTILE
    else:
        assert ESCAPED in html
        assert HOSTILE in text  # the text part is plain text: shown as typed, nothing runs


@pytest.mark.parametrize("key", ["asset_subject", "asset_intro", "asset_button", "thank_you"])
def test_markup_and_template_syntax_in_the_whitepaper_wording_stay_inert(key, client, services, worker, mailbox):
    import_with(services, {key: HOSTILE})
    submit(client, "jan@example.com")
    worker.drain()
    page = confirm_everything(client, only_mail(mailbox, "jan@example.com")).get_data(as_text=True)
    assert "<script>x()" not in page
    if key == "thank_you":
        assert ESCAPED in page
    worker.drain()
    (asset_mail,) = [m for m in mailbox.to("jan@example.com") if "/d/" in text_part(m)]
    assert "<script>" not in html_part(asset_mail)
    if key == "asset_subject":
        assert asset_mail["Subject"] == HOSTILE
    elif key != "thank_you":
        assert ESCAPED in html_part(asset_mail)
        assert HOSTILE in text_part(asset_mail)


def test_markup_in_the_check_inbox_wording_stays_inert(client, services):
    import_with(services, {"check_inbox": HOSTILE})
    page = submit(client, "jan@example.com").get_data(as_text=True)
    assert "<script>x()" not in page and ESCAPED in page
