"""Transactional outbox: jobs are rows written with the change that causes them.

A relay publishes unpublished rows to the broker. If the broker is down the rows wait; the
periodic relay (in every worker process, and in the embedded server) retries. A row that can
never be published (an unknown job name, arguments that are not a JSON list) is marked failed
and passed over, so it cannot hold back the jobs behind it.

A session set up with `publish_on_commit` (a web request's) needs no relay: the jobs it enqueues
are written already marked published and are published right after its commit, so a request
is one transaction. If the broker refuses them they are marked unpublished again for the
periodic relay; if the process dies between the commit and the publish, the periodic relay
publishes them once OUTBOX_REDELIVER_AFTER has passed (late, never lost).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, event, insert, select, text, update
from sqlalchemy.orm import Session

from leadcapture.consent import jobs
from leadcapture.db import Database
from leadcapture.models import OutboxJob, utcnow

log = logging.getLogger(__name__)

Publish = Callable[[str, list[Any], int], None]


class BadJob(ValueError):
    """A job that can never be published as it is written; publishing it again will not help."""


class Relaying(Protocol):
    """What relay_now needs of the service container."""

    db: Database
    publish: Publish | None


def enqueue(session: Session, job: str, *args: Any, not_before: datetime | None = None) -> int:
    """Add a job (a name from consent.jobs) to the outbox in the caller's transaction; not_before delays it.

    Returns the row's id. In a `publish_on_commit` session the row is written already marked
    published and is published right after the commit.
    """
    if job not in jobs.NAMES:
        raise ValueError(f"unknown job {job!r}: job names are declared in leadcapture.consent.jobs")
    # A job for later waits for the periodic relay, which publishes it when it is due.
    publishing = _PUBLISHER in session.info and (not_before is None or not_before <= utcnow())
    row = {"actor": job, "args_json": json.dumps(list(args)), "not_before": not_before}
    row["published_at"] = utcnow() if publishing else None
    row_id = session.connection().execute(_ADD, row).scalar_one()
    if publishing:
        session.info.setdefault(_ENQUEUED, []).append(_Enqueued(row_id, job, row["args_json"]))
    return row_id


_ADD = insert(OutboxJob.__table__).returning(OutboxJob.__table__.c.id)


@dataclass(frozen=True)
class _Enqueued:
    id: int
    actor: str
    args_json: str


_PUBLISHER, _ENQUEUED, _DOUBT = "outbox.publisher", "outbox.enqueued", "outbox.doubt"
_COMMITTED, _PUBLISH = "outbox.committed", "outbox.publish"  # committing; committed, published at the end


def publish_on_commit(session: Session, services: Relaying) -> None:
    """Publish the jobs this session enqueues right after each of its commits, without a relay transaction."""
    if services.publish is not None:
        session.info[_PUBLISHER] = services


@event.listens_for(Session, "before_commit")
def _take_enqueued(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: its rows are committed with the transaction
        return
    rows = session.info.pop(_ENQUEUED, [])
    if rows and session.info.pop(_DOUBT, False):  # a savepoint was rolled back: keep the rows still there
        # (compared whole: SQLite may have given a rolled-back row's id to a later row)
        there = select(OutboxJob.id, OutboxJob.actor, OutboxJob.args_json).where(OutboxJob.id.in_([r.id for r in rows]))
        kept = {tuple(row) for row in session.execute(there)}
        rows = [r for r in rows if (r.id, r.actor, r.args_json) in kept]
    if rows:
        session.info[_COMMITTED] = rows


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if not session.in_nested_transaction() and _COMMITTED in session.info:
        session.info[_PUBLISH] = session.info.pop(_COMMITTED)


@event.listens_for(Session, "after_transaction_end")
def _publish_committed(session: Session, transaction: Any) -> None:
    # After the end, not at the commit: the connection is back in the pool (and SQLite's writer
    # lock free) while the broker is called, and while a paced publisher waits for room.
    if transaction.parent is None and (rows := session.info.pop(_PUBLISH, None)):
        _publish_now(session.info[_PUBLISHER], rows)


@event.listens_for(Session, "after_rollback")
def _doubt_enqueued(session: Session) -> None:
    # A rollback to a savepoint may have taken enqueued rows with it (fired right away, unlike
    # after_soft_rollback, which comes for a savepoint only when the transaction ends).
    if _ENQUEUED in session.info:
        session.info[_DOUBT] = True


@event.listens_for(Session, "after_soft_rollback")
def _forget_uncommitted(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_COMMITTED, None)
    if not previous_transaction.nested:
        session.info.pop(_ENQUEUED, None)
        session.info.pop(_DOUBT, None)


def _publish_now(services: Relaying, rows: list[_Enqueued]) -> None:
    """Publish committed rows; those the broker did not take go back to the periodic relay."""
    publish = services.publish
    assert publish is not None
    for index, row in enumerate(rows):
        try:
            publish(row.actor, json.loads(row.args_json), row.id)
        except Exception:  # noqa: BLE001  (the broker is down: the periodic relay publishes them later)
            waiting = [r.id for r in rows[index:]]
            log.warning("outbox: broker unavailable after commit; %d job(s) wait for the relay", len(waiting))
            try:
                with services.db.engine.begin() as conn:
                    conn.execute(update(OutboxJob).where(OutboxJob.id.in_(waiting)).values(published_at=None))
            except Exception:  # noqa: BLE001  (the database is away too: republished after OUTBOX_REDELIVER_AFTER)
                log.warning("outbox: could not mark %d job(s) unpublished", len(waiting), exc_info=True)
            return


def relay(
    session_factory: Callable[[], Session],
    publish: Publish,
    *,
    batch: int = 500,
    min_age: float = 0.0,
    redeliver_after: float | None = None,
) -> int:
    """Publish waiting jobs; return how many were published. Safe to run in many processes.

    With redeliver_after, jobs published that long ago and still not done are published again:
    a broker that lost them (restarted without persistence, failed over) cannot lose mail.
    A broker error ends the run (the rest wait for the next one); a bad row is marked failed.
    """
    published = 0
    while True:
        with session_factory() as session, session.begin():
            now = utcnow()
            waiting = OutboxJob.published_at.is_(None) & (OutboxJob.created_at <= now - timedelta(seconds=min_age))
            waiting = waiting & (OutboxJob.not_before.is_(None) | (OutboxJob.not_before <= now))
            if redeliver_after is not None:
                lost = OutboxJob.done_at.is_(None) & (OutboxJob.published_at < now - timedelta(seconds=redeliver_after))
                waiting = waiting | lost
            stmt = select(OutboxJob).where(waiting, OutboxJob.failed_at.is_(None)).order_by(OutboxJob.id).limit(batch)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
                _no_fsync(session)
            rows = session.scalars(stmt).all()
            if not rows:
                return published
            done, bad, error = [], 0, None
            for row in rows:
                try:
                    publish(row.actor, _arguments(row), row.id)
                except BadJob as exc:
                    # Never published, whatever a redelivery stamped: so it is kept for FAILED_KEPT.
                    row.failed_at, row.published_at, row.error = utcnow(), None, str(exc)
                    bad += 1
                    log.error("outbox job %s cannot be published and is marked failed: %s", row.id, exc)
                    continue
                except Exception as exc:  # noqa: BLE001  (the broker is down: keep the rest for the next run)
                    error = exc
                    break
                done.append(row.id)
            if done:
                session.execute(update(OutboxJob).where(OutboxJob.id.in_(done)).values(published_at=utcnow()))
        published += len(done)
        if error is not None:
            waits = len(rows) - len(done) - bad
            log.warning("outbox relay: broker unavailable (%s); %d job(s) wait", error, waits)
            return published
        if len(rows) < batch:
            return published


def _arguments(row: OutboxJob) -> list[Any]:
    """The row's job arguments, or BadJob saying why it has none the actor could take."""
    if row.actor not in jobs.NAMES:
        raise BadJob(f"unknown job name {row.actor!r}")
    try:
        args = json.loads(row.args_json)
    except (TypeError, ValueError) as exc:
        raise BadJob(f"arguments are not JSON: {exc}") from exc
    if not isinstance(args, list):
        raise BadJob(f"arguments are not a JSON list: {row.args_json[:100]!r}")
    return args


def relay_now(services: Relaying) -> int:
    """Publish the jobs just committed; on any failure they wait for the periodic relay (logged, not raised)."""
    if services.publish is None:
        return 0
    try:
        return relay(services.db.sessionmaker, services.publish)
    except Exception:  # noqa: BLE001  (the change is committed; the periodic relay publishes it later)
        log.warning("outbox relay after commit failed; the periodic relay will publish later", exc_info=True)
        return 0


def _no_fsync(session: Session) -> None:
    # Marks (published, done) may be lost in a PostgreSQL crash without harm: the job is then
    # published once more and the send is idempotent. Not waiting for the WAL flush saves a
    # disk sync per submission and per message.
    session.execute(text("SET LOCAL synchronous_commit = off"))


def mark_done(db: Database, job_id: int) -> None:
    """Record that a worker finished the job (sent, skipped, failed for good: anything but 'retry').

    The worker does not wait for it: it goes in the next commit of bookkeeping (the next message's
    mark, usually), or on its own a quarter of a second later. Lost in a crash, it costs one more
    publish of a job whose send is idempotent.
    """
    db.write(_DONE, {"job_id": job_id, "b_done_at": utcnow()}, wait=False)


_DONE = (
    update(OutboxJob)
    .where(OutboxJob.id == bindparam("job_id"), OutboxJob.done_at.is_(None))
    .values(done_at=bindparam("b_done_at"))
)


def purge_published(session: Session, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete published jobs older than the given age."""
    result = session.execute(OutboxJob.__table__.delete().where(OutboxJob.published_at < utcnow() - older_than))
    return result.rowcount


# Long enough for an operator to notice a failed job (the relay logs it) and read why in `error`.
FAILED_KEPT = timedelta(days=30)


def purge_failed(session: Session, now: datetime, older_than: timedelta = FAILED_KEPT) -> int:
    """Delete jobs that failed (could never be published) longer ago than the given age."""
    # A failed row is never published: the condition on published_at lets its index find them.
    stmt = OutboxJob.__table__.delete().where(OutboxJob.published_at.is_(None), OutboxJob.failed_at < now - older_than)
    return session.execute(stmt).rowcount
