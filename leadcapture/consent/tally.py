"""Counting the steps of a form's funnel as they happen, into rows that hold no personal data.

Each step is one small INSERT in the transaction of the change it counts (a submission, a
confirmation, a withdrawal), so a rolled-back change is never counted and no shared counter row
makes concurrent submissions wait on each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import insert
from sqlalchemy.orm import Session

from leadcapture.models import FunnelCount, utcnow

VIEW, SUBMITTED, CONFIRMED, DOWNLOADED, WITHDRAWN = "view", "submitted", "confirmed", "downloaded", "withdrawn"
STAGES = (VIEW, SUBMITTED, CONFIRMED, DOWNLOADED, WITHDRAWN)
ASSET_KEY = "asset"  # the whitepaper's row; a form's views have the key ""


def count(
    session: Session,
    form_id: int,
    stage: str,
    purpose_keys: Iterable[str],
    *,
    n: int = 1,
    day: date | None = None,
    source: str = "",
) -> None:
    """Count `n` of one step for each purpose key (ASSET_KEY for the whitepaper) of a form, today.

    source is where the visitors came from (consent.source.funnel_source), "" where it is not counted.
    """
    day = day or utcnow().date()
    rows = [
        {"day": day, "form_id": form_id, "purpose_key": key, "stage": stage, "count": n, "source": source}
        for key in purpose_keys
    ]
    if rows:
        session.connection().execute(_ADD, rows)


_ADD = insert(FunnelCount.__table__)
