"""Transactional outbox: jobs are rows written with the change that causes them.

A relay publishes unpublished rows to the dramatiq broker. If the broker is down the rows
wait; the periodic relay (in every worker process, and in the embedded server) retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from leadcapture.models import OutboxJob, utcnow

log = logging.getLogger(__name__)


def enqueue(session: Session, actor: str, *args: Any) -> OutboxJob:
    """Add a job to the outbox in the caller's transaction."""
    job = OutboxJob(actor=actor, args_json=json.dumps(list(args)))
    session.add(job)
    return job


def relay(
    session_factory: Callable[[], Session],
    publish: Callable[[str, list[Any], int], None],
    *,
    batch: int = 500,
    min_age: float = 0.0,
    redeliver_after: float | None = None,
) -> int:
    """Publish waiting jobs; return how many were published. Safe to run in many processes.

    With redeliver_after, jobs published that long ago and still not done are published again:
    a broker that lost them (restarted without persistence, failed over) cannot lose mail.
    """
    published = 0
    while True:
        with session_factory() as session, session.begin():
            now = utcnow()
            waiting = OutboxJob.published_at.is_(None) & (OutboxJob.created_at <= now - timedelta(seconds=min_age))
            if redeliver_after is not None:
                lost = OutboxJob.done_at.is_(None) & (OutboxJob.published_at < now - timedelta(seconds=redeliver_after))
                waiting = waiting | lost
            stmt = select(OutboxJob).where(waiting).order_by(OutboxJob.id).limit(batch)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
                _no_fsync(session)
            jobs = session.scalars(stmt).all()
            if not jobs:
                return published
            done, error = [], None
            for job in jobs:
                try:
                    publish(job.actor, json.loads(job.args_json), job.id)
                except Exception as exc:  # broker down: keep the rest for the next run
                    error = exc
                    break
                done.append(job.id)
            if done:
                session.execute(update(OutboxJob).where(OutboxJob.id.in_(done)).values(published_at=utcnow()))
        published += len(done)
        if error is not None:
            log.warning("outbox relay: broker unavailable (%s); %d job(s) wait", error, len(jobs) - len(done))
            return published
        if len(jobs) < batch:
            return published


def _no_fsync(session: Session) -> None:
    # Marks (published, done) may be lost in a PostgreSQL crash without harm: the job is then
    # published once more and the send is idempotent. Not waiting for the WAL flush saves a
    # disk sync per submission and per message.
    session.execute(text("SET LOCAL synchronous_commit = off"))


def mark_done(session: Session, job_id: int) -> None:
    """Record that a worker finished the job (sent, skipped, failed for good: anything but 'retry')."""
    if session.get_bind().dialect.name == "postgresql":
        _no_fsync(session)
    session.execute(
        update(OutboxJob).where(OutboxJob.id == job_id, OutboxJob.done_at.is_(None)).values(done_at=utcnow())
    )


def purge_published(session: Session, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete published jobs older than the given age."""
    result = session.execute(OutboxJob.__table__.delete().where(OutboxJob.published_at < utcnow() - older_than))
    return result.rowcount
