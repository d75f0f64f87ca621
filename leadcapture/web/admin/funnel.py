"""Admin funnel: per form and purpose, submitted -> confirmed -> withdrawn, as SVG charts and numbers."""

from __future__ import annotations

from flask import render_template, request

from leadcapture.backoffice import funnel as funnel_mod
from leadcapture.models import ASSET
from leadcapture.web.admin.auth import bp, require
from leadcapture.web.admin.forms import form_or_404
from leadcapture.web.context import get_session


@bp.get("/forms/<slug>/funnel")
@require("funnel")
def funnel(slug: str):
    """The funnel of one form over the last 30 days or 26 weeks."""
    form = form_or_404(slug)
    period = request.args.get("period", "day")
    if period not in funnel_mod.PERIODS:
        period = "day"
    rows = funnel_mod.funnel(get_session(), form.id, period)
    definition = form.current_version.definition
    labels = {p["key"]: p["label"] for p in definition["purposes"]}
    shown = funnel_mod.buckets(period)
    charts = []
    for row in rows:
        row.label = "Whitepaper download" if row.key == ASSET else labels.get(row.key, row.key)
        title = f"{row.label}: submitted, confirmed and withdrawn per {period}"
        charts.append((row, funnel_mod.chart(row, shown, title)))
    return render_template(
        "admin/funnel.html", form_row=form, charts=charts, period=period, shown=shown, stages=funnel_mod.STAGES
    )
