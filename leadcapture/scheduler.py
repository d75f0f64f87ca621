"""Periodic jobs: retention purge, consent expiry, re-permission mail, webhook retries, outbox and window clean-up.

They run in exactly one place at a time: whoever holds the `scheduler` lease (a row in the
`locks` table, taken with one conditional UPDATE, which works the same on SQLite and
PostgreSQL). The embedded `leadcapture serve` runs the loop in a thread; in production run
`leadcapture scheduler` on one or more machines: only the lease holder works, another takes
over when a holder dies and its lease runs out. Every job is idempotent, so a run repeated
after a crash changes nothing twice. `now` is always passed in, never read inside a job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from leadcapture.backoffice import funnel
from leadcapture.consent import ledger, lifecycle, outbox, tokens, window
from leadcapture.db import Database
from leadcapture.delivery import campaign_admin
from leadcapture.integrations import inbound, webhooks
from leadcapture.models import Lock, utcnow
from leadcapture.privacy import retention
from leadcapture.privacy.keyrotation import check_index_key
from leadcapture.services import Services

log = logging.getLogger(__name__)

LEASE = "scheduler"
SEALER = "ledger-sealer"


def holder_id() -> str:
    """A name for this process that is unique across machines."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(db: Database, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take or extend the named lease; False while another holder's lease is still valid."""
    try:
        with db.session() as session:
            result = session.execute(
                update(Lock)
                .where(Lock.name == name, or_(Lock.holder == holder, Lock.expires_at < now))
                .values(holder=holder, expires_at=now + ttl)
            )
            if result.rowcount == 1:
                return True
            if session.get(Lock, name) is not None:
                return False
            session.add(Lock(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:  # another process created the row at the same moment
        return False


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up (at shutdown) so another process can take over at once."""
    with db.session() as session:
        session.execute(Lock.__table__.delete().where(Lock.name == name, Lock.holder == holder))


def run_jobs(services: Services, now: datetime) -> dict[str, Any]:
    """One run of every periodic job, each in its own transaction; returns what each did."""
    report: dict[str, Any] = {}
    with services.db.session() as session:
        check_index_key(session, services.vault)
    with services.db.session() as session:
        purged = retention.purge_unconfirmed(session, services.vault, now, services.settings.unconfirmed_retention_days)
        report["purged"] = purged.__dict__
    with services.db.session() as session:
        report["expired"] = lifecycle.expire_lapsed(session, services.vault, now)
    with services.db.session() as session:
        report["repermission_queued"] = lifecycle.schedule_repermissions(session, now)
    with services.db.session() as session:
        report["webhooks_retried"] = webhooks.retry_due(session, now)
    with services.db.session() as session:
        report["outbox_purged"] = outbox.purge_published(session)
    with services.db.session() as session:
        report["form_tokens_purged"] = tokens.purge_spent_form_tokens(session, now)
    with services.db.session() as session:
        report["outbox_failed_purged"] = outbox.purge_failed(session, now)
    with services.db.session() as session:
        report["mailbox_windows_pruned"] = window.prune(session, services.settings, now)
    with services.db.session() as session:
        report["campaigns_started"] = campaign_admin.start_due(session, now)
    with services.db.session() as session:
        report["funnel_days_rolled_up"] = funnel.roll_up(session, now.date())
    if services.settings.bounce_imap_url and services.settings.bounce_poll:
        try:
            report["bounces"] = dict(inbound.poll(services))
        except inbound.BounceMailError as exc:  # the other jobs ran; the mailbox is read next time
            log.warning("bounce mailbox not read: %s", exc)
    return report


def run_once(services: Services, holder: str, now: datetime, relay: bool = False) -> dict[str, Any] | None:
    """Run the jobs if this process holds the lease; None when another process does.

    With relay, the jobs they queued are published at once (where a worker takes them), rather
    than at the next run of a periodic relay.
    """
    ttl = timedelta(seconds=max(2 * services.settings.scheduler_interval, 300))
    if not acquire(services.db, LEASE, holder, ttl, now):
        return None
    report = run_jobs(services, now)
    if relay:
        outbox.relay_now(services)
    if any(report["purged"].values()) or any(v for k, v in report.items() if k != "purged"):
        log.info("scheduler run: %s", report)  # counts only, never personal data
    return report


def loop(
    services: Services,
    stop: threading.Event,
    *,
    relay: bool = False,
    clock: Callable[[], datetime] = utcnow,
    first_delay: float = 5.0,
) -> None:
    """Run the jobs every SCHEDULER_INTERVAL seconds until stop is set; errors are logged, not fatal."""
    holder = holder_id()
    delay = first_delay
    try:
        while not stop.wait(delay):
            delay = services.settings.scheduler_interval
            try:
                run_once(services, holder, clock(), relay)
            except Exception:  # noqa: BLE001  (the database may come back; try again next time)
                log.exception("scheduler run failed; retrying in %ss", delay)
    finally:
        try:
            release(services.db, LEASE, holder)
        except Exception:  # noqa: BLE001
            log.warning("could not release the scheduler lease; it expires by itself")


def seal_once(services: Services, holder: str, now: datetime) -> int | None:
    """Chain every committed ledger event if this process holds the sealer lease; None when another does."""
    ttl = timedelta(seconds=max(10 * services.settings.ledger_seal_interval, 30))
    if not acquire(services.db, SEALER, holder, ttl, now):
        return None
    keyring = ledger.Keyring(services.settings.ledger_keys)
    total = 0
    while True:
        with services.db.session() as session:
            sealed = ledger.seal(session, keyring)
        total += sealed
        if sealed < ledger.SEAL_BATCH:
            return total


def start_sealer(services: Services, stop: threading.Event, clock: Callable[[], datetime] = utcnow) -> threading.Thread:
    """Seal the ledger every LEDGER_SEAL_INTERVAL seconds in a daemon thread (where the sealer lease is)."""

    def run() -> None:
        holder = holder_id()
        interval = services.settings.ledger_seal_interval
        try:
            while not stop.wait(interval):
                try:
                    seal_once(services, holder, clock())
                except Exception:  # noqa: BLE001  (the database may come back; try again next time)
                    log.exception("ledger sealing failed; retrying in %ss", interval)
        finally:
            try:
                release(services.db, SEALER, holder)
            except Exception:  # noqa: BLE001
                log.warning("could not release the ledger sealer lease; it expires by itself")

    thread = threading.Thread(target=run, name="ledger-sealer", daemon=True)
    thread.start()
    return thread


def start_thread(services: Services, stop: threading.Event, relay: bool = False) -> threading.Thread:
    """The embedded scheduler: a daemon thread in `leadcapture serve`."""
    thread = threading.Thread(target=loop, args=(services, stop), kwargs={"relay": relay}, name="scheduler")
    thread.daemon = True
    thread.start()
    return thread
