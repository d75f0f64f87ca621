"""Admin forms editor: list, create, edit, archive, preview, versions, TOML import and export."""

from __future__ import annotations

import hashlib
import tomllib
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.utils import secure_filename

from forms import make_form
from leadcapture.consent import customfields, formdefs
from leadcapture.consent.formdefs import CHANNELS, LEGAL_BASES, OPTIONAL_FIELDS, FormDefinitionError
from leadcapture.consent.wording import WORDING_KEYS
from leadcapture.models import Asset, Brand, Form, FormVersion, Submission, utcnow
from leadcapture.web.admin import previews
from leadcapture.web.admin.auth import audit, bp, download, require
from leadcapture.web.context import get_session, use_language
from leadcapture.web.public.form import embed_snippet, hosted_url, render_form_page

PURPOSE_FIELDS = ("key", "label", "description", "channel", "legal_basis", "retention_months")
PREVIEW_SLUG = "__preview__"  # the preview's form posts here: a 404, never a real submission
BLANK_PURPOSE = {
    "key": "",
    "label": "",
    "description": "",
    "channel": "email",
    "legal_basis": "consent",
    "retention_months": 24,
}


def form_or_404(slug: str) -> Form:
    """The form with this slug (archived too), or a 404."""
    form = get_session().scalar(select(Form).where(Form.slug == slug))
    if form is None or form.current_version_id is None:
        abort(404)
    return form


def _version(form: Form, number: int) -> FormVersion:
    version = get_session().scalar(
        select(FormVersion).where(FormVersion.form_id == form.id, FormVersion.number == number)
    )
    if version is None:
        abort(404)
    return version


def raw_from_request(values: Any) -> dict[str, Any]:
    """The definition as typed into the editor (not yet validated), purposes in their order."""
    raw: dict[str, Any] = {
        key: values.get(key, "") for key in ("slug", "language", "title", "intro", "privacy_url", "controller")
    }
    if values.get("brand"):  # only when chosen: "by its controller text" keeps a definition as it was
        raw["brand"] = values["brand"]
    raw["asset"] = values.get("asset_name", "")
    raw["allowed_origins"] = [o.strip() for o in values.get("allowed_origins", "").splitlines() if o.strip()]
    raw["fields"] = [f for f in OPTIONAL_FIELDS if values.get(f"field_{f}")]
    purposes = []
    for i in range(min(values.get("purpose_count", 0, type=int), 50)):
        p = {name: values.get(f"purposes-{i}-{name}", "").strip() for name in PURPOSE_FIELDS}
        if not any(p[name] for name in ("key", "label", "description")):
            continue  # an empty row is not a purpose
        try:
            p["retention_months"] = int(p["retention_months"])
        except ValueError:
            pass  # validate() names the problem
        purposes.append(p)
    raw["purposes"] = purposes
    raw["wording"] = {key: values.get(f"wording-{key}", "") for key in WORDING_KEYS}
    # The questions are edited as their TOML tables; text that does not parse is kept to show again.
    text = values.get("custom_fields", "")
    try:
        raw["custom_fields"] = customfields.from_toml(text)
    except ValueError:
        raw["custom_fields"] = text
    return raw


def validate_edited(raw: dict[str, Any]) -> dict[str, Any]:
    """formdefs.validate, with custom fields text that is not TOML named among the other problems."""
    custom = raw.get("custom_fields", [])
    if not isinstance(custom, str):
        return formdefs.validate(raw)
    problems: list[str] = []
    try:
        customfields.from_toml(custom)
    except ValueError as exc:
        problems.append(str(exc))
    try:
        formdefs.validate({**raw, "custom_fields": []})
    except FormDefinitionError as exc:
        problems += exc.problems
    raise FormDefinitionError(problems)


def _keep_upload(raw: dict[str, Any], form: Form | None) -> list[str]:
    """Keep a PDF chosen before pressing a row button, so the round trip does not lose it."""
    upload = request.files.get("asset")
    if not (upload is not None and upload.filename) and not request.form.get("pending_asset"):
        return []
    try:
        name, data = _uploaded_asset(form)
    except FormDefinitionError as exc:
        return exc.problems
    _stash(raw, name, data)
    return []


def _stash(raw: dict[str, Any], name: str, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    db = get_session()
    if db.get(Asset, digest) is None:
        db.add(Asset(sha256=digest, filename=name, content_type="application/pdf", size=len(data), data=data))
        db.commit()
    raw["pending_asset"], raw["pending_name"] = digest, name


def _edit_purposes(raw: dict[str, Any], action: str) -> None:
    """Add, remove or move a purpose row (the editor's buttons; no JavaScript needed)."""
    purposes = raw["purposes"]
    name, _, index = action.partition(":")
    i = int(index) if index.isascii() and index.isdigit() else -1
    if name == "add":
        purposes.append(dict(BLANK_PURPOSE))
    elif name == "remove" and 0 <= i < len(purposes):
        purposes.pop(i)
    elif name == "up" and 0 < i < len(purposes):
        purposes[i - 1], purposes[i] = purposes[i], purposes[i - 1]
    elif name == "down" and 0 <= i < len(purposes) - 1:
        purposes[i], purposes[i + 1] = purposes[i + 1], purposes[i]


def _uploaded_asset(form: Form | None) -> tuple[str, bytes]:
    """The uploaded PDF, one uploaded before a purpose row was added, or the form's current asset."""
    upload = request.files.get("asset")
    if upload is not None and upload.filename:
        name = secure_filename(upload.filename) or "asset.pdf"
        if not name.lower().endswith(".pdf"):
            raise FormDefinitionError(["the asset must be a PDF file (.pdf)"])
        data = upload.read()
        formdefs.check_asset(name, data)
        return name, data
    pending = get_session().get(Asset, request.form.get("pending_asset", ""))
    if pending is not None:
        return pending.filename, pending.data
    if form is not None and form.current_version is not None:
        asset = get_session().get(Asset, form.current_version.definition["asset_sha256"])
        if asset is not None:
            return asset.filename, asset.data
    raise FormDefinitionError(["upload the whitepaper (a PDF file)"])


def _editor(raw: dict[str, Any], form: Form | None, problems: list[str] | None = None, status: int = 200):
    if not raw["purposes"]:
        raw["purposes"] = [dict(BLANK_PURPOSE)]
    asset = None
    if form is not None and form.current_version is not None:
        asset = get_session().get(Asset, form.current_version.definition["asset_sha256"])
    custom = raw.get("custom_fields") or []
    page = render_template(
        "admin/form_edit.html",
        raw=raw,
        form_row=form,
        asset=asset,
        problems=problems or [],
        channels=CHANNELS,
        legal_bases=LEGAL_BASES,
        optional_fields=OPTIONAL_FIELDS,
        languages=formdefs.LANGUAGES,
        wording_keys=WORDING_KEYS,
        shown_in=previews.SHOWN_IN,
        brands=get_session().scalars(select(Brand).order_by(Brand.name)).all(),
        custom_fields_text=custom if isinstance(custom, str) else customfields.to_toml(custom),
    )
    return page, status


def _save(raw: dict[str, Any], form: Form | None):
    """Validate and store; a new version only when something changed."""
    db = get_session()
    try:
        name, data = _uploaded_asset(form)
    except FormDefinitionError as exc:
        return _editor(raw, form, exc.problems, 400)
    raw["asset"] = name
    try:
        definition = validate_edited(raw)
    except FormDefinitionError as exc:
        if request.files.get("asset") or request.form.get("pending_asset"):
            _stash(raw, name, data)  # fixing a typo does not mean choosing the file again
        return _editor(raw, form, exc.problems, 400)
    if form is None and db.scalar(select(Form.id).where(Form.slug == definition["slug"])) is not None:
        return _editor(raw, form, [f"a form with slug {definition['slug']!r} already exists"], 400)
    try:
        version, created = formdefs.save(db, definition, data)
    except FormDefinitionError as exc:  # its brand is gone, or names another controller text
        db.rollback()
        return _editor(raw, form, exc.problems, 400)
    audit("form.save", definition["slug"], version=version.number, new_version=created)
    db.commit()
    flash(f"Saved as version {version.number}." if created else f"Nothing changed: still version {version.number}.")
    return redirect(url_for("admin.form_detail", slug=definition["slug"]))


@bp.get("/forms/")
@require("forms")
def forms_list():
    """Every form with its live version and number of submissions."""
    db = get_session()
    counts = dict(
        db.execute(
            select(FormVersion.form_id, func.count(Submission.id))
            .join(Submission, Submission.form_version_id == FormVersion.id)
            .group_by(FormVersion.form_id)
        ).all()
    )
    rows = db.scalars(select(Form).order_by(Form.archived_at.is_not(None), Form.slug)).all()
    return render_template("admin/forms.html", rows=rows, counts=counts)


@bp.route("/forms/new", methods=["GET", "POST"])
@require("forms")
def form_new():
    """Create a form: the editor, empty."""
    if request.method == "GET":
        raw = {
            "slug": "",
            "language": "nl",
            "title": "",
            "intro": "",
            "privacy_url": "",
            "controller": "",
            "asset": "",
            "allowed_origins": [],
            "fields": ["name", "company"],
            "purposes": [],
        }
        return _editor(raw, None)
    raw = raw_from_request(request.form)
    action = request.form.get("action", "save")
    if action != "save":
        _edit_purposes(raw, action)
        return _editor(raw, None, _keep_upload(raw, None))
    return _save(raw, None)


@bp.route("/forms/<slug>/edit", methods=["GET", "POST"])
@require("forms")
def form_edit(slug: str):
    """Edit a form; saving changed wording makes a new version."""
    form = form_or_404(slug)
    if request.method == "GET":
        raw = dict(form.current_version.definition)
        return _editor(raw, form)
    raw = raw_from_request(request.form)
    raw["slug"] = slug  # the slug is the form's address: it never changes
    action = request.form.get("action", "save")
    if action != "save":
        _edit_purposes(raw, action)
        return _editor(raw, form, _keep_upload(raw, form))
    return _save(raw, form)


def _render_preview(definition: dict[str, Any]):
    use_language(definition["language"])
    g.frame_ancestors = "'self'"  # shown inside the admin's own page
    shown = dict(definition, slug=PREVIEW_SLUG)
    return render_form_page(shown, make_form(shown), embedded=False)


@bp.post("/forms/preview")
@require("forms")
def form_preview():
    """The hosted form, a mail or a page as the unsaved definition would show it (posted into the preview frame)."""
    g.frame_ancestors = "'self'"  # the preview and its list of problems show inside the editor's frame
    raw = raw_from_request(request.form)
    raw["asset"] = raw["asset"] or "preview.pdf"
    if not raw["slug"]:
        raw["slug"] = "preview"
    try:
        definition = validate_edited(raw)
    except FormDefinitionError as exc:
        return render_template("admin/preview_problems.html", problems=exc.problems)
    which = request.form.get("preview_of", "form")
    if which in previews.MAILS or which in previews.PAGES:
        return previews.render_preview(which, definition)
    return _render_preview(definition)


@bp.get("/forms/<slug>/v/<int:number>/preview")
@require("forms")
def version_preview(slug: str, number: int):
    """The hosted form exactly as a stored version showed it."""
    return _render_preview(_version(form_or_404(slug), number).definition)


@bp.get("/forms/<slug>/")
@require("forms")
def form_detail(slug: str):
    """A form: embed snippet, hosted link, versions, actions."""
    form = form_or_404(slug)
    versions = (
        get_session()
        .scalars(select(FormVersion).where(FormVersion.form_id == form.id).order_by(FormVersion.number.desc()))
        .all()
    )
    return render_template(
        "admin/form_detail.html", form_row=form, versions=versions, snippet=embed_snippet(slug), hosted=hosted_url(slug)
    )


@bp.get("/forms/<slug>/v/<int:number>")
@require("forms")
def version_detail(slug: str, number: int):
    """One stored version: its wording, hash and TOML, read-only."""
    form = form_or_404(slug)
    version = _version(form, number)
    return render_template("admin/version.html", form_row=form, version=version, toml=formdefs.to_toml(version))


@bp.get("/forms/<slug>/v/<int:number>.toml")
@require("forms")
def version_toml(slug: str, number: int):
    """Download a version as TOML (the format `leadcapture forms import` reads)."""
    version = _version(form_or_404(slug), number)
    return download(formdefs.to_toml(version), "application/toml; charset=utf-8", f"{slug}-v{number}.toml")


@bp.get("/forms/<slug>/asset")
@require("forms")
def form_asset(slug: str):
    """Download the live version's asset."""
    form = form_or_404(slug)
    asset = get_session().get(Asset, form.current_version.definition["asset_sha256"])
    if asset is None:
        abort(404)
    return download(asset.data, asset.content_type, asset.filename)


@bp.post("/forms/<slug>/archive")
@require("forms")
def form_archive(slug: str):
    """Archive (the hosted form stops answering) or restore a form."""
    form = form_or_404(slug)
    restore = request.form.get("restore") == "1"
    form.archived_at = None if restore else utcnow()
    audit("form.restore" if restore else "form.archive", slug)
    get_session().commit()
    flash(f"Form {slug} {'restored' if restore else 'archived: its hosted form and embed now answer 404'}.")
    return redirect(url_for("admin.form_detail", slug=slug))


@bp.route("/forms/import", methods=["GET", "POST"])
@require("forms")
def form_import():
    """Upload a TOML definition (and its PDF, unless the form already has one)."""
    if request.method == "GET":
        return render_template("admin/form_import.html", problems=[])
    upload = request.files.get("definition")
    problems: list[str] = []
    try:
        if upload is None or not upload.filename:
            raise FormDefinitionError(["choose a TOML file"])
        try:
            raw = tomllib.loads(upload.read().decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise FormDefinitionError([f"not valid TOML: {exc}"]) from exc
        definition = formdefs.validate(raw)
        form = get_session().scalar(select(Form).where(Form.slug == definition["slug"]))
        name, data = _uploaded_asset(form)
        definition["asset"] = name
    except FormDefinitionError as exc:
        problems = exc.problems
    if problems:
        return render_template("admin/form_import.html", problems=problems), 400
    try:
        version, created = formdefs.save(get_session(), definition, data)
    except FormDefinitionError as exc:
        get_session().rollback()
        return render_template("admin/form_import.html", problems=exc.problems), 400
    audit("form.import", definition["slug"], version=version.number, new_version=created)
    get_session().commit()
    flash(f"Imported as version {version.number}." if created else f"Unchanged: still version {version.number}.")
    return redirect(url_for("admin.form_detail", slug=definition["slug"]))
