"""The ledger sealer: one process at a time (the `ledger-sealer` lease), chaining what was appended."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from leadcapture import scheduler
from leadcapture.consent import ledger
from leadcapture.consent.ledger_verify import verify
from leadcapture.models import utcnow
from tests.support.ledger import seal_and_verify
from tests.support.settings import reconfigure


def appended(services, n: int) -> None:
    with services.db.session() as session:
        for i in range(n):
            ledger.append(
                session, services.vault, event="requested", method="form", person_id=1, purpose_key=f"p{i}", payload={}
            )


def verified(services):
    """The chain as it is (sealing nothing itself)."""
    with services.db.session() as session:
        return verify(session, services.vault, ledger.Keyring(services.settings.ledger_keys))


def test_only_the_lease_holder_seals(services):
    appended(services, 3)
    now = utcnow()
    assert scheduler.seal_once(services, "one", now) == 3
    appended(services, 2)
    assert scheduler.seal_once(services, "two", now) is None  # "one" holds the lease
    assert scheduler.seal_once(services, "one", now) == 2


def test_another_process_takes_over_when_the_holder_stops_renewing(services):
    now = utcnow()
    assert scheduler.seal_once(services, "one", now) == 0
    appended(services, 1)
    assert scheduler.seal_once(services, "two", now + timedelta(seconds=5)) is None
    assert scheduler.seal_once(services, "two", now + timedelta(minutes=5)) == 1


def test_a_batch_larger_than_one_run_is_sealed_in_one_call(services, monkeypatch):
    monkeypatch.setattr(ledger, "SEAL_BATCH", 4)
    appended(services, 10)
    assert scheduler.seal_once(services, "one", utcnow()) == 10
    assert seal_and_verify(services).sealed == 10


def test_the_sealer_thread_chains_new_events_shortly_after_commit(app, services):
    reconfigure(app, ledger_seal_interval=0.05)
    stop = threading.Event()
    thread = scheduler.start_sealer(services, stop)
    try:
        appended(services, 2)
        deadline = time.monotonic() + 60  # a bound for a loaded machine, not a measurement
        while (chain := verified(services)).unsealed and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    assert (chain.sealed, chain.problems, chain.unsealed) == (2, [], 0)
    assert scheduler.acquire(services.db, scheduler.SEALER, "next", timedelta(seconds=30), utcnow())  # released
