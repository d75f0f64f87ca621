"""Admin funnel: per form and purpose, viewed -> submitted -> confirmed -> downloaded, and withdrawn,
over a date range per day, week or month; charts (uPlot) with the numbers as a table beside them."""

from __future__ import annotations

from datetime import date, timedelta

from flask import render_template, request

from leadcapture.backoffice import funnel as funnel_mod
from leadcapture.web.admin.auth import bp, require
from leadcapture.web.admin.forms import form_or_404
from leadcapture.web.context import get_session

STAGE_NAMES = {"submitted": "asked", "confirmed": "confirmed", "downloaded": "downloaded", "withdrawn": "withdrawn"}


def _range() -> tuple[date, date, str | None]:
    """The days asked for (both included), or the last 30 days; and what was wrong with the request."""
    since, until = funnel_mod.default_range()
    try:
        since = date.fromisoformat(request.args.get("since") or since.isoformat())
        until = date.fromisoformat(request.args.get("until") or until.isoformat())
    except ValueError:
        return *funnel_mod.default_range(), "Dates look like 2026-11-27; showing the last 30 days."
    if since > until:
        since, until = until, since
    if (until - since).days >= funnel_mod.MAX_DAYS:
        return until - timedelta(days=funnel_mod.MAX_DAYS - 1), until, "At most three years at a time."
    return since, until, None


@bp.get("/forms/<slug>/funnel")
@require("funnel")
def funnel(slug: str):
    """The funnel of one form between two days, per day, week or month."""
    form = form_or_404(slug)
    period = request.args.get("period", "day")
    if period not in funnel_mod.PERIODS:
        period = "day"
    since, until, problem = _range()
    result = funnel_mod.funnel(get_session(), form.id, since, until, period)
    labels = {p["key"]: p["label"] for p in form.current_version.definition["purposes"]}
    for row in result.rows:
        row.label = "Whitepaper" if row.key == funnel_mod.ASSET_KEY else labels.get(row.key, row.key)
    chart_data = {
        "buckets": result.buckets,
        "views": [result.views.get(b, 0) for b in result.buckets],
        "rows": [
            {
                "key": row.key,
                "label": row.label,
                "series": {
                    STAGE_NAMES[s]: [row.series[s].get(b, 0) for b in result.buckets] for s in funnel_mod.STAGES
                },
            }
            for row in result.rows
        ],
    }
    return render_template(
        "admin/funnel.html",
        form_row=form,
        f=result,
        period=period,
        since=since,
        until=until,
        problem=problem,
        stages=funnel_mod.STAGES,
        stage_names=STAGE_NAMES,
        chart_data=chart_data,
        sources=funnel_mod.by_source(get_session(), form.id, since, until),
    )
