"""Form definitions: the TOML format of SPEC section 9, validation, versioning by content hash."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w
from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadcapture.consent import brands, customfields, wording
from leadcapture.i18n import LANGUAGES
from leadcapture.models import Asset, Brand, Form, FormVersion

OPTIONAL_FIELDS = ("name", "company", "phone")
CHANNELS = ("email", "phone")
LEGAL_BASES = ("consent", "contract", "legitimate_interest")
MAX_ASSET_BYTES = 20 * 1024 * 1024
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TOP_KEYS = {
    "slug",
    "language",
    "title",
    "intro",
    "asset",
    "privacy_url",
    "controller",
    "allowed_origins",
    "fields",
    "purposes",
    "wording",
    "brand",
    "custom_fields",
}
_PURPOSE_KEYS = {"key", "label", "description", "channel", "legal_basis", "retention_months", "stream"}

_ORIGIN = re.compile(r"https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?/?")


class FormDefinitionError(ValueError):
    """The definition is not valid; .problems lists every reason, one per line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def validate(raw: dict[str, Any]) -> dict[str, Any]:
    """Check a raw definition and return it normalised (defaults filled in)."""
    problems: list[str] = []
    for key in sorted(set(raw) - _TOP_KEYS):
        problems.append(f"unknown setting {key!r}")

    def text(key: str, required: bool = True, limit: int = 2000) -> str:
        value = raw.get(key, "")
        if not isinstance(value, str):
            problems.append(f"{key} must be text")
            return ""
        value = value.strip()
        if required and not value:
            problems.append(f"{key} is required")
        if len(value) > limit:
            problems.append(f"{key} is longer than {limit} characters")
        return value

    slug = text("slug", limit=64)
    if slug and not _SLUG.match(slug):
        problems.append("slug must be lower-case letters, digits and dashes (at most 64)")
    language = text("language", limit=8)
    if language and language not in LANGUAGES:
        problems.append(f"language must be one of {', '.join(LANGUAGES)}")
    brand = text("brand", required=False, limit=64)
    if brand and not _SLUG.match(brand):
        problems.append("brand must be a brand's slug: lower-case letters, digits and dashes")
    privacy_url = text("privacy_url")
    if privacy_url and urlsplit(privacy_url).scheme not in ("https", "http"):
        problems.append("privacy_url must be an http(s) URL")
    origins = raw.get("allowed_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        problems.append("allowed_origins must be a list of origins")
        origins = []
    for origin in origins:
        # Strict shape: origins go verbatim into a CSP header and into embed.js.
        if not _ORIGIN.fullmatch(origin):
            problems.append(f"allowed origin {origin!r} must look like https://www.example.com")
    fields = raw.get("fields", [])
    if not isinstance(fields, list) or any(f not in OPTIONAL_FIELDS for f in fields):
        problems.append(f"fields may only list {', '.join(OPTIONAL_FIELDS)} (email is always asked)")
        fields = []
    purposes = []
    raw_purposes = raw.get("purposes", [])
    if not isinstance(raw_purposes, list):
        problems.append("purposes must be a list of [[purposes]] tables")
        raw_purposes = []
    seen: set[str] = set()
    for number, p in enumerate(raw_purposes, 1):
        where = f"purpose {number}"
        if not isinstance(p, dict):
            problems.append(f"{where} must be a table")
            continue
        for key in sorted(set(p) - _PURPOSE_KEYS):
            hint = " (purpose boxes are always unticked)" if key in ("checked", "default", "ticked") else ""
            problems.append(f"{where}: unknown setting {key!r}{hint}")
        key = p.get("key", "")
        if not isinstance(key, str) or not _KEY.match(key) or key == "asset":
            problems.append(f"{where}: key must be lower-case letters, digits, underscores")
        elif key in seen:
            problems.append(f"{where}: key {key!r} is used twice")
        seen.add(str(key))
        label = p.get("label", "")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{where}: label is required")
        description = p.get("description", "")
        channel = p.get("channel", "email")
        if channel not in CHANNELS:
            problems.append(f"{where}: channel must be one of {', '.join(CHANNELS)}")
        basis = p.get("legal_basis", "consent")
        if basis not in LEGAL_BASES:
            problems.append(f"{where}: legal_basis must be one of {', '.join(LEGAL_BASES)}")
        retention = p.get("retention_months", 24)
        if not isinstance(retention, int) or isinstance(retention, bool) or not 1 <= retention <= 120:
            problems.append(f"{where}: retention_months must be a whole number from 1 to 120")
        stream = p.get("stream", key)
        purposes.append(
            {
                "key": key,
                "label": str(label).strip(),
                "description": str(description).strip(),
                "channel": channel,
                "legal_basis": basis,
                "retention_months": retention,
                "stream": stream,
            }
        )
    definition = {
        "slug": slug,
        "language": language,
        "title": text("title", limit=200),
        "intro": text("intro", required=False),
        "asset": text("asset", limit=255),
        "privacy_url": privacy_url,
        # A form of a brand may leave the controller out: the brand's text goes in when it is saved.
        "controller": text("controller", required=not brand, limit=500),
        "allowed_origins": [o.rstrip("/").lower() for o in origins],
        "fields": [f for f in OPTIONAL_FIELDS if f in fields],
        "purposes": purposes,
    }
    definition["fields"] = asked_fields(definition)
    own_wording = wording.check(raw.get("wording", {}), problems)
    if own_wording:  # absent when empty, so definitions without it keep their content hash
        definition["wording"] = own_wording
    if brand:  # only when given, so definitions written before brands keep their content hash
        definition["brand"] = brand
    custom = customfields.validate(raw.get("custom_fields", []), problems)
    if custom:  # absent when empty: a definition without questions keeps the content hash it always had
        definition["custom_fields"] = custom
    if problems:
        raise FormDefinitionError(problems)
    return definition


def phone_purpose_keys(definition: dict[str, Any]) -> frozenset[str]:
    """The keys of the purposes sales acts on by phone (channel = "phone"): ticking one needs a number."""
    return frozenset(p["key"] for p in definition["purposes"] if p.get("channel") == "phone")


def asked_fields(definition: dict[str, Any]) -> list[str]:
    """The optional fields a form shows: those listed, and the phone field whenever a purpose is by phone.

    validate() writes the phone field into a new definition (so export shows it); versions stored
    before that rule get it here too.
    """
    wanted = set(definition["fields"]) | ({"phone"} if phone_purpose_keys(definition) else set())
    return [f for f in OPTIONAL_FIELDS if f in wanted]


def content_hash(definition: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of a definition (asset digest included)."""
    return hashlib.sha256(
        json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


def load_toml(path: Path) -> tuple[dict[str, Any], bytes]:
    """Read and validate a TOML definition and the asset it names."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FormDefinitionError([f"cannot read {path}: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise FormDefinitionError([f"{path} is not valid TOML: {exc}"]) from exc
    definition = validate(raw)
    data = read_asset(path.parent, definition["asset"])
    check_asset(definition["asset"], data)
    return definition, data


def read_asset(folder: Path, name: str) -> bytes:
    """The bytes of the asset a definition names: a regular file inside the definition's own folder."""
    root = folder.resolve()
    target = (root / name).resolve()  # `..`, absolute names and symlinks all resolve before the check
    if not target.is_relative_to(root):
        raise FormDefinitionError([f"asset {name!r} must be a file in the definition's folder ({root})"])
    if target.exists() and not target.is_file():  # a FIFO or device would block or never end
        raise FormDefinitionError([f"asset {name!r} is not a regular file"])
    try:
        with target.open("rb") as fh:
            return fh.read(MAX_ASSET_BYTES + 1)  # one byte more tells check_asset it is too large
    except OSError as exc:
        raise FormDefinitionError([f"asset {name!r} cannot be read: {exc.strerror}"]) from exc


def check_asset(filename: str, data: bytes) -> None:
    """Refuse assets that are too large or not a PDF document that opens (magic bytes and a parse)."""
    if len(data) > MAX_ASSET_BYTES:
        raise FormDefinitionError([f"asset is larger than {MAX_ASSET_BYTES // (1024 * 1024)} MB"])
    if not data.startswith(b"%PDF-"):
        raise FormDefinitionError([f"asset {filename!r} is not a PDF file"])
    try:
        pages = len(PdfReader(io.BytesIO(data)).pages)
    except FileNotDecryptedError as exc:
        raise FormDefinitionError([f"asset {filename!r} is a password-protected PDF visitors cannot open"]) from exc
    except Exception as exc:  # noqa: BLE001  (a malformed file fails in many ways; each means "not a PDF")
        raise FormDefinitionError([f"asset {filename!r} is not a PDF file (it does not open: {exc})"]) from exc
    if pages == 0:
        raise FormDefinitionError([f"asset {filename!r} is a PDF file without pages"])


def form_brand(session: Session, definition: dict[str, Any]) -> Brand:
    """The brand a definition belongs to: the one it names, or the one of its controller text.

    The brand's controller text is the one shown, so it is written into the definition (and so into
    the version and the ledger's proof); a definition naming another controller than its brand is refused.
    """
    if not definition.get("brand"):
        return brands.for_controller(session, definition["controller"])
    brand = brands.by_slug(session, definition["brand"])
    if brand is None:
        raise FormDefinitionError([f"brand {definition['brand']!r} does not exist (leadcapture brands add)"])
    if definition.get("controller") and definition["controller"] != brand.controller:
        raise FormDefinitionError(
            [f"controller differs from brand {brand.slug!r}'s controller text; leave it out or change the brand"]
        )
    definition["controller"] = brand.controller
    return brand


def save(session: Session, definition: dict[str, Any], asset_data: bytes) -> tuple[FormVersion, bool]:
    """Store a definition as a new version unless identical to an existing one (FormDefinitionError: no such brand)."""
    brand = form_brand(session, definition)
    digest = hashlib.sha256(asset_data).hexdigest()
    if session.get(Asset, digest) is None:
        session.add(
            Asset(
                sha256=digest,
                filename=Path(definition["asset"]).name,
                content_type="application/pdf",  # check_asset lets nothing else in
                size=len(asset_data),
                data=asset_data,
            )
        )
    stored = dict(definition, asset_sha256=digest)
    chash = content_hash(stored)
    form = session.scalar(select(Form).where(Form.slug == definition["slug"]))
    if form is None:
        form = Form(slug=definition["slug"], brand_id=brand.id)
        session.add(form)
        session.flush()
    form.brand_id = brand.id
    existing = session.scalar(
        select(FormVersion).where(FormVersion.form_id == form.id, FormVersion.content_hash == chash)
    )
    if existing is not None:
        created = False
        version = existing
    else:
        number = (session.scalar(select(func.max(FormVersion.number)).where(FormVersion.form_id == form.id)) or 0) + 1
        version = FormVersion(form_id=form.id, number=number, content_hash=chash, definition_json=json.dumps(stored))
        session.add(version)
        session.flush()
        created = True
    form.current_version_id = version.id
    form.archived_at = None
    return version, created


def rebrand(session: Session, brand: Brand) -> list[FormVersion]:
    """New versions of the brand's forms whose controller text is not the brand's any more (after an edit).

    Wording shown is versioned: consents keep pointing at the text the person saw.
    """
    made = []
    forms = session.scalars(select(Form).where(Form.brand_id == brand.id, Form.current_version_id.is_not(None)))
    for form in forms:
        current = form.current_version
        if current.definition.get("controller") == brand.controller:
            continue
        definition = {k: v for k, v in current.definition.items() if k != "asset_sha256"}
        definition["controller"] = brand.controller
        definition["brand"] = brand.slug
        asset = session.get(Asset, current.definition["asset_sha256"])
        archived = form.archived_at
        version, created = save(session, definition, asset.data)
        form.archived_at = archived  # a new wording does not bring an archived form back
        if created:
            made.append(version)
    return made


def to_toml(version: FormVersion) -> str:
    """The SPEC-format TOML for a stored version."""
    definition = {k: v for k, v in version.definition.items() if k != "asset_sha256"}
    return tomli_w.dumps(definition)
