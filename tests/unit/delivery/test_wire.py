"""The one message builder: what it writes parses back to exactly what we meant (RFC 5322/2045/8058).

Templated mail (compose) and campaign content (the content renderer's fast path) both go
through it; the tests at the end build campaign messages as a campaign page does.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from leadcapture.delivery import content
from leadcapture.delivery.renderer import ContentRenderer
from leadcapture.delivery.templates import Rendered, compose
from leadcapture.delivery.wire import OutgoingMessage, header_line, mail_address
from leadcapture.models import ContentItem, ContentTranslation, Person, new_public_id


def build(subject="Onderwerp", text="tekst\n", html="<p>html</p>\n", **kw):
    args = dict(
        sender="Voorbeeld B.V. <hallo@voorbeeld.nl>", to="jan@example.com", unsubscribe_url="https://lc.test/u/T"
    )
    args.update(kw)
    return compose(Rendered(subject, text, html), **args)


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def test_non_ascii_subject_and_sender_are_encoded_words_that_decode_back():
    msg = build(subject="Bevestig je aanvraag: café ü €", sender="Zoë's Bakkerij <zoe@bakkerij.nl>")
    raw = msg.as_bytes()
    assert raw.isascii()
    parsed = parse(raw)
    assert parsed["Subject"] == "Bevestig je aanvraag: café ü €"
    assert parsed["From"].addresses[0].display_name == "Zoë's Bakkerij"
    assert parsed["From"].addresses[0].addr_spec == "zoe@bakkerij.nl"


def test_bodies_round_trip_whatever_they_contain():
    text = "Regel één\n.\nFrom the start\n" + "x" * 300 + "\ntrailing space \n=3D literal\n"
    html = '<p lang="nl">één & "quotes"</p>\n' + "<b>" + "y" * 500 + "</b>\n"
    parsed = parse(build(text=text, html=html).as_bytes())
    assert parsed.get_body(("plain",)).get_content() == text
    assert parsed.get_body(("html",)).get_content() == html
    assert parsed.get_content_type() == "multipart/alternative"


def test_smtp_form_is_crlf_with_short_lines_and_long_headers_folded():
    long_url = "https://lc.test/u/" + "T" * 150
    msg = build(unsubscribe_url=long_url, unsubscribe_mailto="unsub@voorbeeld.nl")
    wire = msg.as_bytes(policy=policy.SMTP)
    lines = wire.split(b"\r\n")
    assert b"\n" not in b"".join(lines)  # every line ends in CRLF
    assert max(len(line) for line in lines) <= 998
    parsed = parse(wire)
    assert parsed["List-Unsubscribe"] == f"<{long_url}>, <mailto:unsub@voorbeeld.nl?subject=unsubscribe>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_headers_read_like_an_email_message_and_can_be_added():
    msg = build(auto_submitted=True)
    assert msg["auto-submitted"] == "auto-generated" and "Date" in msg and msg["X-Missing"] is None
    msg["X-Campaign"] = "spring"
    assert parse(msg.as_bytes())["X-Campaign"] == "spring"
    del msg["X-Campaign"]
    assert "X-Campaign" not in parse(msg.as_bytes())
    with pytest.raises(ValueError):
        msg["X-Evil"] = "a\r\nBcc: victim@example.com"


def test_each_message_gets_its_own_boundary_and_message_id():
    first, second = build(), build()
    assert first["Message-ID"] != second["Message-ID"]
    assert parse(first.as_bytes()).get_boundary() != parse(second.as_bytes()).get_boundary()


# --- the campaign path: the content renderer --------------------------------------------------

LONG = "Eén voorspelbare pijplijn begint bij de klanten die je al hebt; bel ze vóór je concurrent het doet. " * 5
MARKDOWN = f"# Tip\n\n{LONG}\n\n[Lees meer](https://example.com/x)\n"


def campaign_message(services, to="lees@example.com", subject="Één tip voor december — €0", person_id=7):
    """The message a campaign page sends to one person (a form version's footer left out)."""
    translation = ContentTranslation(
        language="nl",
        subject=subject,
        body_markdown=MARKDOWN,
        body_html=content.to_html(MARKDOWN),
        body_text=content.to_text(MARKDOWN),
    )
    item = ContentItem(purpose_key="newsletter", translations=[translation])
    person = Person(
        id=person_id, public_id=new_public_id(), language="nl", email_enc=services.vault.encrypt(to), email_index="-"
    )
    renderer = ContentRenderer(services, item, "newsletter")
    renderer.load_versions(None, {None})
    return renderer.message(person, None)


def test_a_campaign_message_is_a_correct_mime_message_on_the_wire(services):
    msg = campaign_message(services)
    assert isinstance(msg, OutgoingMessage)
    data = msg.as_bytes(policy=policy.SMTP)
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    parsed = parse(data)
    assert parsed["Subject"] == "Één tip voor december — €0"
    (sender,) = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Voorbeeld B.V.", "hallo@voorbeeld.nl")
    assert parsed["To"] == "lees@example.com" and parsed["Message-ID"] == msg["Message-ID"]
    assert parsed["Date"] is not None and parsed["MIME-Version"] == "1.0"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"


def test_a_campaign_message_round_trips_its_bodies_and_personal_links(services):
    parsed = parse(campaign_message(services).as_bytes())
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert LONG.strip() in text
    assert "<h1>Tip</h1>" in html and "vóór" in html
    unsubscribe = parsed["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://lc.test/u/")
    assert unsubscribe in text and unsubscribe.replace("&", "&amp;") in html
    assert "LCSLOT" not in text and "LCSLOT" not in html


def test_each_person_gets_their_own_links_message_id_and_boundary(services):
    first, second = campaign_message(services, person_id=1), campaign_message(services, person_id=2)
    assert first["List-Unsubscribe"] != second["List-Unsubscribe"]
    assert first["Message-ID"] != second["Message-ID"]
    assert parse(first.as_bytes()).get_boundary() != parse(second.as_bytes()).get_boundary()


def test_an_internationalised_address_is_written_for_smtputf8_and_reads_back(services):
    # An address may not hold RFC 2047 words: a non-ASCII local part is UTF-8 (RFC 6532), the domain A-labels.
    data = campaign_message(services, to="jürgen@bücher.example").as_bytes(policy=policy.SMTP)
    assert "\r\nTo: jürgen@xn--bcher-kva.example\r\n".encode() in data
    assert BytesParser(policy=policy.SMTPUTF8).parsebytes(data)["To"] == "jürgen@xn--bcher-kva.example"
    assert campaign_message(services, to="jan@bücher.example").as_bytes(policy=policy.SMTP).isascii()


def test_a_campaign_address_with_a_line_break_is_refused(services):
    with pytest.raises(ValueError):
        campaign_message(services, to="lees@example.com\r\nBcc: victim@example.com")


def test_an_idn_domain_is_written_in_a_labels():
    assert mail_address("jan@bücher.example") == "jan@xn--bcher-kva.example"
    assert mail_address("jöran@bücher.example") == "jöran@xn--bcher-kva.example"
    assert mail_address("jan@example.com") == "jan@example.com"
    assert mail_address("jan@-bad-.ëxample") == "jan@-bad-.ëxample"  # IDNA refuses it: left as typed


def test_a_non_ascii_address_header_is_utf8_and_parses_back():
    assert header_line("To", "jöran@xn--bcher-kva.example") == "To: jöran@xn--bcher-kva.example\n"
    msg = OutgoingMessage([("To", "jöran@xn--bcher-kva.example"), ("Subject", "Één")], "tekst", "<p>html</p>")
    back = BytesParser(policy=policy.SMTPUTF8).parsebytes(msg.as_bytes(policy=policy.SMTP))
    assert back["To"] == "jöran@xn--bcher-kva.example"
    assert back["Subject"] == "Één"
    assert "=?utf-8?" in msg.as_string().split("Subject: ")[1].splitlines()[0]  # other headers stay RFC 2047
