"""A brand's look on our own origin: its logo and a small stylesheet in its colour.

Pages allow styles and images from 'self' only (no inline styles), so the colour comes as a
stylesheet; both are cached by version, and the logo is one of the raster types brands accept.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, g, make_response
from sqlalchemy import select
from sqlalchemy.orm import Session

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
    if not brand.has_logo:
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
        brand = _form_brand(session, version.form_id)
    elif definition is not None:
        brand = brands.of_definition(session, definition)
    return brand_context(brand)


# A form's brand, read at most every BRAND_TTL seconds per process: every public page (the
# submission's answer too) shows it, and a query for it would cost each of them a round trip.
# An edited brand shows on the forms within that time.
BRAND_TTL = 10.0
_form_brands: dict[tuple[str, int], tuple[float, Brand | None]] = {}


def forget_form_brands() -> None:
    """Read every form's brand afresh (after a brand was edited in this process)."""
    _form_brands.clear()


def _form_brand(session: Session, form_id: int) -> Brand | None:
    key = (str(session.get_bind().url), form_id)  # one process may serve several databases (tests)
    cached = _form_brands.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    brand = session.scalar(select(Brand).join(Form, Form.brand_id == Brand.id).where(Form.id == form_id))
    if brand is not None:
        session.expunge(brand)  # shared by the threads, read only
    if len(_form_brands) > 1024:
        _form_brands.clear()
    _form_brands[key] = (time.monotonic() + BRAND_TTL, brand)
    return brand


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
            "logo_url": f"/b/{brand.slug}/logo?v={brand.logo_version}" if brand.has_logo else None,
        }
    }
