"""The keyed-ledger migration on a database with an unkeyed chain: the old events stay verifiable."""

from __future__ import annotations

import sqlalchemy as sa

from leadcapture import create_app
from leadcapture.consent import ledger
from leadcapture.db import Database
from leadcapture.migrations import upgrade
from tests.support.app import make_config
from tests.support.ledger import legacy_chain, seal_and_verify


def test_an_unkeyed_chain_stays_verifiable_and_new_events_chain_after_it(tmp_path):
    # Given a database at the revision before, holding a chain of three unkeyed events
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db = Database(url)
    upgrade(db, "0009")
    hashes = legacy_chain(db, 3)
    # When it is migrated to the head
    upgrade(db)
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, seq, hash_version, key_id, hash FROM ledger_events ORDER BY id")).all()
        head = conn.execute(sa.text("SELECT seq, hash FROM ledger_head")).one()
    db.dispose()
    # Then the events keep their place and hash, marked unkeyed, and the head is where it was
    assert [tuple(r) for r in rows] == [(n, n, ledger.UNKEYED, None, hashes[n - 1]) for n in (1, 2, 3)]
    assert tuple(head) == (3, hashes[-1])
    # and new events are chained after them with the key, and the whole chain verifies
    app = create_app(make_config(tmp_path, DATABASE_URL=url))
    services = app.extensions["leadcapture"]
    with services.db.session() as session:
        for _ in range(2):
            ledger.append(
                session, services.vault, event="confirmed", method="form", person_id=1, purpose_key="x", payload={}
            )
    chain = seal_and_verify(services)
    assert (chain.sealed, chain.problems, chain.unsealed) == (5, [], 0)
    with services.db.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT id FROM ledger_events WHERE seq = 5")) == 5  # ids go on after the old seqs
    services.db.dispose()


def test_a_fresh_database_has_the_head_row_before_any_event(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(db)
    with db.engine.connect() as conn:
        assert tuple(conn.execute(sa.text("SELECT id, seq, hash FROM ledger_head")).one()) == (1, 0, ledger.GENESIS)
    db.dispose()
