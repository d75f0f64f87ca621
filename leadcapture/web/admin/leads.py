"""The leads page: what came in, newest first, filtered and searched, and its CSV.

Filters and searches arrive as POSTs, like the people lookup: an address or a name typed into the
search never lands in a URL, a proxy log or the browser history.
"""

from __future__ import annotations

from datetime import date

from flask import Response, render_template, request

from leadcapture.backoffice import leads
from leadcapture.backoffice.leads import LeadFilter
from leadcapture.db import row_id
from leadcapture.web.admin.auth import audit, bp, require
from leadcapture.web.context import get_services, get_session


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat(request.form.get(name, "").strip())
    except ValueError:
        return None


def _filter() -> LeadFilter:
    form = request.form
    state = form.get("state", "")
    return LeadFilter(
        form=form.get("form", "").strip()[:64],
        purpose=form.get("purpose", "").strip()[:64],
        state=state if state in leads.STATES else "",
        since=_date("since"),
        until=_date("until"),
        email=form.get("email", "").strip()[:254],
        words=form.get("words", "").strip()[:200],
        source=form.get("source", "").strip()[:100],
    )


def _audit(action: str, f: LeadFilter) -> None:
    parts = ("form", "purpose", "state", "since", "until", "email", "words", "source")
    narrowed = {k: True for k in parts if getattr(f, k)}
    audit(action, "leads", **narrowed)  # which filters, never what was typed into them
    get_session().commit()


@bp.route("/leads", methods=["GET", "POST"])
@require("leads")
def leads_page():
    """The newest leads; a POST narrows the list or turns the page."""
    f = _filter() if request.method == "POST" else LeadFilter()
    if request.form.get("action") == "csv":
        _audit("leads.export", f)
        response = Response(leads.csv_rows(get_session(), get_services().vault, f), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="leads.csv"'
        return response
    before = request.form.get("before", type=row_id) if request.method == "POST" else None
    rows, older = leads.page(get_session(), get_services().vault, f, before)
    _audit("leads.view", f)
    slugs, purposes = leads.forms_and_purposes(get_session())
    return render_template(
        "admin/leads.html",
        rows=rows,
        older=older,
        f=f,
        slugs=slugs,
        purposes=purposes,
        states=leads.STATES,
        sources=leads.sources(get_session()),
    )
