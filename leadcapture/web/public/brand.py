"""A brand's look on our own origin: its logo and a small stylesheet in its colour.

Pages allow styles and images from 'self' only (no inline styles), so the colour comes as a
stylesheet; both are cached by version, and the logo is one of the raster types brands accept.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, make_response
from sqlalchemy import select

from leadcapture.consent import brands
from leadcapture.models import Brand, Form
from leadcapture.web.context import get_session

bp = Blueprint("brand", __name__)

_CACHE = "public, max-age=86400"


def _brand(slug: str) -> Brand:
    brand = brands.by_slug(get_session(), slug)
    if brand is None:
        abort(404)
    return brand


@bp.get("/b/<slug>/logo")
def logo(slug: str):
    """The brand's logo (PNG or JPEG, checked when uploaded)."""
    brand = _brand(slug)
    if not brand.logo:
        abort(404)
    response = make_response(brand.logo)
    response.headers["Content-Type"] = brand.logo_type
    response.headers["Cache-Control"] = _CACHE
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/b/<slug>/style.css")
def style(slug: str):
    """The brand's colour, with the text colour (white or black) that contrasts most with it."""
    look = brands.look(_brand(slug))
    # Links are text on white: they take the colour only where it is readable there (WCAG AA, 4.5:1).
    link = look.colour if brands.contrast(look.colour, "#ffffff") >= 4.5 else "#0b5cab"
    css = (
        f":root {{ --brand: {look.colour}; --brand-text: {look.text}; --accent: {link}; }}\n"
        "button, .button { background: var(--brand); color: var(--brand-text); }\n"
        "button:hover, .button:hover { background: var(--brand); filter: brightness(0.9); }\n"
        ".card { border-top: 6px solid var(--brand); }\n"
    )
    response = make_response(css)
    response.headers["Content-Type"] = "text/css; charset=utf-8"
    response.headers["Cache-Control"] = _CACHE
    return response


def page_brand(definition: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a page shows of its brand: logo, stylesheet, authority (the live form's brand, else the definition's)."""
    session = get_session()
    version = g.get("form_version")
    brand = None
    if version is not None:
        brand = session.scalar(select(Brand).join(Form, Form.brand_id == Brand.id).where(Form.id == version.form_id))
    elif definition is not None:
        brand = brands.of_definition(session, definition)
    return brand_context(brand)


def brand_context(brand: Brand | None) -> dict[str, Any]:
    """The brand as templates use it (None: no brand, the plain look and the default authority)."""
    if brand is None:
        return {"brand": None}
    version = f"{brand.logo_version}-{int(brand.updated_at.timestamp())}"
    return {
        "brand": {
            "name": brand.name,
            "authority_name": brand.authority_name,
            "authority_url": brand.authority_url,
            "style_url": f"/b/{brand.slug}/style.css?v={version}",
            "logo_url": f"/b/{brand.slug}/logo?v={brand.logo_version}" if brand.logo else None,
        }
    }
