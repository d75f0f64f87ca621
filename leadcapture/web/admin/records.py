"""The records of processing activities (GDPR Art. 30) in the admin: shown, printed, downloaded."""

from __future__ import annotations

from flask import abort, render_template

from leadcapture.privacy import records
from leadcapture.web.admin.auth import bp, download, require
from leadcapture.web.context import get_services, get_session

_FILES = {
    "html": (records.to_html, "text/html; charset=utf-8"),
    "md": (records.to_markdown, "text/markdown; charset=utf-8"),
    "json": (records.to_json, "application/json"),
}


@bp.get("/register")
@require("register")
def register():
    """The register as a page, with print and downloads."""
    return render_template("admin/register.html", r=records.build(get_session(), get_services().settings))


@bp.get("/register.<fmt>")
@require("register")
def register_file(fmt: str):
    """The register as a file: a standalone printable HTML page, Markdown or JSON."""
    if fmt not in _FILES:
        abort(404)
    render, content_type = _FILES[fmt]
    body = render(records.build(get_session(), get_services().settings))
    return download(body, content_type, f"records-of-processing.{fmt}")
