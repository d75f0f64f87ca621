"""Brands (the controllers): validation, the form's brand, the sender, the colours and the logo."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadcapture.consent import jobs, outbox
from leadcapture.models import Brand, Consent, Form, FormVersion, utcnow
from leadcapture.models.brands import DEFAULT_AUTHORITY_NAME, DEFAULT_AUTHORITY_URL, DEFAULT_COLOUR

MAX_LOGO_BYTES = 200 * 1024
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Raster logos only: an SVG is a document that can carry script and external references, and
# mail clients and browsers treat it so; PNG and JPEG are told apart by their first bytes.
_LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
# Every setting a brand has besides its slug and logo, with the length it may take.
FIELDS = {
    "name": 200,
    "controller": 500,
    "sender_name": 200,
    "sender_address": 254,
    "reply_to": 254,
    "sales_address": 254,
    "colour": 7,
    "authority_name": 200,
    "authority_url": 500,
}
_ADDRESSES = ("sender_address", "reply_to", "sales_address")


class BrandError(ValueError):
    """The brand settings are not valid; .problems lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def check(values: dict[str, Any], *, partial: bool = False) -> dict[str, str]:
    """Validate brand settings and return them normalised; every problem at once (BrandError)."""
    problems: list[str] = []
    clean: dict[str, str] = {}
    for key in sorted(set(values) - set(FIELDS) - {"slug"}):
        problems.append(f"unknown setting {key!r}")
    if "slug" in values or not partial:
        slug = str(values.get("slug") or "").strip()
        if not _SLUG.match(slug):
            problems.append("slug must be lower-case letters, digits and dashes (at most 64)")
        clean["slug"] = slug
    for key, limit in FIELDS.items():
        if key not in values and partial:
            continue
        value = values.get(key)
        value = "" if value is None else str(value).strip()
        if any(c in value for c in "\r\n\0"):
            problems.append(f"{key} must be one line")
            continue
        if len(value) > limit:
            problems.append(f"{key} is longer than {limit} characters")
        clean[key] = value
    for key in ("name", "controller"):
        if key in clean and not clean[key]:
            problems.append(f"{key} is required")
    for key in _ADDRESSES:
        if clean.get(key):
            try:
                clean[key] = validate_email(clean[key], check_deliverability=False).normalized
            except EmailNotValidError as exc:
                problems.append(f"{key} is not an email address: {exc}")
    if "colour" in clean:
        clean["colour"] = (clean["colour"] or DEFAULT_COLOUR).lower()
        if not _COLOUR.match(clean["colour"]):
            problems.append("colour must look like #1f4e79 (# and six hex digits)")
    if "authority_name" in clean:
        clean["authority_name"] = clean["authority_name"] or DEFAULT_AUTHORITY_NAME
    if "authority_url" in clean:
        clean["authority_url"] = clean["authority_url"] or DEFAULT_AUTHORITY_URL
        if urlsplit(clean["authority_url"]).scheme != "https" or not urlsplit(clean["authority_url"]).netloc:
            problems.append("authority_url must be an https:// URL")
    if problems:
        raise BrandError(problems)
    return clean


def add(session: Session, values: dict[str, Any]) -> Brand:
    """Create a brand; its slug must be new."""
    clean = check(values)
    if by_slug(session, clean["slug"]) is not None:
        raise BrandError([f"brand {clean['slug']!r} exists already"])
    brand = Brand(**clean)
    session.add(brand)
    session.flush()
    return brand


def edit(session: Session, brand: Brand, values: dict[str, Any]) -> list[str]:
    """Change some settings of a brand; returns the names of those that changed (the slug never does)."""
    if "slug" in values and values["slug"] != brand.slug:
        raise BrandError(["a brand's slug cannot change (links and exports name it)"])
    clean = check({k: v for k, v in values.items() if k != "slug"}, partial=True)
    changed = [key for key, value in clean.items() if getattr(brand, key) != value]
    for key in changed:
        setattr(brand, key, clean[key])
    if changed:
        brand.updated_at = utcnow()
    return changed


def set_logo(brand: Brand, data: bytes | None) -> None:
    """Store a PNG or JPEG logo of at most 200 KB (None removes it); anything else is refused."""
    if data is None:
        brand.logo, brand.logo_type = None, None
    else:
        brand.logo, brand.logo_type = data, logo_type(data)
    brand.logo_version = (brand.logo_version or 0) + 1
    brand.updated_at = utcnow()


def logo_type(data: bytes) -> str:
    """The content type of an acceptable logo; BrandError for anything else."""
    if len(data) > MAX_LOGO_BYTES:
        raise BrandError([f"the logo is larger than {MAX_LOGO_BYTES // 1024} KB"])
    for magic, content_type in _LOGO_TYPES.items():
        if data.startswith(magic):
            return content_type
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in data[:1024].lower():
        raise BrandError(["SVG logos are refused (they can carry scripts); upload a PNG or JPEG"])
    raise BrandError(["the logo must be a PNG or JPEG image"])


def by_slug(session: Session, slug: str) -> Brand | None:
    """The brand with this slug, if any."""
    return session.scalar(select(Brand).where(Brand.slug == slug))


def of_definition(session: Session, definition: dict[str, Any]) -> Brand | None:
    """The brand a definition names, or the one of its controller text; None if neither exists yet."""
    if definition.get("brand"):
        return by_slug(session, definition["brand"])
    controller = definition.get("controller")
    return session.scalar(select(Brand).where(Brand.controller == controller).order_by(Brand.id).limit(1))


def for_controller(session: Session, controller: str) -> Brand:
    """The brand of a form that names none: the one with this controller text, made if there is none yet."""
    brand = session.scalar(select(Brand).where(Brand.controller == controller).order_by(Brand.id).limit(1))
    if brand is not None:
        return brand
    name = controller.split(",")[0].strip()[:200] or "Default"
    base = re.sub(r"[^a-z0-9]+", "-", name.lower().encode("ascii", "ignore").decode()).strip("-")[:56] or "brand"
    slug, number = base, 1
    while by_slug(session, slug) is not None:
        number += 1
        slug = f"{base}-{number}"
    return add(session, {"slug": slug, "name": name, "controller": controller})


def sender(brand: Brand | None, fallback: str) -> str:
    """The From of a brand's mail: its name and address, or LEADCAPTURE_MAIL_FROM when it has no address."""
    if brand is None or not brand.sender_address:
        return fallback
    return str(Address(display_name=brand.sender_name or brand.name, addr_spec=brand.sender_address))


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass(frozen=True)
class Look:
    """What pages and mails paint in a brand's colour, with the text colour readable on it."""

    colour: str
    text: str  # white or black, whichever contrasts more with the colour (WCAG)
    logo_url: str | None
    name: str


def look(brand: Brand | None, logo_url: str | None = None) -> Look:
    """The brand's colour with white or black text, whichever has the higher WCAG contrast."""
    colour = brand.colour if brand is not None else DEFAULT_COLOUR
    text = "#ffffff" if contrast(colour, "#ffffff") >= contrast(colour, "#000000") else "#000000"
    return Look(
        colour=colour,
        text=text,
        logo_url=logo_url if brand is not None and brand.has_logo else None,
        name=brand.name if brand is not None else "",
    )


def of_version(session: Session, version: FormVersion) -> int:
    """The brand of a version's form (the version may be a detached, shared one)."""
    return session.scalar(select(Form.brand_id).where(Form.id == version.form_id))


def notify_sales(session: Session, consent: Consent) -> None:
    """A confirmed phone purpose is a lead to call: its brand's sales address gets one mail (if it has one)."""
    if consent.channel != "phone":
        return
    sales = session.scalar(select(Brand.sales_address).where(Brand.id == consent.brand_id))
    if sales:
        outbox.enqueue(session, jobs.NOTIFY_SALES, consent.id, consent.confirmed_at.isoformat())
