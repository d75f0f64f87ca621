"""Stream the "who may we contact" CSV for many people and report time and peak memory.

    .venv/bin/python bench/contacts_export.py --rows 1000000
    .venv/bin/python bench/contacts_export.py --database-url sqlite:////tmp/lc_bench_contacts_X/bench.db  # again
    .venv/bin/python bench/contacts_export.py --rows 1000000 --database-url postgresql+psycopg://postgres@127.0.0.1/DB

Rows are inserted with SQL (fast); each row's email, name, company and phone are real ciphertexts
that the export decrypts one row at a time, as in production. Peak RSS is measured around the
export: the growth stays the same whatever --rows is, because rows are fetched, decrypted and
written a batch at a time.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

from leadcapture import create_app  # noqa: E402
from leadcapture.backoffice.contacts import contact_rows  # noqa: E402
from leadcapture.migrations import upgrade  # noqa: E402
from leadcapture.models import Brand, Consent, Form, FormVersion, Person, utcnow  # noqa: E402


def rss_mb() -> float:
    """The resident set size now (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="", help="an empty database (default: a temporary SQLite file)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lc_bench_contacts_"))
    app = create_app(
        {
            "VAR_DIR": str(tmp),
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'bench.db'}",
            "SECRET_KEY": "bench",
            "DATA_KEY": base64.urlsafe_b64encode(b"b" * 32).decode(),
            "BASE_URL": "http://bench.test",
        }
    )
    services = app.extensions["leadcapture"]
    upgrade(services.db)
    with services.db.session() as session:
        existing = session.scalar(select(func.count()).select_from(Consent))
    if existing:
        print(f"reusing the {existing} consents already in the database")
    else:
        insert_people(services, args.rows)
    gc.collect()
    before = peak = rss_mb()
    start = time.perf_counter()
    size = lines = chunks = 0
    for chunk in contact_rows(services, "newsletter", "email"):
        size += len(chunk)
        lines += chunk.count("\n")
        chunks += 1
        peak = max(peak, rss_mb())
    took = time.perf_counter() - start
    print(
        f"exported {lines - 1} rows, {size / 1e6:.1f} MB of CSV in {chunks} chunks, {took:.1f}s "
        f"({(lines - 1) / took:,.0f} rows/s)"
    )
    print(f"RSS before the export {before:.0f} MB, highest during it {peak:.0f} MB (+{peak - before:.0f} MB)")
    print(f"database kept for --database-url: {services.db.url}")
    services.db.dispose()


def insert_people(services, rows: int) -> None:
    """Insert people with a confirmed newsletter consent, in batches."""
    start = time.perf_counter()
    with services.db.session() as session:
        brand = Brand(slug="bench", name="Bench", controller="Bench B.V.")
        session.add(brand)
        session.flush()
        form = Form(slug="bench", brand_id=brand.id)
        session.add(form)
        session.flush()
        version = FormVersion(form_id=form.id, number=1, content_hash="0" * 64, definition_json=json.dumps({}))
        session.add(version)
        session.flush()
        version_id, brand_id = version.id, brand.id
    vault, now, batch = services.vault, utcnow(), 10_000
    name, company, phone = vault.encrypt("Jan Jansen"), vault.encrypt("Jansen BV"), vault.encrypt("+31 6 1234 5678")
    for first in range(0, rows, batch):
        ids = range(first + 1, min(first + batch, rows) + 1)
        with services.db.session() as session:
            session.execute(
                insert(Person),
                [
                    {
                        "id": i,
                        "email_index": f"{i:064x}",
                        "email_enc": vault.encrypt(f"lead{i}@example.com"),
                        "name_enc": name,
                        "company_enc": company,
                        "phone_enc": phone,
                        "language": "nl",
                        "created_at": now,
                        "last_activity_at": now,
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(Consent),
                [
                    {
                        "person_id": i,
                        "brand_id": brand_id,
                        "purpose_key": "newsletter",
                        "channel": "email",
                        "state": "confirmed",
                        "form_version_id": version_id,
                        "confirmed_at": now,
                        "last_activity_at": now,
                    }
                    for i in ids
                ],
            )
    print(f"inserted {rows} people with a confirmed consent in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
