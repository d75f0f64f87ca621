"""Where a lead came from, cleaned of whatever a browser or an attacker sends."""

from __future__ import annotations

import pytest

from leadcapture.consent.source import DIRECT, Source, clean_referrer, clean_text, funnel_source


def test_campaign_tags_are_one_line_of_printable_text_capped_at_100():
    assert clean_text("news\r\nletter\x00\x1b[31m\u2028x") == "news letter[31m x"
    assert clean_text("  spaced\tout  ") == "spaced out"
    assert clean_text("x" * 5000) == "x" * 100
    assert clean_text(None) == "" and clean_text(["a"]) == ""


def test_source_and_medium_are_case_folded_and_the_campaign_keeps_its_case():
    source = Source.clean("LinkedIn", "Social", "Q4-Launch", "")
    assert (source.utm_source, source.utm_medium, source.utm_campaign) == ("linkedin", "social", "Q4-Launch")
    assert source.funnel_source == "linkedin"


def test_without_a_source_or_with_the_word_direct_it_is_direct():
    assert Source.clean().funnel_source == DIRECT
    assert Source.clean("Direct").utm_source == ""
    assert funnel_source(" \x07 ") == DIRECT and funnel_source("Google") == "google"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://www.linkedin.com/feed/update/1?trk=abc#top", "https://www.linkedin.com/feed/update/1"),
        ("https://jan:secret@example.com/p?email=jan@example.com", "https://example.com/p"),
        ("HTTP://Example.com", "http://Example.com"),
        ("javascript:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("android-app://com.linkedin.android/", ""),
        ("https://", ""),
        ("https://[::1", ""),
        ("not a url", ""),
        ("https://example.com/" + "p" * 600, ""),
        ("https://example.com/a\r\nSet-Cookie: x", "https://example.com/a%20Set-Cookie:%20x"),
        (None, ""),
    ],
)
def test_the_referrer_is_an_http_page_as_origin_and_path_only(given, kept):
    assert clean_referrer(given) == kept
