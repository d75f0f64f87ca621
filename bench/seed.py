"""Bulk loader: N people with a confirmed consent for one purpose (COPY on PostgreSQL).

Usage: python bench/seed.py N   (database and keys from the LEADCAPTURE_* environment)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from leadcapture import create_app
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.migrations import upgrade
from leadcapture.models import new_public_id

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 20_000


def rows(services, start: int, stop: int, version_id: int, now: str):
    """(person, consent) tuples for people numbered start..stop-1."""
    vault = services.vault
    for n in range(start, stop):
        email = f"lead{n}@bench.example"
        language = "en" if n % 3 == 0 else "nl"
        person = (n, vault.blind_index(email), vault.encrypt(email), language, now, now, new_public_id())
        yield person, (n, n, version_id, now)


def seed(app, count: int, purpose: str = "newsletter") -> float:
    """Load count people with a current consent; returns the seconds it took."""
    services = app.extensions["leadcapture"]
    upgrade(services.db)
    definition, asset = load_toml(ROOT / "demo" / "sales-machine.toml")
    with services.db.session() as session:
        version, _ = save(session, definition, asset)
        version_id, brand_id = version.id, version.form.brand_id
    began = time.perf_counter()
    raw = services.db.engine.raw_connection()
    try:
        cur = raw.cursor()
        postgres = services.db.engine.dialect.name == "postgresql"
        now = "2026-11-01 00:00:00+00:00" if postgres else "2026-11-01 00:00:00.000000"
        for start in range(1, count + 1, CHUNK):
            people, consents = zip(*rows(services, start, min(start + CHUNK, count + 1), version_id, now), strict=True)
            if postgres:
                with cur.copy(
                    "COPY people (id, email_index, email_enc, language, created_at, last_activity_at, public_id)"
                    " FROM STDIN"
                ) as copy:
                    for p in people:
                        copy.write_row(p)
                with cur.copy(
                    "COPY consents (id, person_id, brand_id, purpose_key, channel, state, form_version_id,"
                    " confirmed_at, last_activity_at) FROM STDIN"
                ) as copy:
                    for c in consents:
                        copy.write_row((c[0], c[1], brand_id, purpose, "email", "confirmed", c[2], c[3], c[3]))
            else:
                cur.executemany(
                    "INSERT INTO people (id, email_index, email_enc, language, created_at, last_activity_at,"
                    " public_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    people,
                )
                cur.executemany(
                    "INSERT INTO consents (id, person_id, brand_id, purpose_key, channel, state, form_version_id,"
                    " confirmed_at, last_activity_at) VALUES (?, ?, ?, ?, 'email', 'confirmed', ?, ?, ?)",
                    [(c[0], c[1], brand_id, purpose, c[2], c[3], c[3]) for c in consents],
                )
            raw.commit()
        if postgres:
            cur.execute("SELECT setval('people_id_seq', %s)", (count,))
            cur.execute("SELECT setval('consents_id_seq', %s)", (count,))
            cur.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - began


if __name__ == "__main__":
    n = int(sys.argv[1])
    seconds = seed(create_app(), n)
    print(f"seeded {n} people with a current consent in {seconds:.1f} s ({n / seconds:,.0f} rows/s)")
