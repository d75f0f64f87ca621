"""The consent ledger in tests: seal what was appended, as the sealer does within a second, then verify."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa

from leadcapture.consent import ledger
from leadcapture.consent.ledger_verify import Report, verify
from leadcapture.db import Database
from leadcapture.models import LedgerEvent
from leadcapture.models.base import UTCDateTime
from leadcapture.services import Services


def seal_and_verify(services: Services) -> Report:
    """Chain every committed event with the settings' ledger key, then walk the whole chain."""
    keyring = ledger.Keyring(services.settings.ledger_keys)
    with services.db.session() as session:
        ledger.seal(session, keyring, limit=1_000_000)
    with services.db.session() as session:
        return verify(session, services.vault, keyring)


def legacy_chain(db: Database, count: int) -> list[str]:
    """Write count events and the head the way revision 0009 did (unkeyed SHA-256); returns their hashes."""
    table = sa.Table(
        "ledger_events",
        sa.MetaData(),
        *(sa.Column(name, sa.String) for name in ("event", "method", "purpose_key", "payload_digest", "prev_hash")),
        sa.Column("seq", sa.BigInteger),
        sa.Column("person_id", sa.Integer),
        sa.Column("occurred_at", UTCDateTime),
        sa.Column("hash", sa.String),
    )
    keyring = ledger.Keyring([b"unused" * 6])  # an unkeyed hash needs no key
    hashes, prev = [], ledger.GENESIS
    with db.engine.begin() as conn:
        for seq in range(1, count + 1):
            ev = LedgerEvent(
                seq=seq,
                occurred_at=datetime(2025, 1, seq, 12, 0, tzinfo=UTC),
                event="requested",
                method="form",
                person_id=seq,
                purpose_key="newsletter",
                payload_digest=hashlib.sha256(b"{}").hexdigest(),
                prev_hash=prev,
                hash_version=ledger.UNKEYED,
            )
            prev = ledger.event_hash(ev, keyring)
            hashes.append(prev)
            columns = {c.name: getattr(ev, c.name) for c in table.columns if c.name != "hash"}
            conn.execute(table.insert().values(**columns, hash=prev))
        head = sa.text("INSERT INTO ledger_head (id, seq, hash) VALUES (1, :seq, :hash)")
        conn.execute(head, {"seq": count, "hash": prev})
    return hashes
