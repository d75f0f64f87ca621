"""The consent ledger: append-only events, chained by one sealer with a keyed hash.

Appending is a plain INSERT in the caller's transaction: no lock is shared by concurrent
requests. The event's `id` gives its order at insert; the sealer (one process at a time, see
`scheduler.start_sealer`) then chains the committed events in `id` order: each gets the next
`seq`, the hash of the event before it and an HMAC-SHA256, under the current ledger key, of its
header and the SHA-256 digest of its payload. The payload (personal data: IP, user agent, the
wording shown) can be erased while the chain stays verifiable.

The chain's order is the order of sealing, not of `id`: a transaction that took a lower `id` but
commits after the sealer passed it is chained at the tip when it becomes visible, so no gap in the
ids is ever waited for and no late event is ever skipped (README.md, "The consent ledger").
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from leadcapture.consent import events
from leadcapture.crypto import Vault
from leadcapture.models import LedgerEvent, LedgerHead, utcnow

GENESIS = "0" * 64
# "suppressed": the address gets no more mail (a bounce or a complaint); its payload says why.
EVENTS = ("requested", "confirmed", "withdrawn", "expired", "renewed", "erased", "suppressed")
METHODS = ("form", "confirm_page", "one_click", "preference_centre", "admin", "api", "system", "import")
UNKEYED, KEYED = 1, 2  # hash versions: SHA-256 of the header (events chained before the key), HMAC-SHA256
SEAL_BATCH = 1000


def canonical(data: Any) -> bytes:
    """Deterministic JSON bytes for hashing."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class HeadMissing(RuntimeError):
    """The ledger_head row (made by the migration) was deleted: nothing can be sealed after it."""


class UnknownKey(LookupError):
    """A key id that no configured ledger key has."""


class Keyring:
    """The ledger keys: the first (LEDGER_KEY) chains and signs, the fallbacks only verify."""

    def __init__(self, keys: Sequence[bytes]):
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._keys = {key_id(key): key for key in keys}
        self.current_id = key_id(keys[0])

    def mac(self, kid: str, data: bytes) -> str:
        """HMAC-SHA256 of data under the key with this id; UnknownKey if none is configured."""
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(kid)
        return hmac.new(key, data, hashlib.sha256).hexdigest()

    def matches(self, kid: str, data: bytes, mac: str) -> bool:
        """Whether mac is data's HMAC under the key with this id (in constant time)."""
        return hmac.compare_digest(self.mac(kid, data), str(mac))


def key_id(key: bytes) -> str:
    """A short public name of a ledger key (recorded with each event it chains; reveals nothing of it)."""
    return hashlib.sha256(b"leadcapture ledger key id\0" + key).hexdigest()[:12]


def header(ev: LedgerEvent) -> dict[str, Any]:
    """The fields an event's hash covers (besides the hash itself)."""
    fields = {
        "seq": ev.seq,
        "occurred_at": ev.occurred_at.isoformat(timespec="microseconds"),
        "event": ev.event,
        "method": ev.method,
        "person_id": ev.person_id,
        "purpose_key": ev.purpose_key,
        "payload_digest": ev.payload_digest,
        "prev_hash": ev.prev_hash,
    }
    if ev.hash_version != UNKEYED:
        fields.update(v=ev.hash_version, id=ev.id, key_id=ev.key_id)
    return fields


def event_hash(ev: LedgerEvent, keyring: Keyring) -> str:
    """The hash an event must carry: SHA-256 for the unkeyed events of old, else the keyed HMAC."""
    if ev.hash_version == UNKEYED:
        return hashlib.sha256(canonical(header(ev))).hexdigest()
    return keyring.mac(str(ev.key_id), canonical(header(ev)))


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
) -> None:
    """Record one event in the caller's transaction (the sealer chains it shortly after commit), with its
    webhook events (consent.events)."""
    if event not in EVENTS or method not in METHODS:
        raise ValueError(f"unknown ledger event {event!r} or method {method!r}")
    body = canonical(payload)
    now = utcnow()
    occurred_at = occurred_at or now
    session.execute(
        insert(LedgerEvent).values(
            recorded_at=now,
            occurred_at=occurred_at,
            event=event,
            method=method,
            person_id=person_id,
            purpose_key=purpose_key,
            payload_enc=vault.encrypt(body.decode()),
            payload_digest=hashlib.sha256(body).hexdigest(),
        )
    )
    events.from_ledger(session, event, person_id=person_id, purpose_key=purpose_key, occurred_at=occurred_at)


def seal(session: Session, keyring: Keyring, limit: int = SEAL_BATCH) -> int:
    """Chain up to limit committed, unsealed events in id order after the head; returns how many.

    Run by one process at a time (the sealer lease); the head's row lock, taken first, keeps even
    two overlapping sealers from forking the chain.
    """
    locked = session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(seq=LedgerHead.seq))
    if locked.rowcount != 1:
        raise HeadMissing("the ledger head row is missing, so nothing can be sealed; run `leadcapture ledger verify`")
    head = session.execute(
        select(LedgerHead).where(LedgerHead.id == 1).execution_options(populate_existing=True)
    ).scalar_one()
    pending = session.scalars(
        select(LedgerEvent).where(LedgerEvent.seq.is_(None)).order_by(LedgerEvent.id).limit(limit)
    ).all()
    for ev in pending:
        ev.seq, ev.prev_hash = head.seq + 1, head.hash
        ev.hash_version, ev.key_id = KEYED, keyring.current_id
        ev.hash = event_hash(ev, keyring)
        head.seq, head.hash = ev.seq, ev.hash
    session.flush()
    return len(pending)


def payload_of(vault: Vault, ev: LedgerEvent) -> dict[str, Any] | None:
    """The decrypted payload of an event, or None once erased."""
    if ev.payload_enc is None:
        return None
    return json.loads(vault.decrypt(ev.payload_enc))


def erase_payloads(session: Session, person_id: int) -> int:
    """Drop the personal payload of a person's events; hashes and digests stay."""
    result = session.execute(update(LedgerEvent).where(LedgerEvent.person_id == person_id).values(payload_enc=None))
    return result.rowcount
