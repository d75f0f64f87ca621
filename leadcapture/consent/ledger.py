"""The consent ledger: append-only events, each hash-chained to the one before.

An event's hash covers its header fields and the SHA-256 digest of its payload, so the
payload (personal data: IP, user agent, the wording shown) can be erased while the chain
stays verifiable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from leadcapture.crypto import DecryptionError, Vault
from leadcapture.models import LedgerEvent, LedgerHead, utcnow

GENESIS = "0" * 64
# "suppressed": the address gets no more mail (a bounce or a complaint); its payload says why.
EVENTS = ("requested", "confirmed", "withdrawn", "expired", "renewed", "erased", "suppressed")
METHODS = ("form", "confirm_page", "one_click", "preference_centre", "admin", "api", "system")


def canonical(data: Any) -> bytes:
    """Deterministic JSON bytes for hashing."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _event_hash(ev: LedgerEvent) -> str:
    header = {
        "seq": ev.seq,
        "occurred_at": ev.occurred_at.isoformat(timespec="microseconds"),
        "event": ev.event,
        "method": ev.method,
        "person_id": ev.person_id,
        "purpose_key": ev.purpose_key,
        "payload_digest": ev.payload_digest,
        "prev_hash": ev.prev_hash,
    }
    return hashlib.sha256(canonical(header)).hexdigest()


def append(
    session: Session,
    vault: Vault,
    *,
    event: str,
    method: str,
    person_id: int | None,
    purpose_key: str | None,
    payload: dict[str, Any],
    occurred_at: datetime | None = None,
) -> LedgerEvent:
    """Append one event to the chain inside the caller's transaction."""
    if event not in EVENTS or method not in METHODS:
        raise ValueError(f"unknown ledger event {event!r} or method {method!r}")
    # Bumping the head first takes its row lock (PostgreSQL) or the write lock (SQLite),
    # so concurrent appends queue up instead of forking the chain.
    bumped = session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(seq=LedgerHead.seq + 1))
    if bumped.rowcount == 0:
        session.add(LedgerHead(id=1, seq=1, hash=GENESIS))
        session.flush()
    head = session.execute(
        select(LedgerHead).where(LedgerHead.id == 1).execution_options(populate_existing=True)
    ).scalar_one()
    body = canonical(payload)
    ev = LedgerEvent(
        seq=head.seq,
        occurred_at=occurred_at or utcnow(),
        event=event,
        method=method,
        person_id=person_id,
        purpose_key=purpose_key,
        payload_enc=vault.encrypt(body.decode()),
        payload_digest=hashlib.sha256(body).hexdigest(),
        prev_hash=head.hash,
    )
    ev.hash = _event_hash(ev)
    head.hash = ev.hash
    session.add(ev)
    session.flush()
    return ev


def payload_of(vault: Vault, ev: LedgerEvent) -> dict[str, Any] | None:
    """The decrypted payload of an event, or None once erased."""
    if ev.payload_enc is None:
        return None
    return json.loads(vault.decrypt(ev.payload_enc))


def erase_payloads(session: Session, person_id: int) -> int:
    """Drop the personal payload of a person's events; hashes and digests stay."""
    result = session.execute(update(LedgerEvent).where(LedgerEvent.person_id == person_id).values(payload_enc=None))
    return result.rowcount


@dataclass
class Problem:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.reason}"


def verify(session: Session, vault: Vault) -> tuple[int, Problem | None]:
    """Walk the chain; return (events checked, first problem or None)."""
    events = _events(session)
    try:
        return _walk(session, vault, events)
    finally:
        events.close()  # stopping early must close PostgreSQL's server-side cursor


def _walk(session: Session, vault: Vault, events: Iterator[LedgerEvent]) -> tuple[int, Problem | None]:
    expected_prev, expected_seq, count = GENESIS, 1, 0
    try:
        for ev in events:
            if ev.seq != expected_seq:
                return count, Problem(expected_seq, f"missing (next event found is {ev.seq})")
            if ev.prev_hash != expected_prev:
                return count, Problem(ev.seq, "prev_hash does not match the event before it")
            if _event_hash(ev) != ev.hash:
                return count, Problem(ev.seq, "contents were changed (hash mismatch)")
            if ev.payload_enc is not None:
                try:
                    body = canonical(payload_of(vault, ev))
                except (DecryptionError, ValueError) as exc:  # a changed ciphertext, or not JSON inside
                    return count, Problem(ev.seq, f"payload unreadable ({exc})")
                if hashlib.sha256(body).hexdigest() != ev.payload_digest:
                    return count, Problem(ev.seq, "payload was changed (digest mismatch)")
            expected_prev, expected_seq, count = ev.hash, expected_seq + 1, count + 1
    except UnreadableRow as exc:
        return count, Problem(exc.seq, f"row unreadable ({exc.reason})")
    head = session.get(LedgerHead, 1)
    if head is not None and (head.seq != count or head.hash != expected_prev):
        return count, Problem(count + 1, f"head says {head.seq} events; events after {count} were deleted")
    if head is None and count:
        return count, Problem(1, "ledger head is missing")
    return count, None


class UnreadableRow(Exception):
    """A stored event whose columns no longer load (e.g. an edited time)."""

    def __init__(self, seq: int, reason: str):
        super().__init__(f"event {seq}: {reason}")
        self.seq, self.reason = seq, reason


def _events(session: Session) -> Iterator[LedgerEvent]:
    stmt = select(LedgerEvent).order_by(LedgerEvent.seq).execution_options(yield_per=1000)
    result = session.scalars(stmt)
    last = 0
    try:
        for ev in result:
            last = ev.seq
            yield ev
    except ValueError:
        # A row of the batch no longer loads: go on one row at a time to name it.
        result.close()
        yield from _events_after(session, last)
    finally:
        result.close()


def _events_after(session: Session, seq: int) -> Iterator[LedgerEvent]:
    while (seq := session.scalar(select(func.min(LedgerEvent.seq)).where(LedgerEvent.seq > seq))) is not None:
        try:
            yield session.scalars(select(LedgerEvent).where(LedgerEvent.seq == seq)).one()
        except ValueError as exc:
            raise UnreadableRow(seq, str(exc)) from exc
