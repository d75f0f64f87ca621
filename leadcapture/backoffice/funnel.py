"""The funnel per form and purpose: submitted -> confirmed -> withdrawn, counted in SQL per day or week.

Submitted and confirmed count the form's requests (by submission time and confirmation time).
Withdrawn counts consents given through this form (the version the consent points at) and
withdrawn since, by withdrawal time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadcapture.models import ASSET, WITHDRAWN, Consent, FormVersion, LeadRequest, Submission, utcnow

STAGES = ("submitted", "confirmed", "withdrawn")
PERIODS = {"day": 30, "week": 26}  # how many buckets each period shows


@dataclass
class Row:
    """One purpose (or the asset) of a form: counts per bucket and in total."""

    key: str
    label: str
    series: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in STAGES})

    def total(self, stage: str) -> int:
        return sum(self.series[stage].values())

    @property
    def rate(self) -> float | None:
        """Confirmed as a share of submitted, or None before the first submission."""
        submitted = self.total("submitted")
        return self.total("confirmed") / submitted if submitted else None


def _bucket(session: Session, column: Any, period: str) -> Any:
    """A SQL expression naming the day (YYYY-MM-DD) or the week's Monday of a UTC timestamp."""
    if session.get_bind().dialect.name == "sqlite":
        if period == "week":
            return func.date(column, "weekday 0", "-6 days")
        return func.strftime("%Y-%m-%d", column)
    utc = func.timezone("UTC", column)
    return func.to_char(func.date_trunc(period, utc), "YYYY-MM-DD")


def buckets(period: str, today: date | None = None) -> list[str]:
    """The bucket names shown, oldest first."""
    today = today or utcnow().date()
    count = PERIODS[period]
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return [(monday - timedelta(weeks=n)).isoformat() for n in range(count - 1, -1, -1)]
    return [(today - timedelta(days=n)).isoformat() for n in range(count - 1, -1, -1)]


def funnel(session: Session, form_id: int, period: str = "day") -> list[Row]:
    """Counts per purpose and bucket for one form, in three grouped queries."""
    shown = buckets(period)
    since = datetime.fromisoformat(shown[0]).replace(tzinfo=utcnow().tzinfo)
    rows: dict[str, Row] = {}

    def row(key: str) -> Row:
        return rows.setdefault(key, Row(key=key, label=key))

    def requests_by(column: Any, stage: str) -> None:
        b = _bucket(session, column, period)
        stmt = (
            select(LeadRequest.kind, LeadRequest.purpose_key, b, func.count())
            .join(Submission, LeadRequest.submission_id == Submission.id)
            .join(FormVersion, Submission.form_version_id == FormVersion.id)
            .where(FormVersion.form_id == form_id, column >= since)
            .group_by(LeadRequest.kind, LeadRequest.purpose_key, b)
        )
        for kind, key, bucket, count in session.execute(stmt):
            row(ASSET if kind == ASSET else key).series[stage][bucket] = count

    requests_by(Submission.created_at, "submitted")
    requests_by(LeadRequest.confirmed_at, "confirmed")
    b = _bucket(session, Consent.withdrawn_at, period)
    withdrawn = (
        select(Consent.purpose_key, b, func.count())
        .join(FormVersion, Consent.form_version_id == FormVersion.id)
        .where(FormVersion.form_id == form_id, Consent.state == WITHDRAWN, Consent.withdrawn_at >= since)
        .group_by(Consent.purpose_key, b)
    )
    for key, bucket, count in session.execute(withdrawn):
        row(key).series["withdrawn"][bucket] = count
    return sorted(rows.values(), key=lambda r: (r.key != ASSET, r.key))


def chart(row: Row, shown: list[str], title: str) -> Markup:
    """A server-rendered SVG line chart of the three stages (colours come from admin.css)."""
    width, height, left, bottom, top = 640, 200, 36, 24, 10
    peak = max([1, *(v for s in STAGES for v in row.series[s].values())])
    step = (width - left - 10) / max(len(shown) - 1, 1)

    def y(value: int) -> float:
        return top + (height - top - bottom) * (1 - value / peak)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{escape(row.key)}-t">',
        f'<title id="{escape(row.key)}-t">{escape(title)}</title>',
        f'<line class="axis" x1="{left}" y1="{y(0)}" x2="{width - 10}" y2="{y(0)}"/>',
        f'<text class="tick" x="{left - 6}" y="{y(peak) + 4}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{left - 6}" y="{y(0) + 4}" text-anchor="end">0</text>',
        f'<text class="tick" x="{left}" y="{height - 6}">{escape(shown[0])}</text>',
        f'<text class="tick" x="{width - 10}" y="{height - 6}" text-anchor="end">{escape(shown[-1])}</text>',
    ]
    for stage in STAGES:
        points = " ".join(f"{left + i * step:.1f},{y(row.series[stage].get(b, 0)):.1f}" for i, b in enumerate(shown))
        parts.append(f'<polyline class="line {stage}" points="{points}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every interpolated value is escaped or a number)
