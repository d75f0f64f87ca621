"""The fast message builder: what it writes parses back to exactly what we meant (RFC 5322/2045/8058)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from leadcapture.delivery.mail import Rendered, compose


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
