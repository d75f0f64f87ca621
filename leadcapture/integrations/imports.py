"""Import of contacts consented elsewhere, with provenance (R6.5): a CSV file, read as a stream.

A header line names the columns, in any order, separated by "," or ";" (UTF-8, with or without
BOM). Required: email, purpose, consented_at, source, lawful_basis. Optional: form (the slug of
the form whose purpose it is, needed when several forms offer the purpose), form_version (the
number of that form's version whose wording the person saw), wording (the exact text they agreed
to), evidence (where the record of their act is kept).

Enough proof is the exact wording (`wording`, or `form_version`) AND an `evidence` note: what
they agreed to and how that can be shown (GDPR Art. 7(1)). Such a row is a confirmed consent
dated when it was given; any other row is `unverified`: it reaches no campaign and gets one
re-permission email at once, and it lapses a month later unless the person confirms it.

An import never overrides the person: a suppressed address, an existing consent in any state,
and a consent that would already have lapsed under the purpose's retention are skipped. Each
imported consent is one ledger event (method "import") holding its provenance. Rows are applied
in batches, each its own transaction; a dry run rolls every batch back.
"""

from __future__ import annotations

import gc
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadcapture.consent import ledger, lifecycle
from leadcapture.consent.formdefs import LEGAL_BASES
from leadcapture.consent.people import AddressError, get_or_create_person, valid_address
from leadcapture.consent.transitions import set_confirmed
from leadcapture.crypto import Vault, normalise_email
from leadcapture.db import Database, row_id
from leadcapture.integrations.csvrows import OPTIONAL, REQUIRED, Row, read_rows
from leadcapture.models import (
    CONFIRMED,
    EXPIRED,
    UNVERIFIED,
    WITHDRAWN,
    Consent,
    Form,
    FormVersion,
    Person,
    Suppression,
)

LIMITS = {
    "email": 254,
    "purpose": 64,
    "consented_at": 40,
    "source": 200,
    "lawful_basis": 32,
    "form": 64,
    "form_version": 9,
    "wording": 2000,
    "evidence": 1000,
}
MULTILINE = {"wording", "evidence"}
# Spreadsheets run cells starting with these as formulas when the data is exported again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BATCH = 500

CREATED, UNVERIFIED_ROW, ALREADY, ALREADY_UNVERIFIED = (
    "created",
    "unverified",
    "already consented",
    "already unverified",
)
SUPPRESSED, SKIP_WITHDRAWN, SKIP_EXPIRED, LAPSED = (
    "skipped: suppressed",
    "skipped: withdrawn",
    "skipped: expired",
    "skipped: lapsed",
)
INVALID = "invalid"
_EXISTING = {CONFIRMED: ALREADY, UNVERIFIED: ALREADY_UNVERIFIED, WITHDRAWN: SKIP_WITHDRAWN, EXPIRED: SKIP_EXPIRED}


class InvalidRow(ValueError):
    """One row cannot be imported; the message says why."""


@dataclass(frozen=True)
class Result:
    """What happened to one row (or would, in a dry run)."""

    line: int
    outcome: str
    detail: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.outcome}" + (f": {self.detail}" if self.detail else "")


# --- checking a row ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    """What an import needs of a form version, kept across batches (plain values, no ORM object)."""

    id: int
    slug: str
    number: int
    content_hash: str
    language: str
    purposes: dict[str, dict[str, Any]]


class _Forms:
    """The live forms and the versions rows name, read once per import and remembered."""

    def __init__(self, session: Session):
        live = session.execute(
            select(Form.slug, Form.current_version_id).where(
                Form.archived_at.is_(None), Form.current_version_id.is_not(None)
            )
        ).all()
        self._live = dict(live)
        self._versions: dict[int, _Version] = {}
        self._offering: dict[str, list[str]] = {}
        for slug, version_id in live:
            for key in self._version(session, version_id).purposes:
                self._offering.setdefault(key, []).append(slug)

    def _version(self, session: Session, version_id: int) -> _Version:
        if version_id not in self._versions:
            v = session.get(FormVersion, version_id)
            d = v.definition
            purposes = {p["key"]: p for p in d["purposes"]}
            self._versions[version_id] = _Version(v.id, d["slug"], v.number, v.content_hash, d["language"], purposes)
        return self._versions[version_id]

    def resolve(self, session: Session, purpose: str, slug: str, number: str) -> _Version:
        """The version a row's consent belongs to: the form's live one, or the numbered one."""
        if not slug:
            offering = self._offering.get(purpose, [])
            if len(offering) != 1:
                where = f"forms {', '.join(sorted(offering))} offer it" if offering else "no live form offers it"
                raise InvalidRow(f"purpose {purpose!r}: {where}; name the form in the form column")
            slug = offering[0]
        if slug not in self._live:
            raise InvalidRow(f"form {slug!r} does not exist or is archived")
        version_id = self._live[slug]
        if number:
            try:
                number = row_id(number)
            except ValueError:
                raise InvalidRow(f"form_version {number!r} is not a version number") from None
            version_id = session.scalar(
                select(FormVersion.id)
                .join(Form, Form.id == FormVersion.form_id)
                .where(Form.slug == slug, FormVersion.number == number)
            )
            if version_id is None:
                raise InvalidRow(f"form {slug!r} has no version {number}")
        version = self._version(session, version_id)
        if purpose not in version.purposes:
            raise InvalidRow(f"form {slug!r} version {version.number} has no purpose {purpose!r}")
        return version


@dataclass(frozen=True)
class _Claim:
    email: str
    purpose: str
    consented_at: datetime
    cells: dict[str, str]
    version: _Version

    @property
    def missing_proof(self) -> str:
        """Why the row is not enough proof, or "" when it is."""
        wording = bool(self.cells["wording"] or self.cells["form_version"])
        checks = (("no wording or form_version", wording), ("no evidence note", bool(self.cells["evidence"])))
        return ", ".join(problem for problem, present in checks if not present)


def _clean(cells: dict[str, str]) -> dict[str, str]:
    out = {}
    for name in REQUIRED + OPTIONAL:
        value = unicodedata.normalize("NFC", cells.get(name, "")).replace("\r\n", "\n").strip()
        if len(value) > LIMITS[name]:
            raise InvalidRow(f"{name} is longer than {LIMITS[name]} characters")
        if value.startswith(FORMULA_START):
            raise InvalidRow(f"{name} starts with {value[0]!r}: formula-like cells are refused")
        allowed = "\n" if name in MULTILINE else ""
        if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in value):
            raise InvalidRow(f"{name} contains control or invisible formatting characters")
        if name in REQUIRED and not value:
            raise InvalidRow(f"{name} is empty")
        out[name] = value
    return out


def parse_time(text: str, now: datetime) -> datetime:
    """An ISO 8601 date or date and time (UTC unless it says otherwise), not in the future."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRow(
            f"consented_at {text!r} is not an ISO 8601 date or date and time (2025-03-01T14:30:00Z)"
        ) from exc
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when > now + timedelta(minutes=5):
        raise InvalidRow(f"consented_at {text} is in the future")
    return when


def _claim(session: Session, forms: _Forms, row: Row, now: datetime) -> _Claim:
    if row.error:
        raise InvalidRow(row.error)
    cells = _clean(row.cells)
    try:
        email = valid_address(cells["email"])  # as the form does
    except AddressError as exc:
        raise InvalidRow(f"email {exc}") from exc
    if cells["lawful_basis"] not in LEGAL_BASES:
        raise InvalidRow(f"lawful_basis {cells['lawful_basis']!r} is not one of {', '.join(LEGAL_BASES)}")
    version = forms.resolve(session, cells["purpose"], cells["form"], cells["form_version"])
    basis = version.purposes[cells["purpose"]].get("legal_basis", "consent")
    if cells["lawful_basis"] != basis:
        raise InvalidRow(f"purpose {cells['purpose']!r} has lawful basis {basis}; a purpose keeps one basis")
    return _Claim(email, cells["purpose"], parse_time(cells["consented_at"], now), cells, version)


# --- applying a row ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """Where an import comes from: the file's name and who ran it (the command line, an admin user)."""

    file: str
    actor: str


def _apply(session: Session, vault: Vault, claim: _Claim, provenance: Provenance, line: int, now: datetime) -> Result:
    index = vault.blind_index(normalise_email(claim.email))
    if session.get(Suppression, index) is not None:  # erased, bounced, "this wasn't me": the list wins
        return Result(line, SUPPRESSED)
    person = session.scalar(select(Person).where(Person.email_index == index))
    version = session.get(FormVersion, claim.version.id)
    brand_id = version.form.brand_id  # the audience the consent joins is the form's brand's
    if person is not None:
        state = session.scalar(
            select(Consent.state).where(
                Consent.person_id == person.id, Consent.brand_id == brand_id, Consent.purpose_key == claim.purpose
            )
        )
        if state is not None:
            return Result(line, _EXISTING.get(state, f"skipped: {state}"))
    purpose = claim.version.purposes[claim.purpose]
    retention = int(purpose.get("retention_months") or lifecycle.DEFAULT_RETENTION_MONTHS)
    if lifecycle.add_months(claim.consented_at, retention) <= now:
        return Result(line, LAPSED, f"given {claim.consented_at.date()}, the purpose keeps consent {retention} months")
    missing = claim.missing_proof
    person = get_or_create_person(session, vault, claim.email, claim.version.language)
    consent = Consent(
        person_id=person.id, brand_id=brand_id, purpose_key=claim.purpose, channel=purpose.get("channel", "email")
    )
    if missing:
        consent.state, consent.form_version, consent.last_activity_at = UNVERIFIED, version, now
    else:
        set_confirmed(consent, version, claim.consented_at)
    session.add(consent)
    session.flush()
    ledger.append(
        session,
        vault,
        event="requested" if missing else "confirmed",
        method="import",
        person_id=person.id,
        purpose_key=claim.purpose,
        payload=_payload(claim, provenance, line, verified=not missing),
        occurred_at=now,
    )
    if missing:
        lifecycle.queue_repermission(session, consent, now)
        return Result(line, UNVERIFIED_ROW, missing)
    return Result(line, CREATED)


def _payload(claim: _Claim, provenance: Provenance, line: int, *, verified: bool) -> dict[str, Any]:
    """The provenance the ledger keeps: when and where consent was given, on what wording, how shown."""
    cells, version = claim.cells, claim.version
    referenced = bool(cells["form_version"])
    return {
        "consented_at": claim.consented_at.isoformat(),
        "source": cells["source"],
        "lawful_basis": cells["lawful_basis"],
        "label": cells["wording"] or (version.purposes[claim.purpose].get("label") if referenced else None),
        "form_slug": version.slug,
        "form_version": version.number if referenced else None,
        "form_version_hash": version.content_hash if referenced else None,
        "evidence": cells["evidence"] or None,
        "verified": verified,
        "file": provenance.file,
        "line": line,
        "imported_by": provenance.actor,
    }


def _one(session: Session, vault: Vault, forms: _Forms, row: Row, provenance: Provenance, now: datetime) -> Result:
    try:
        claim = _claim(session, forms, row, now)
    except InvalidRow as exc:
        return Result(row.line, INVALID, str(exc))
    try:
        with session.begin_nested():
            return _apply(session, vault, claim, provenance, row.line, now)
    except IntegrityError:  # a form submission created the same consent a moment ago
        return Result(row.line, INVALID, "the address changed while importing; import the row again")


def import_csv(
    db: Database,
    vault: Vault,
    stream: BinaryIO,
    provenance: Provenance,
    *,
    dry_run: bool,
    on_result: Callable[[Result], None],
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
    batch: int = BATCH,
) -> Counter[str]:
    """Import (or, dry_run, only classify) every row; return the count per outcome.

    Rows are read as they are applied, `batch` per transaction, so memory stays flat whatever the
    file's size. on_result hears every row once its batch is committed (or rolled back).
    """
    rows = read_rows(stream, progress)
    counts: Counter[str] = Counter()
    forms: _Forms | None = None
    while chunk := list(islice(rows, batch)):
        with db.sessionmaker() as session:
            forms = forms or _Forms(session)
            stamp = now or datetime.now(UTC)
            results = [_one(session, vault, forms, row, provenance, stamp) for row in chunk]
            if dry_run:
                session.rollback()
            else:
                session.commit()
        for result in results:
            counts[result.outcome] += 1
            on_result(result)
        del results, chunk
        # A batch's ORM objects hold reference cycles; free them now, not at the next full collection.
        gc.collect()
    return counts


def summary(counts: Counter[str]) -> str:
    """One line: how many rows in all, and per outcome."""
    total = sum(counts.values())
    parts = [f"{n} {outcome}" for outcome, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return f"{total} row(s)" + (f": {', '.join(parts)}" if parts else "")
