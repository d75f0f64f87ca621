"""Throughput of `keys rotate`: re-encrypt N people (+ a submission and a ledger event each).

Usage: .venv/bin/python bench/rotate_keys.py [N] [DATABASE_URL]   (default 20000, a temp SQLite)
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime

from leadcapture.crypto import Vault
from leadcapture.db import Database
from leadcapture.migrations import upgrade
from leadcapture.models import Form, FormVersion, LedgerEvent, Person, Submission
from leadcapture.privacy import keyrotation as keys


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    old, new = b"o" * 32, b"n" * 32
    db = Database(url)
    upgrade(db)
    vault = Vault([old])
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(Form(id=1, slug="bench"))
        session.flush()
        session.add(FormVersion(id=1, form_id=1, number=1, content_hash="0" * 64, definition_json="{}"))
        session.flush()
        session.execute(
            Person.__table__.insert(),
            [
                {
                    "id": i,
                    "email_index": vault.blind_index(f"p{i}@example.com"),
                    "email_enc": vault.encrypt(f"p{i}@example.com"),
                    "name_enc": vault.encrypt(f"Person {i}"),
                    "language": "nl",
                    "created_at": now,
                    "last_activity_at": now,
                }
                for i in range(1, n + 1)
            ],
        )
        session.execute(
            Submission.__table__.insert(),
            [
                {
                    "person_id": i,
                    "form_version_id": 1,
                    "language": "nl",
                    "ip_enc": vault.encrypt("192.0.2.0"),
                    "user_agent_enc": vault.encrypt("Mozilla/5.0"),
                    "sends_confirmation": False,
                    "created_at": now,
                }
                for i in range(1, n + 1)
            ],
        )
        session.execute(
            LedgerEvent.__table__.insert(),
            [
                {
                    "seq": i,
                    "occurred_at": now,
                    "event": "requested",
                    "method": "form",
                    "person_id": i,
                    "payload_enc": vault.encrypt('{"ip":"192.0.2.0"}'),
                    "payload_digest": "0" * 64,
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }
                for i in range(1, n + 1)
            ],
        )
    rotating = Vault([new, old])
    started = time.perf_counter()
    counts = keys.rotate(db, rotating, batch=500)
    elapsed = time.perf_counter() - started
    values = sum(counts.values())
    print(
        f"{db.engine.dialect.name}: {n} people, {values} values re-encrypted in {elapsed:.1f} s "
        f"({values / elapsed:,.0f} values/s, {3 * n / elapsed:,.0f} rows/s)"
    )
    db.dispose()


if __name__ == "__main__":
    main()
