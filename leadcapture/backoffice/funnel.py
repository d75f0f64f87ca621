"""The funnel per form and purpose: viewed -> submitted -> confirmed -> downloaded, and withdrawn.

Counted from `funnel_counts` (consent.tally), rows that hold no personal data: a figure never
changes when a person is erased. Views are counted in memory and written at most every half
minute, after a response, so showing a form costs no database write of its own; the other steps
are counted in the transaction of the change itself.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from leadcapture.consent import tally
from leadcapture.consent.source import DIRECT
from leadcapture.consent.tally import ASSET_KEY, CONFIRMED, DOWNLOADED, SUBMITTED, VIEW, WITHDRAWN
from leadcapture.db import Database
from leadcapture.models import Form, FunnelCount, utcnow

PERIODS = ("day", "week", "month")
STAGES = (SUBMITTED, CONFIRMED, DOWNLOADED, WITHDRAWN)  # per purpose; views are per form
MAX_DAYS = 3 * 366  # the longest range one page shows
MAX_VIEW_KEYS = 5000  # distinct (day, form, source) held between writes; more sources count as OTHER
OTHER = "(other)"
log = logging.getLogger(__name__)


@dataclass
class Row:
    """One purpose (or the whitepaper) of a form: counts per bucket and in total."""

    key: str
    label: str
    series: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in STAGES})

    def total(self, stage: str) -> int:
        return sum(self.series[stage].values())

    @property
    def rate(self) -> float | None:
        """Confirmed as a share of submitted, or None before the first submission."""
        submitted = self.total(SUBMITTED)
        return self.total(CONFIRMED) / submitted if submitted else None


@dataclass
class Funnel:
    """A form's funnel over a range: views per bucket, and a Row per purpose."""

    buckets: list[str]
    views: dict[str, int]
    rows: list[Row]

    @property
    def total_views(self) -> int:
        return sum(self.views.values())

    def rate(self, stage: str) -> float | None:
        """The whitepaper's `stage` as a share of the form's views (None before the first view)."""
        asset = next((r for r in self.rows if r.key == ASSET_KEY), None)
        return asset.total(stage) / self.total_views if asset and self.total_views else None


def bucket_of(day: date, period: str) -> str:
    """The bucket a day falls in: the day itself, its week's Monday, or its month's first day."""
    if period == "week":
        day = day - timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return day.isoformat()


def buckets(since: date, until: date, period: str) -> list[str]:
    """The bucket names from since to until, oldest first."""
    seen: dict[str, None] = {}
    day = since
    while day <= until:
        seen.setdefault(bucket_of(day, period))
        day += timedelta(days=1)
    return list(seen)


def default_range(today: date | None = None) -> tuple[date, date]:
    """The last 30 days, today included."""
    today = today or utcnow().date()
    return today - timedelta(days=29), today


def funnel(session: Session, form_id: int, since: date, until: date, period: str = "day") -> Funnel:
    """Counts per purpose, step and bucket for one form between two days (both included)."""
    stmt = (
        select(FunnelCount.day, FunnelCount.purpose_key, FunnelCount.stage, func.sum(FunnelCount.count))
        .where(FunnelCount.form_id == form_id, FunnelCount.day >= since, FunnelCount.day <= until)
        .group_by(FunnelCount.day, FunnelCount.purpose_key, FunnelCount.stage)
    )
    views: Counter[str] = Counter()
    rows: dict[str, Row] = {}
    for day, key, stage, total in session.execute(stmt):
        bucket = bucket_of(day, period)
        if stage == VIEW:
            views[bucket] += total
        elif stage in STAGES:
            series = rows.setdefault(key, Row(key=key, label=key)).series[stage]
            series[bucket] = series.get(bucket, 0) + total
    ordered = sorted(rows.values(), key=lambda r: (r.key != ASSET_KEY, r.key))
    return Funnel(buckets=buckets(since, until, period), views=dict(views), rows=ordered)


def overview(session: Session, since: date, until: date) -> list[dict[str, Any]]:
    """Per live form: views, whitepaper requests, confirmations, downloads and withdrawals in a range."""
    stmt = (
        select(FunnelCount.form_id, FunnelCount.purpose_key, FunnelCount.stage, func.sum(FunnelCount.count))
        .where(FunnelCount.day >= since, FunnelCount.day <= until)
        .group_by(FunnelCount.form_id, FunnelCount.purpose_key, FunnelCount.stage)
    )
    totals: dict[int, Counter[str]] = {}
    for form_id, key, stage, total in session.execute(stmt):
        if stage == WITHDRAWN or key in ("", ASSET_KEY):  # the form's views, the whitepaper, every withdrawal
            totals.setdefault(form_id, Counter())[stage] += total
    forms = session.execute(select(Form.id, Form.slug).where(Form.archived_at.is_(None)).order_by(Form.slug))
    result = []
    for form_id, slug in forms:
        counts = totals.get(form_id, Counter())
        views, submitted = counts[VIEW], counts[SUBMITTED]
        result.append(
            {
                "slug": slug,
                **{stage: counts[stage] for stage in (VIEW, SUBMITTED, CONFIRMED, DOWNLOADED, WITHDRAWN)},
                "conversion": counts[CONFIRMED] / views if views else None,
                "confirmation": counts[CONFIRMED] / submitted if submitted else None,
            }
        )
    return result


@dataclass
class SourceRow:
    """One source of a form's visitors: views, whitepaper requests and confirmations in a range."""

    source: str
    views: int = 0
    submitted: int = 0
    confirmed: int = 0

    @property
    def confirmation(self) -> float | None:
        """Confirmed as a share of submitted."""
        return self.confirmed / self.submitted if self.submitted else None

    @property
    def conversion(self) -> float | None:
        """Confirmed as a share of views."""
        return self.confirmed / self.views if self.views else None


def by_source(session: Session, form_id: int, since: date, until: date) -> list[SourceRow]:
    """Per source (utm_source, or "direct"): views, whitepaper requests and confirmations, most requests first.

    Counts made before sources were recorded have the source "" and are left out.
    """
    stmt = (
        select(FunnelCount.source, FunnelCount.stage, func.sum(FunnelCount.count))
        .where(
            FunnelCount.form_id == form_id,
            FunnelCount.day >= since,
            FunnelCount.day <= until,
            FunnelCount.source != "",
            ((FunnelCount.stage == VIEW) & (FunnelCount.purpose_key == ""))
            | (FunnelCount.stage.in_((SUBMITTED, CONFIRMED)) & (FunnelCount.purpose_key == ASSET_KEY)),
        )
        .group_by(FunnelCount.source, FunnelCount.stage)
    )
    rows: dict[str, SourceRow] = {}
    names = {VIEW: "views", SUBMITTED: "submitted", CONFIRMED: "confirmed"}
    for source, stage, total in session.execute(stmt):
        row = rows.setdefault(source, SourceRow(source=source))
        setattr(row, names[stage], getattr(row, names[stage]) + total)
    return sorted(rows.values(), key=lambda r: (-r.submitted, -r.views, r.source != DIRECT, r.source))


def roll_up(session: Session, before: date) -> int:
    """Sum the rows of each day before `before` into one per form, purpose, step and source; the rows merged."""
    key = (FunnelCount.day, FunnelCount.form_id, FunnelCount.purpose_key, FunnelCount.stage, FunnelCount.source)
    groups = session.execute(
        select(*key, func.sum(FunnelCount.count), func.min(FunnelCount.id))
        .where(FunnelCount.day < before)
        .group_by(*key)
        .having(func.count() > 1)
    ).all()
    for day, form_id, purpose_key, stage, source, total, keep in groups:
        session.execute(
            delete(FunnelCount).where(
                FunnelCount.day == day,
                FunnelCount.form_id == form_id,
                FunnelCount.purpose_key == purpose_key,
                FunnelCount.stage == stage,
                FunnelCount.source == source,
                FunnelCount.id != keep,
            )
        )
        session.get(FunnelCount, keep).count = total
    return len(groups)


class ViewCounter:
    """Form views counted in memory and written at most every `every` seconds (and at exit).

    The write happens after a response is closed (`flush_if_due`), when that request's own
    transaction has ended: a second transaction on the same thread would wait for the first
    (SQLite has one writer).
    """

    def __init__(self, db: Database, every: float = 30.0):
        self.db = db
        self.every = every
        self._counts: Counter[tuple[date, int, str]] = Counter()
        self._lock = threading.Lock()
        self._written = time.monotonic()
        atexit.register(self.flush)

    def seen(self, form_id: int, source: str = "") -> None:
        """One view of a form, from a source (utm_source or "direct")."""
        key = (utcnow().date(), form_id, source)
        with self._lock:
            if key not in self._counts and len(self._counts) >= MAX_VIEW_KEYS:
                key = (key[0], form_id, OTHER)  # a flood of made-up sources cannot grow memory
            self._counts[key] += 1

    def flush_if_due(self) -> None:
        """Write the views counted so far if the last write is `every` seconds ago."""
        if time.monotonic() - self._written >= self.every:
            self.flush()

    def flush(self) -> None:
        """Write the views counted so far (a failure is logged: views are a statistic, not a record)."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            self._written = time.monotonic()
        if not counts:
            return
        try:
            with self.db.session() as session:
                for (day, form_id, source), n in counts.items():
                    tally.count(session, form_id, VIEW, [""], n=n, day=day, source=source)
        except SQLAlchemyError:
            log.warning("could not write %s form views; they are not counted", sum(counts.values()))
