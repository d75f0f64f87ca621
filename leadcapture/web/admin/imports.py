"""Admin import of contacts consented elsewhere: the CSV of `leadcapture people import`, uploaded.

A dry run (the default) reports what each row would do; the import itself writes the same
report. Large files belong to the command line, which streams them with a progress bar.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from werkzeug.utils import secure_filename

from leadcapture.consent import outbox
from leadcapture.integrations import imports
from leadcapture.integrations.csvrows import FileError
from leadcapture.web.admin.auth import audit, bp, current_user, require
from leadcapture.web.context import get_services, get_session

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # some 15,000 rows: an import a request can finish
LISTED = 200  # rows shown on the report page; the counts cover every row


@bp.route("/people/import", methods=["GET", "POST"])
@require("import")
def people_import():
    """Upload a CSV of contacts consented elsewhere; dry run first, then import."""
    if request.method == "GET":
        return render_template("admin/import.html", report=None, dry_run=True, error=None)
    dry_run = request.form.get("dry_run") == "y"
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(dry_run, error="Choose a CSV file to import."), 400
    upload.stream.seek(0, 2)
    size = upload.stream.tell()
    upload.stream.seek(0)
    if size > MAX_UPLOAD_BYTES:
        error = (
            f"The file has {size:,} bytes; uploads take up to {MAX_UPLOAD_BYTES:,}: use `leadcapture people import`."
        )
        return _page(dry_run, error=error), 400
    name = secure_filename(upload.filename) or "upload.csv"
    services = get_services()
    listed: list[imports.Result] = []
    reported = 0

    def keep(result: imports.Result) -> None:
        nonlocal reported
        if dry_run or result.outcome not in (imports.CREATED, imports.UNVERIFIED_ROW):
            reported += 1
            if len(listed) < LISTED:
                listed.append(result)

    get_session().commit()  # the import writes in its own transactions: hold no lock meanwhile
    provenance = imports.Provenance(file=name, actor=f"admin {current_user().email}")
    try:
        counts = imports.import_csv(
            services.db, services.vault, upload.stream, provenance, dry_run=dry_run, on_result=keep
        )
    except FileError as exc:
        audit("people.import", name, dry_run=dry_run, error=str(exc))
        get_session().commit()
        return _page(dry_run, error=f"{name}: {exc}. Nothing was imported."), 400
    audit("people.import", name, dry_run=dry_run, **counts)
    get_session().commit()
    if not dry_run:
        outbox.relay_now(services)  # the re-permission emails of the unverified rows
    report = {"name": name, "summary": imports.summary(counts), "rows": listed, "more": reported - len(listed)}
    return _page(dry_run, report=report)


def _page(dry_run: bool, *, error: str | None = None, report: dict[str, Any] | None = None) -> str:
    return render_template("admin/import.html", dry_run=dry_run, error=error, report=report)
