"""The leads that came in: submissions newest first, filtered, one page at a time, and as CSV.

Details are encrypted at rest and stay so: a page decrypts only the rows it shows. An address is
found by its blind index, a name or company by the blind indexes of its words.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, joinedload, selectinload

from leadcapture.backoffice.contacts import csv_cell
from leadcapture.consent.customfields import fields_of, labelled
from leadcapture.consent.people import find_person, search_terms
from leadcapture.consent.source import DIRECT, UTM_KEYS, funnel_source
from leadcapture.crypto import Vault
from leadcapture.models import (
    CONFIRMED,
    EXPIRED,
    PENDING,
    WITHDRAWN,
    Form,
    FormVersion,
    LeadRequest,
    Submission,
    SubmissionTerm,
)

STATES = (PENDING, CONFIRMED, WITHDRAWN, EXPIRED)
PAGE_SIZE = 50
CSV_COLUMNS = (
    "submitted_at",
    "form",
    "form_version",
    "email",
    "name",
    "company",
    "phone",
    "page",
    *UTM_KEYS,
    "referrer",
    "asked",
)
MAX_SOURCES = 200  # the sources offered as a filter, most recent first


@dataclass(frozen=True)
class LeadFilter:
    """What the marketer narrowed the list to; every part is optional."""

    form: str = ""
    purpose: str = ""
    state: str = ""
    since: date | None = None
    until: date | None = None
    email: str = ""
    words: str = ""
    source: str = ""  # a utm_source, or "direct" for the leads without one

    @property
    def narrowed(self) -> bool:
        """Whether anything narrows the list (the audit log notes which parts, never the search text)."""
        return any((self.form, self.purpose, self.state, self.since, self.until, self.email, self.words, self.source))


def _query(session: Session, vault: Vault, f: LeadFilter) -> Any:
    """The submissions matching the filter, newest first; None when the filter matches nothing for sure."""
    stmt = (
        select(Submission)
        .join(FormVersion, Submission.form_version_id == FormVersion.id)
        .join(Form, FormVersion.form_id == Form.id)
        .order_by(Submission.id.desc())
    )
    if f.form:
        stmt = stmt.where(Form.slug == f.form)
    if f.purpose or f.state:
        asked = select(LeadRequest.id).where(LeadRequest.submission_id == Submission.id)
        if f.purpose:
            asked = asked.where(LeadRequest.purpose_key == f.purpose)
        if f.state:
            asked = asked.where(LeadRequest.state == f.state)
        stmt = stmt.where(exists(asked))
    if f.source:
        source = funnel_source(f.source)
        stmt = stmt.where(Submission.utm_source.is_(None) if source == DIRECT else Submission.utm_source == source)
    if f.since:
        stmt = stmt.where(Submission.created_at >= datetime.combine(f.since, time.min, tzinfo=UTC))
    if f.until:
        stmt = stmt.where(Submission.created_at < datetime.combine(f.until + timedelta(days=1), time.min, tzinfo=UTC))
    if f.email:
        person = find_person(session, vault, f.email)
        if person is None:
            return None
        stmt = stmt.where(Submission.person_id == person.id)
    if f.words.strip():
        terms = search_terms(vault, f.words)
        if not terms:
            return None
        for term in terms:
            stmt = stmt.where(
                exists().where(SubmissionTerm.submission_id == Submission.id, SubmissionTerm.term_index == term)
            )
    return stmt.options(joinedload(Submission.person), selectinload(Submission.requests))


def _row(vault: Vault, submission: Submission) -> dict[str, Any]:
    definition = submission.form_version.definition
    channels = {p["key"]: p["channel"] for p in definition["purposes"]}
    labels = {p["key"]: p["label"] for p in definition["purposes"]}
    fields = json.loads(vault.decrypt(submission.fields_enc)) if submission.fields_enc else {}
    answers = json.loads(vault.decrypt(submission.answers_enc)) if submission.answers_enc else {}
    asked = [
        {
            "purpose": request.purpose_key or "asset",
            "label": labels.get(request.purpose_key or "", definition["asset"]),
            "state": request.state,
        }
        for request in submission.requests
    ]
    return {
        "id": submission.id,
        "person_id": submission.person_id,
        "submitted_at": submission.created_at,
        "form": definition["slug"],
        "form_version": submission.form_version.number,
        "email": vault.decrypt(submission.person.email_enc),
        "name": fields.get("name", ""),
        "company": fields.get("company", ""),
        "phone": fields.get("phone", ""),
        "page": submission.page_url or "",
        "utm_source": submission.utm_source or "",
        "utm_medium": submission.utm_medium or "",
        "utm_campaign": submission.utm_campaign or "",
        "referrer": vault.decrypt(submission.referrer_enc) or "",
        "answers": labelled(definition, answers),
        "asked": asked,
        # Someone who confirmed "you may call me": sales should phone them.
        "to_call": any(a["state"] == CONFIRMED and channels.get(a["purpose"]) == "phone" for a in asked),
    }


def page(
    session: Session, vault: Vault, f: LeadFilter, before: int | None = None, size: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of leads, decrypted, and the id to pass as `before` for the next (older) page."""
    size = size or PAGE_SIZE
    stmt = _query(session, vault, f)
    if stmt is None:
        return [], None
    if before:
        stmt = stmt.where(Submission.id < before)
    found = session.scalars(stmt.options(joinedload(Submission.form_version)).limit(size + 1)).unique().all()
    rows = [_row(vault, s) for s in found[:size]]
    return rows, (rows[-1]["id"] if len(found) > size else None)


def csv_rows(session: Session, vault: Vault, f: LeadFilter, batch: int = 500) -> Iterator[str]:
    """Every lead of the filter as CSV, a batch at a time (formula-safe cells)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    questions = question_keys(session, f.form)
    writer.writerow([*CSV_COLUMNS, *questions])
    before = None
    while True:
        rows, before = page(session, vault, f, before, batch)
        for row in rows:
            asked = "; ".join(f"{a['purpose']}: {a['state']}" for a in row["asked"])
            answers = {a["key"]: a["value"] for a in row["answers"]}
            values = [row["submitted_at"].isoformat(timespec="seconds"), row["form"], row["form_version"]]
            values += [csv_cell(row[c]) for c in CSV_COLUMNS[3:-1]] + [csv_cell(asked)]
            values += [csv_cell(answers.get(key, "")) for key in questions]
            writer.writerow(values)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if before is None:
            return


def question_keys(session: Session, slug: str = "") -> list[str]:
    """The custom fields' keys of every version of a form (or of all forms), first seen first: the CSV's end."""
    stmt = select(FormVersion).order_by(FormVersion.id)
    if slug:
        stmt = stmt.join(Form, FormVersion.form_id == Form.id).where(Form.slug == slug)
    keys: dict[str, None] = {}
    for version in session.scalars(stmt):
        keys.update((field["key"], None) for field in fields_of(version.definition))
    return list(keys)


def sources(session: Session) -> list[str]:
    """The utm_source values leads came with, to offer as a filter ("direct" first)."""
    found = session.scalars(
        select(Submission.utm_source)
        .where(Submission.utm_source.is_not(None))
        .group_by(Submission.utm_source)
        .order_by(Submission.utm_source)
        .limit(MAX_SOURCES)
    )
    return [DIRECT, *found]


def forms_and_purposes(session: Session) -> tuple[list[str], list[str]]:
    """The form slugs and purpose keys to offer as filters."""
    slugs = list(session.scalars(select(Form.slug).order_by(Form.slug)))
    keys: set[str] = set()
    for version in session.scalars(select(FormVersion)):
        keys |= {p["key"] for p in version.definition["purposes"]}
    return slugs, sorted(keys)
