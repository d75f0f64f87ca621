"""The consent ledger on a real PostgreSQL: the first burst of submissions, late commits, two sealers, the migration."""

from __future__ import annotations

import json
import threading

import sqlalchemy as sa
from sqlalchemy import func, select

from leadcapture import create_app
from leadcapture.consent import ledger
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.db import Database
from leadcapture.migrations import upgrade
from leadcapture.models import LedgerEvent, Submission
from tests.support.app import DEMO_FORM, make_config, submit
from tests.support.ledger import legacy_chain, seal_and_verify
from tests.support.pg import create_database, drop_database, sqlalchemy_url

from .services import PG_SERVER, leadcapture, wait_until

BURST = 40


def services_on(tmp_path, url):
    app = create_app(make_config(tmp_path, DATABASE_URL=url))
    return app, app.extensions["leadcapture"]


def append(session, services, key="newsletter"):
    ledger.append(session, services.vault, event="requested", method="form", person_id=1, purpose_key=key, payload={})


def test_a_burst_of_first_submissions_on_a_fresh_database_is_all_accepted(tmp_path, pg_url):
    # Given a freshly migrated database with only the demo form
    app, services = services_on(tmp_path, pg_url)
    with services.db.session() as session:
        save(session, *load_toml(DEMO_FORM))
    clients = [app.test_client() for _ in range(BURST)]
    for client in clients:
        client.get("/f/sales-machine")  # each visitor has the form open
    statuses: list[int] = []
    start = threading.Barrier(BURST)

    def visitor(n: int) -> None:
        start.wait()
        statuses.append(submit(clients[n], f"first{n}@example.com", ["newsletter", "call"]).status_code)

    # When they all submit at the same moment
    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # Then every one is accepted and stored, and the ledger verifies once sealed
    assert statuses == [200] * BURST
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == BURST
    chain = seal_and_verify(services)
    assert (chain.sealed, chain.problems, chain.unsealed) == (2 * BURST, [], 0)
    services.db.dispose()


def test_an_event_that_commits_after_a_higher_id_was_sealed_is_chained_not_lost(tmp_path, pg_url):
    _, services = services_on(tmp_path, pg_url)
    keyring = ledger.Keyring(services.settings.ledger_keys)
    # Given a transaction that took an id and has not committed yet
    slow = services.db.sessionmaker()
    slow.begin()
    append(slow, services, "slow")
    slow.flush()
    # When a later one commits and the sealer runs in between
    with services.db.session() as session:
        append(session, services, "fast")
    with services.db.session() as session:
        assert ledger.seal(session, keyring) == 1
    slow.commit()
    slow.close()
    with services.db.session() as session:
        assert ledger.seal(session, keyring) == 1
        order = session.scalars(select(LedgerEvent.purpose_key).order_by(LedgerEvent.seq)).all()
    # Then the slow one is chained after it, and the chain verifies
    assert order == ["fast", "slow"]
    chain = seal_and_verify(services)
    assert (chain.sealed, chain.problems) == (2, [])
    services.db.dispose()


def test_two_sealers_at_once_never_fork_the_chain(tmp_path, pg_url):
    _, services = services_on(tmp_path, pg_url)
    keyring = ledger.Keyring(services.settings.ledger_keys)
    with services.db.session() as session:
        for n in range(300):
            append(session, services, f"p{n}")
    errors: list[BaseException] = []

    def sealer() -> None:
        try:
            while True:
                with services.db.session() as session:
                    if ledger.seal(session, keyring, limit=25) == 0:
                        return
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)

    threads = [threading.Thread(target=sealer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    chain = seal_and_verify(services)
    assert (chain.sealed, chain.problems, chain.unsealed) == (300, [], 0)
    services.db.dispose()


def test_the_migration_keeps_an_unkeyed_chain_verifiable_on_postgresql(tmp_path, pg_templates):
    name = create_database(PG_SERVER, "lc_ledger_mig")
    try:
        url = sqlalchemy_url(PG_SERVER, name)
        db = Database(url)
        upgrade(db, "0009")
        hashes = legacy_chain(db, 3)
        upgrade(db)
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, seq, hash_version, hash FROM ledger_events ORDER BY id")).all()
        db.dispose()
        assert [tuple(r) for r in rows] == [(n, n, ledger.UNKEYED, hashes[n - 1]) for n in (1, 2, 3)]
        _, services = services_on(tmp_path, url)
        with services.db.session() as session:
            append(session, services)
        chain = seal_and_verify(services)
        assert (chain.sealed, chain.problems) == (4, [])
        with services.db.engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT id FROM ledger_events WHERE seq = 4")) == 4
        services.db.dispose()
    finally:
        drop_database(PG_SERVER, name)


def test_the_worker_processes_seal_what_the_web_processes_record(pg_url, sink, make_stack, private_redis, tmp_path):
    # Given a production deployment: gunicorn and two worker processes, each able to seal
    stack = make_stack(pg_url, private_redis.url, sink.url, LEADCAPTURE_LEDGER_SEAL_INTERVAL="0.2")
    web = stack.web(workers=2, threads=2)
    stack.worker(processes=2, threads=2)
    # When visitors submit
    for n in range(10):
        assert web.submit(f"sealed{n}@example.com", web.csrf(), purposes=("newsletter",))[0] == 200

    # Then the events are chained shortly after, without anyone running a command
    def verified() -> str:
        result = leadcapture(stack.env, "ledger", "verify")
        assert result.returncode == 0, result.stderr
        return result.stdout

    wait_until(lambda: "not sealed yet" not in verified(), 60, what=lambda: verified())
    assert "ledger OK: 10 events, chain intact" in verified()
    # and an anchor taken now is held by the chain
    anchor = tmp_path / "anchor.json"
    anchor.write_text(leadcapture(stack.env, "ledger", "anchor").stdout)
    assert json.loads(anchor.read_text())["seq"] == 10
    held = leadcapture(stack.env, "ledger", "verify", "--anchor", str(anchor))
    assert held.returncode == 0 and "1 anchor(s) still in the chain" in held.stdout
