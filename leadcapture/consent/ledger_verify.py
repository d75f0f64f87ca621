"""Checking the consent ledger: the whole chain, its head, and anchors kept outside the system.

Every corruption is a `Problem` naming the event (its place in the chain, `seq`); nothing a changed
row holds can make the walk crash. README.md ("The consent ledger") says what a clean walk proves,
against whom.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadcapture.consent.ledger import GENESIS, KEYED, UNKEYED, Keyring, UnknownKey, canonical, event_hash, payload_of
from leadcapture.crypto import DecryptionError, Vault
from leadcapture.models import LedgerEvent, LedgerHead, utcnow

ANCHOR_SCHEMA = "leadcapture.ledger-anchor/1"
MAX_PROBLEMS = 100  # a wholesale rewrite is named by its first hundred events, not millions of lines


@dataclass
class Problem:
    """One corruption: the event (its seq) and what is wrong with it."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.reason}"


@dataclass
class Report:
    """What `verify` found: the sealed events checked, every problem, and the tail not sealed yet."""

    sealed: int = 0
    problems: list[Problem] = field(default_factory=list)
    unsealed: int = 0
    oldest_unsealed: datetime | None = None
    head_seq: int = 0
    head_hash: str = GENESIS

    @property
    def ok(self) -> bool:
        """True when the chain has no problem (an unsealed tail is not one)."""
        return not self.problems

    def add(self, seq: int, reason: str) -> None:
        """Record a problem."""
        self.problems.append(Problem(seq, reason))


class _Unreadable:
    """A stored event whose columns no longer load (e.g. an edited time)."""

    def __init__(self, seq: int, reason: str):
        self.seq, self.reason = seq, reason


def verify(session: Session, vault: Vault, keyring: Keyring) -> Report:
    """Walk the sealed chain from the first event; report every problem and the unsealed tail."""
    report = Report()
    events = _events(session)
    try:
        _walk(session, vault, keyring, events, report)
    finally:
        events.close()  # stopping early must close PostgreSQL's server-side cursor
    report.unsealed, report.oldest_unsealed = session.execute(
        select(func.count(), func.min(LedgerEvent.recorded_at)).where(LedgerEvent.seq.is_(None))
    ).one()
    return report


def _walk(session: Session, vault: Vault, keyring: Keyring, events: Iterator[Any], report: Report) -> None:
    expected_prev: str | None = GENESIS
    expected_seq, keyed = 1, False
    for ev in events:
        if len(report.problems) >= MAX_PROBLEMS:
            report.add(expected_seq, f"stopped after {MAX_PROBLEMS} problems")
            return
        if isinstance(ev, _Unreadable):
            report.add(ev.seq, f"row unreadable ({ev.reason})")
            expected_prev, expected_seq = None, ev.seq + 1
            continue
        if not isinstance(ev.seq, int):
            report.add(expected_seq, f"row unreadable (seq is {ev.seq!r})")
            expected_prev = None
            continue
        if ev.seq != expected_seq:
            gap = str(expected_seq) if ev.seq == expected_seq + 1 else f"{expected_seq}-{ev.seq - 1}"
            report.add(expected_seq, f"missing: no event {gap} in the chain (deleted, or its seq changed)")
            expected_prev = None  # the event after a hole cannot be linked; its own hash still is checked
        keyed = _check_event(session, vault, keyring, ev, expected_prev, keyed, report)
        expected_prev, expected_seq, report.sealed = ev.hash, ev.seq + 1, report.sealed + 1
    report.head_seq, report.head_hash = expected_seq - 1, expected_prev or ""
    _check_head(session, report)


def _check_event(
    session: Session,
    vault: Vault,
    keyring: Keyring,
    ev: LedgerEvent,
    expected_prev: str | None,
    keyed: bool,
    report: Report,
) -> bool:
    """Check one sealed event's link, hash and payload; returns whether the chain is keyed from here on."""
    if expected_prev is not None and ev.prev_hash != expected_prev:
        report.add(ev.seq, _link_problem(session, ev))
    if ev.hash_version == UNKEYED and keyed:
        report.add(ev.seq, "an unkeyed hash after keyed events (the chain was rewritten without the key)")
    elif ev.hash_version not in (UNKEYED, KEYED):
        report.add(ev.seq, f"unknown hash version {ev.hash_version!r}")
        return keyed
    try:
        if event_hash(ev, keyring) != ev.hash:
            what = "hash" if ev.hash_version == UNKEYED else "HMAC"
            report.add(ev.seq, f"contents were changed ({what} mismatch)")
    except UnknownKey:
        report.add(ev.seq, f"chained with ledger key {ev.key_id!r}, which is not configured (LEDGER_KEY_FALLBACKS?)")
    except (AttributeError, TypeError, ValueError) as exc:  # a column of the wrong type
        report.add(ev.seq, f"row unreadable ({exc})")
    problem = _payload_problem(vault, ev)
    if problem:
        report.add(ev.seq, problem)
    return keyed or ev.hash_version == KEYED


def _link_problem(session: Session, ev: LedgerEvent) -> str:
    """Why prev_hash does not match: chained after another event (reordered), or after none we have."""
    if ev.prev_hash == GENESIS:
        return "out of order: it was chained as the first event"
    after = session.scalar(select(LedgerEvent.seq).where(LedgerEvent.hash == ev.prev_hash).limit(1))
    if after is not None:
        return f"out of order: it was chained after event {after}"
    return "prev_hash does not match the event before it (an event was changed or removed)"


def _payload_problem(vault: Vault, ev: LedgerEvent) -> str | None:
    if ev.payload_enc is None:
        return None
    try:
        body = canonical(payload_of(vault, ev))
    except (DecryptionError, ValueError, TypeError, AttributeError) as exc:  # changed ciphertext, not JSON inside
        return f"payload unreadable ({exc})"
    if hashlib.sha256(body).hexdigest() != ev.payload_digest:
        return "payload was changed (digest mismatch)"
    return None


def _check_head(session: Session, report: Report) -> None:
    head = session.get(LedgerHead, 1)
    last = report.head_seq
    if head is None:
        report.add(last + 1, "the ledger head row is missing")
    elif head.seq > last:
        report.add(last + 1, f"missing: the head says the chain has {head.seq} events, {last} are there (truncated)")
    elif head.seq < last:
        report.add(max(head.seq + 1, 1), f"the head says the chain ends at event {head.seq}, but it goes on to {last}")
    elif head.hash != report.head_hash and report.head_hash:
        report.add(last, "does not match the head's hash")


def _events(session: Session) -> Iterator[LedgerEvent | _Unreadable]:
    sealed = LedgerEvent.seq.is_not(None)
    result = session.scalars(
        select(LedgerEvent).where(sealed).order_by(LedgerEvent.seq).execution_options(yield_per=1000)
    )
    last = 0
    try:
        for ev in result:
            last = ev.seq if isinstance(ev.seq, int) else last
            yield ev
    except ValueError:
        # A row of the batch no longer loads: go on one row at a time to name it.
        result.close()
        yield from _events_after(session, last)
    finally:
        result.close()


def _events_after(session: Session, seq: int) -> Iterator[LedgerEvent | _Unreadable]:
    while (seq := session.scalar(select(func.min(LedgerEvent.seq)).where(LedgerEvent.seq > seq))) is not None:
        try:
            yield session.scalars(select(LedgerEvent).where(LedgerEvent.seq == seq)).one()
        except ValueError as exc:
            yield _Unreadable(seq, str(exc))


# --- anchors ---------------------------------------------------------------------------------


def make_anchor(session: Session, keyring: Keyring) -> dict[str, Any]:
    """The signed head of the sealed chain, for the privacy officer to keep outside the system."""
    last = session.execute(
        select(LedgerEvent.seq, LedgerEvent.hash).where(LedgerEvent.seq.is_not(None)).order_by(LedgerEvent.seq.desc())
    ).first()
    seq, head_hash = (last.seq, last.hash) if last else (0, GENESIS)
    doc = {
        "schema": ANCHOR_SCHEMA,
        "seq": seq,
        "hash": head_hash,
        "time": utcnow().isoformat(timespec="seconds"),
        "key_id": keyring.current_id,
    }
    doc["signature"] = keyring.mac(keyring.current_id, canonical(doc))
    return doc


def check_anchor(session: Session, keyring: Keyring, doc: Any) -> str | Problem | None:
    """None when the chain holds the anchored head; else why not (a str: the anchor itself is bad)."""
    fields = {"schema": str, "seq": int, "hash": str, "time": str, "key_id": str, "signature": str}
    if not isinstance(doc, dict) or doc.get("schema") != ANCHOR_SCHEMA:
        return f'not a ledger anchor (no "schema": "{ANCHOR_SCHEMA}")'
    wrong = [name for name, kind in fields.items() if not isinstance(doc.get(name), kind)]
    if wrong:
        return f"not a ledger anchor ({', '.join(wrong)} missing or of the wrong type)"
    signed = {name: doc[name] for name in fields if name != "signature"}
    try:
        if not keyring.matches(doc["key_id"], canonical(signed), doc["signature"]):
            return "its signature does not match (the file was changed, or is not from this ledger)"
    except UnknownKey:
        return f"signed with ledger key {doc['key_id']!r}, which is not configured (LEDGER_KEY_FALLBACKS?)"
    if doc["seq"] == 0:
        return None
    stored = session.scalar(select(LedgerEvent.hash).where(LedgerEvent.seq == doc["seq"]))
    if stored is None:
        return Problem(doc["seq"], f"anchored on {doc['time']} but no longer in the chain (truncated)")
    if stored != doc["hash"]:
        return Problem(doc["seq"], f"differs from the anchor of {doc['time']} (the chain was rewritten)")
    return None
