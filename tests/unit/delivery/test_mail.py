from email import policy
from email.parser import BytesParser

import pytest

from leadcapture.consent import wording
from leadcapture.delivery.templates import render
from tests.support.mail import message

FORM = {"title": "Whitepaper", "controller": "Voorbeeld B.V., Utrecht", "privacy_url": "https://x.test/privacy"}


def test_every_message_has_both_unsubscribe_headers():
    msg = message()
    assert msg["List-Unsubscribe"] == "<https://lc.test/u/TOKEN>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_mailto_may_be_added_after_the_https_uri():
    msg = message(unsubscribe_mailto="unsub@voorbeeld.nl")
    assert msg["List-Unsubscribe"] == "<https://lc.test/u/TOKEN>, <mailto:unsub@voorbeeld.nl?subject=unsubscribe>"


def test_it_has_date_message_id_from_and_both_parts():
    msg = message()
    assert msg["Date"] and msg["Message-ID"].endswith("@voorbeeld.nl>")
    assert msg["From"] == '"Voorbeeld B.V." <hallo@voorbeeld.nl>'  # RFC 5322 quotes the dots
    assert msg.get_body(("plain",)).get_content().strip() == "tekst"
    assert msg.get_body(("html",)).get_content().strip() == "<p>html</p>"
    assert "Auto-Submitted" not in msg


def test_confirmation_messages_are_auto_submitted():
    assert message(auto_submitted=True)["Auto-Submitted"] == "auto-generated"


def test_it_survives_a_round_trip_with_lines_under_998_octets():
    raw = message().as_bytes()
    assert max(len(line) for line in raw.split(b"\n")) <= 998
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_header_injection_is_refused():
    with pytest.raises(ValueError):
        message(to="jan@example.com\r\nBcc: victim@example.com")


@pytest.mark.parametrize("language", ["nl", "en"])
def test_confirmation_template_renders_in_both_languages(language):
    rendered = render(
        "confirmation",
        language,
        {
            "form": FORM,
            "wording": wording.of(FORM),
            "items": ["Nieuwsbrief"],
            "confirm_url": "https://lc.test/c/all",
            "not_me_url": "https://lc.test/u/x",
            "preferences_url": "https://lc.test/p/x",
            "max_age_days": 7,
        },
    )
    assert "\n" not in rendered.subject and "Whitepaper" in rendered.subject
    for part in (rendered.text, rendered.html):
        assert "Nieuwsbrief" in part and part.count("https://lc.test/c/") == 1  # one button
        assert "https://lc.test/u/x" in part and "Voorbeeld B.V., Utrecht" in part


def test_subject_stays_on_one_line_whatever_the_title():
    rendered = render(
        "asset",
        "en",
        {
            "form": dict(FORM, title="Two\nlines"),
            "wording": wording.of(FORM),
            "download_url": "u",
            "download_days": 30,
            "unsubscribe_url": "u",
            "preferences_url": "p",
        },
    )
    assert rendered.subject == "Your whitepaper: Two lines"


STAMPED = {
    "confirmation": ({"items": ["Nieuwsbrief", "Bel mij"], "max_age_days": 7}, ("confirm_url", "not_me_url")),
    "asset": ({"download_days": 30}, ("download_url", "unsubscribe_url")),
}


@pytest.mark.parametrize("kind", sorted(STAMPED))
@pytest.mark.parametrize("language", ["nl", "en", "de"])
def test_a_mail_rendered_once_and_stamped_is_the_mail_rendered_directly(language, kind):
    # The confirmation and whitepaper templates are rendered once per form version (and what is
    # listed); each message's links are stamped in. It must be the same mail, byte for byte.
    from leadcapture.delivery.renderer import render_once

    extra, (button, other) = STAMPED[kind]
    context = {"form": FORM, "wording": wording.of(FORM), **extra}
    for n, url in enumerate(["https://lc.test/c/one.tok-en_1", "https://lc.test/c/two?x=1&y=<2>"]):
        urls = {button: url, other: f"https://lc.test/u/{n}&n", "preferences_url": 'https://lc.test/p/"q"'}
        stamped = render_once(kind, language, ("test", 1), context, urls)
        assert stamped == render(kind, language, {**context, **urls})
