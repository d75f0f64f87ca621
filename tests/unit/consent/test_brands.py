"""Brand settings: validation, the WCAG text colour on the brand colour, and which logos are taken."""

from __future__ import annotations

import pytest

from leadcapture.consent import brands
from leadcapture.consent.brands import BrandError
from leadcapture.models import Brand
from tests.support.images import png


def test_contrast_follows_wcag():
    assert brands.contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert brands.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize(
    ("colour", "text"),
    [("#1f4e79", "#ffffff"), ("#ffd700", "#000000"), ("#ffffff", "#000000"), ("#000000", "#ffffff")],
)
def test_the_text_on_a_brand_colour_is_whichever_of_white_and_black_contrasts_more(colour, text):
    look = brands.look(Brand(colour=colour, name="B"))
    assert look.text == text and brands.contrast(colour, text) >= 4.5


def test_settings_are_checked_all_at_once_and_normalised():
    clean = brands.check({"slug": "acme", "name": " Acme ", "controller": "Acme Ltd", "colour": "#ABCDEF"})
    assert clean["name"] == "Acme" and clean["colour"] == "#abcdef"
    assert clean["authority_name"] == "Autoriteit Persoonsgegevens" and clean["sender_address"] == ""
    with pytest.raises(BrandError) as refused:
        brands.check({"slug": "-x", "name": "", "controller": "x", "reply_to": "nope", "colour": "blue", "odd": 1})
    assert len(refused.value.problems) == 5


@pytest.mark.parametrize("field", ["name", "sender_name", "controller"])
def test_a_line_break_never_reaches_a_header(field):
    values = {"slug": "a", "name": "A", "controller": "A", field: "A\r\nBcc: victim@example.com"}
    with pytest.raises(BrandError, match="must be one line"):
        brands.check(values)


def test_only_png_and_jpeg_logos_of_at_most_200_kb_are_taken():
    assert brands.logo_type(png()) == "image/png"
    assert brands.logo_type(b"\xff\xd8\xff\xe0" + b"0" * 100) == "image/jpeg"
    for data, reason in [
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG logos are refused"),
        (b"<svg onload=alert(1)>", "SVG logos are refused"),
        (b"GIF89a", "must be a PNG or JPEG"),
        (png() + b"0" * (200 * 1024), "larger than 200 KB"),
    ]:
        with pytest.raises(BrandError, match=reason):
            brands.logo_type(data)


def test_the_sender_is_the_brand_address_or_the_fallback():
    fallback = "leadcapture <noreply@localhost>"
    assert brands.sender(None, fallback) == fallback
    assert brands.sender(Brand(name="Acme", sender_name="", sender_address=""), fallback) == fallback
    brand = Brand(name="Voorbeeld B.V.", sender_name="", sender_address="whitepapers@example.com")
    assert brands.sender(brand, fallback) == '"Voorbeeld B.V." <whitepapers@example.com>'
