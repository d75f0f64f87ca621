"""The at-most-once delivery engine: every message we send is claimed, transmitted and marked here.

- Claim: one transaction runs the send-time gate and takes the message's row (keyed by its
  dedupe key) with a conditional INSERT or UPDATE that only one job wins. The gate runs right
  before the transport, so a withdrawal between enqueue and send is honoured.
- Transmit: hand the message to the transport. A permanent refusal is final; a transient one is
  retried by the job's broker, unless this is the job's final attempt.
- Mark: record the outcome on the row (sent, failed, or retry pending).

A job that finds the message claimed by another job leaves it to that one (and checks again
later: `Busy`). The one window for a duplicate: the transport accepted the message and the
process died before marking it. The broker then redelivers the same job, which takes its own
claim back and sends again; a claim older than LEASE is taken over by any job, in case that
redelivery never comes.

Two strategies share those steps: `deliver`, per message in its own transactions (the kinds
that read a few rows through the ORM), and `Batch`, a page of campaign messages on one
connection, in SQLAlchemy Core statements built once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadcapture.consent.gates import contactable
from leadcapture.db import UPSERTS
from leadcapture.delivery.transports import PermanentMailError, TransientMailError
from leadcapture.delivery.verp import return_path
from leadcapture.delivery.wire import OutgoingMessage
from leadcapture.models import CLAIMED, FAILED, RETRY_PENDING, SENT, SKIPPED, Consent, Message, Person, utcnow
from leadcapture.models.delivery import FINAL
from leadcapture.services import Services

log = logging.getLogger(__name__)

# Longer than any send takes (SMTP gives up after its 30 s timeouts, and dramatiq's time limit
# stops a job after 10 minutes): a claim this old belongs to a job that is gone.
LEASE = timedelta(minutes=10)

BUSY = "busy"  # the outcome for a job that found the message claimed by another job
NOT_DUE = "not due"  # the outcome for a job whose message is not to be sent yet (or not by this job)


class Busy(Exception):
    """Another job holds the message's claim; it sends the message, or this job checks again later."""


@dataclass(frozen=True)
class Attempt:
    """The job running a delivery, as its actor knows it."""

    job_id: str | None = None  # the broker's id of the job: its redelivery may take its own claim back
    final: bool = False  # no retry follows: a transient failure is recorded as failed


@dataclass(frozen=True)
class Outgoing:
    """A message that passed its gate, with the person and purpose it is sent under."""

    message: OutgoingMessage
    person_id: int | None
    purpose_key: str | None = None


NO_JOB = Attempt()  # a delivery run outside a job (a command, a test): no broker id, retries possible

Mark = tuple[int, str, str | None]  # (message row, status, detail) of a transmitted message


@dataclass(frozen=True)
class _Claim:
    status: str  # CLAIMED: this job sends it; SKIPPED: the gate was shut; else a final status or BUSY
    row_id: int | None = None
    outgoing: Outgoing | None = None


# Built once: constructing a statement per message costs more CPU than executing it.
_MESSAGES = Message.__table__
_FIND = select(_MESSAGES.c.id, _MESSAGES.c.status, _MESSAGES.c.claimed_by, _MESSAGES.c.claimed_at).where(
    _MESSAGES.c.dedupe_key == bindparam("dedupe_key")
)
_RECLAIM = (
    update(_MESSAGES)
    .where(
        _MESSAGES.c.id == bindparam("row_id"),
        or_(
            _MESSAGES.c.status == RETRY_PENDING,
            and_(
                _MESSAGES.c.status == CLAIMED,
                or_(_MESSAGES.c.claimed_by == bindparam("b_claimed_by"), _MESSAGES.c.claimed_at < bindparam("stale")),
            ),
        ),
    )
    .values(
        status=bindparam("b_status"),
        person_id=bindparam("b_person_id"),
        purpose_key=bindparam("b_purpose_key"),
        message_id=bindparam("b_message_id"),
        claimed_by=bindparam("b_claimed_by"),
        claimed_at=bindparam("b_claimed_at"),
    )
)
_MARK = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("row_id"))
    .values(status=bindparam("b_status"), detail=bindparam("b_detail"), sent_at=bindparam("b_sent_at"))
)
# The send-time gate (gates.contactable) as one statement, for a chunk's people and a purpose of a brand.
_GATE = (
    select(Consent.person_id)
    .join(Person, Person.id == Consent.person_id)
    .where(
        Consent.person_id.in_(bindparam("person_ids", expanding=True)),
        contactable(bindparam("purpose_key"), brand_id=bindparam("brand_id")),
    )
)
# A message's new row (or a chunk's), by database: a row whose dedupe key is taken is skipped, not returned.
_INSERT_NEW = {
    name: make(_MESSAGES)
    .on_conflict_do_nothing(index_elements=["dedupe_key"])
    .returning(_MESSAGES.c.dedupe_key, _MESSAGES.c.id)
    for name, make in UPSERTS.items()
}


def _claim(conn: Connection, dedupe_key: str, kind: str, claimant: str, gate: Callable[[], Outgoing | None]) -> _Claim:
    """Run the gate and take the message's row, in the caller's transaction.

    A message's first attempt, nearly every job, costs one INSERT that skips a dedupe key already
    taken; a retried or redelivered message finds its row (_claim_existing). The unique key makes
    the INSERT the lock: on PostgreSQL it waits for a concurrent job's uncommitted row.
    """
    outgoing = gate()
    row = {"dedupe_key": dedupe_key, "kind": kind, **_claim_fields(claimant, outgoing, utcnow())}
    inserted = conn.execute(_INSERT_NEW[conn.dialect.name], row).first()
    if inserted is not None:
        return _Claim(row["status"], inserted.id, outgoing)
    return _claim_existing(conn, dedupe_key, claimant, outgoing)


def _claim_fields(claimant: str, outgoing: Outgoing | None, now: datetime) -> dict[str, Any]:
    """What a claim writes on a message's row: claimed with its message, or skipped (the gate was shut)."""
    return {
        "status": CLAIMED if outgoing is not None else SKIPPED,
        "person_id": outgoing.person_id if outgoing is not None else None,
        "purpose_key": outgoing.purpose_key if outgoing is not None else None,
        "message_id": outgoing.message["Message-ID"] if outgoing is not None else None,
        "claimed_by": claimant,
        "claimed_at": now,
    }


def _claim_existing(conn: Connection, dedupe_key: str, claimant: str, outgoing: Outgoing | None) -> _Claim:
    """Take over a message's row that exists: its final status, BUSY while another job holds it, or a new claim."""
    row = conn.execute(_FIND, {"dedupe_key": dedupe_key}).first()
    if row is None:  # purged since the INSERT met it: the job tries again
        return _Claim(BUSY)
    if row.status in FINAL:
        return _Claim(row.status)
    now = utcnow()
    stale = now - LEASE
    if row.status == CLAIMED and row.claimed_by != claimant:
        if row.claimed_at is None or row.claimed_at >= stale:
            return _Claim(BUSY)
    claimed = _claim_fields(claimant, outgoing, now)
    values = {"row_id": row.id, "stale": stale, **{f"b_{name}": value for name, value in claimed.items()}}
    if conn.execute(_RECLAIM, values).rowcount != 1:  # another job took it since we looked
        return _Claim(BUSY)
    return _Claim(claimed["status"], row.id, outgoing)


def _transmit(
    services: Services, dedupe_key: str, row_id: int, outgoing: Outgoing, attempt: Attempt
) -> tuple[str, str | None, TransientMailError | None]:
    """Hand the message to the transport: the status and detail to mark, and the error to raise once marked."""
    outgoing.message.envelope_sender = return_path(services.settings, row_id)  # bounces name their row
    try:
        services.transport.send(outgoing.message)
    except PermanentMailError as exc:
        log.warning("message %s failed permanently: %s", dedupe_key, exc)
        return FAILED, str(exc), None
    except TransientMailError as exc:
        if attempt.final:  # the broker will not try again: say so on the row
            log.error("message %s failed, no retries left: %s", dedupe_key, exc)
            return FAILED, f"gave up after retries: {exc}", None
        log.warning("message %s not sent yet, will retry: %s", dedupe_key, exc)
        return RETRY_PENDING, f"will retry: {exc}", exc
    return SENT, None, None


def write_marks(conn: Connection, marks: list[Mark]) -> None:
    """Record the outcome of transmitted messages, in the caller's transaction."""
    if marks:
        now = utcnow()
        conn.execute(_MARK, [_mark_values(mark, now) for mark in marks])


def _mark_values(mark: Mark, now: datetime) -> dict[str, Any]:
    row_id, status, detail = mark
    return {"row_id": row_id, "b_status": status, "b_detail": detail, "b_sent_at": now if status in FINAL else None}


def _busy(what: str, attempt: Attempt) -> str:
    if attempt.final:
        log.warning("%s claimed by another job; this job's last attempt leaves it to that one", what)
        return BUSY
    raise Busy(f"{what} claimed by another job")


def deliver(
    services: Services,
    dedupe_key: str,
    kind: str,
    prepare: Callable[[Session], Outgoing | None],
    attempt: Attempt = NO_JOB,
    due: Callable[[Session], bool] | None = None,
) -> str:
    """Send one message at most once per dedupe_key; prepare runs the gate and builds it (None: gate shut).

    due, if given, runs first in the claim's transaction: False ends the job as NOT_DUE with its
    writes committed and no message row (the message is not skipped, only not yet due).
    Returns the message's status: sent, skipped, failed (or, on a final attempt, busy). Raises the
    transport's TransientMailError to have the job retried, and Busy while another job holds it.
    """
    claimant = attempt.job_id or uuid.uuid4().hex
    try:
        with services.db.session() as session:
            if due is not None and not due(session):
                return NOT_DUE
            claim = _claim(session.connection(), dedupe_key, kind, claimant, lambda: prepare(session))
    except IntegrityError:  # the person was erased by another job meanwhile (the row's foreign key)
        claim = _Claim(BUSY)
    if claim.status == BUSY:
        return _busy(f"message {dedupe_key}", attempt)
    if claim.outgoing is None or claim.row_id is None:
        return claim.status
    status, detail, retry = _transmit(services, dedupe_key, claim.row_id, claim.outgoing, attempt)
    services.db.write(_MARK, _mark_values((claim.row_id, status, detail), utcnow()))
    if retry is not None:
        raise retry
    return status


class Batch:
    """The batched strategy: a page of messages to people under one purpose, on one connection.

    Messages are claimed CHUNK at a time in one transaction, which also writes the outcomes of
    the chunk before it: two statements for the chunk (its gate, and one INSERT of its rows that
    skips those already there), not three per message. The page's last outcomes are written by
    `write_marks`. That is one commit per chunk instead of two per message. The gate of each
    message runs in its chunk's claim, so a consent withdrawn before that is honoured; one
    withdrawn while the chunk goes out (a few messages' worth of sending) is honoured from the
    next chunk on. The duplicate window widens to the chunk's outcomes not yet written when the
    process dies.
    """

    CHUNK = 10  # messages claimed per transaction: a commit per 10 messages, at most 10 in the duplicate window

    def __init__(self, services: Services, kind: str, purpose_key: str, attempt: Attempt, brand_id: int):
        self.services, self.kind, self.purpose_key, self.attempt = services, kind, purpose_key, attempt
        self.brand_id = brand_id  # the audience is a purpose of this brand
        self.claimant = attempt.job_id or uuid.uuid4().hex
        self.marks: list[Mark] = []  # outcomes of transmitted messages not yet written
        self.busy = 0

    def deliver(
        self,
        conn: Connection,
        items: list[tuple[str, Person | None, Callable[[], OutgoingMessage]]],
        before_send: Callable[[], None] = lambda: None,
    ) -> Iterator[str]:
        """Send each (dedupe_key, person, build) at most once, if the person's consent is current; yield their statuses.

        At most CHUNK items; before_send runs right before each transmission (the throttle). A
        transient failure is raised after the statuses of the messages before it were yielded.
        """
        claims = self._claim_all(conn, items)
        for index, ((dedupe_key, _person, _build), claim) in enumerate(zip(items, claims, strict=True)):
            if claim.status == BUSY:
                self.busy += 1
            if claim.outgoing is None or claim.row_id is None:
                yield claim.status
                continue
            before_send()
            status, detail, retry = _transmit(self.services, dedupe_key, claim.row_id, claim.outgoing, self.attempt)
            self.marks.append((claim.row_id, status, detail))
            if retry is not None:  # the rest of the chunk is given back: any job may take it
                given_back = [c.row_id for c in claims[index + 1 :] if c.outgoing is not None and c.row_id is not None]
                self.marks += [
                    (row_id, RETRY_PENDING, "not sent yet: an earlier message failed") for row_id in given_back
                ]
                raise retry
            yield status

    def _claim_all(
        self, conn: Connection, items: list[tuple[str, Person | None, Callable[[], OutgoingMessage]]]
    ) -> list[_Claim]:
        """Claim every item in one transaction, with the outcomes not yet written."""
        carried, self.marks = self.marks, []
        try:
            return self._claim_in_one(conn, carried, items)
        except IntegrityError:  # a row written or a person erased by another job meanwhile; all was rolled back
            pass
        except BaseException:
            self.marks[:0] = carried
            raise
        claims: list[_Claim] = []
        for item in items:  # the same, one at a time: only the contested message is left to the other job
            try:
                claims += self._claim_in_one(conn, carried, [item])
                carried = []
            except IntegrityError:
                claims.append(_Claim(BUSY))
            except BaseException:
                self.marks[:0] = carried
                raise
        self.marks[:0] = carried
        return claims

    def _claim_in_one(
        self, conn: Connection, marks: list[Mark], items: list[tuple[str, Person | None, Callable[[], OutgoingMessage]]]
    ) -> list[_Claim]:
        with conn.begin():
            write_marks(conn, marks)
            return self._claim_chunk(conn, items)

    def _claim_chunk(
        self, conn: Connection, items: list[tuple[str, Person | None, Callable[[], OutgoingMessage]]]
    ) -> list[_Claim]:
        """Claim the items with one gate query and one INSERT of their rows that skips rows already there.

        A row already there (a redelivered page, or another job's) goes through `_claim_existing`:
        one lookup each, with the message this chunk built.
        """
        params = {"purpose_key": self.purpose_key, "brand_id": self.brand_id}
        people = [person.id for _key, person, _build in items if person is not None]
        gate_open = set(conn.scalars(_GATE, {**params, "person_ids": people})) if people else set()
        outgoing_of: dict[str, Outgoing | None] = {}
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for dedupe_key, person, build in items:
            outgoing = None
            if person is not None and person.id in gate_open:
                outgoing = Outgoing(build(), person.id, self.purpose_key)
            outgoing_of[dedupe_key] = outgoing
            rows.append({"dedupe_key": dedupe_key, "kind": self.kind, **_claim_fields(self.claimant, outgoing, now)})
        # The unique dedupe key makes the INSERT the lock: a row another job inserted first (on
        # PostgreSQL, once its transaction ends) is skipped here and looked at below.
        inserted = {key: row_id for key, row_id in conn.execute(_INSERT_NEW[conn.dialect.name], rows)}
        claims: list[_Claim] = []
        for dedupe_key, _person, _build in items:
            outgoing = outgoing_of[dedupe_key]
            if dedupe_key in inserted:
                claims.append(_Claim(CLAIMED if outgoing is not None else SKIPPED, inserted[dedupe_key], outgoing))
            else:
                claims.append(_claim_existing(conn, dedupe_key, self.claimant, outgoing))
        return claims

    def write_marks(self, conn: Connection) -> None:
        """Record the outcomes not yet written, in the caller's transaction."""
        carried, self.marks = self.marks, []
        write_marks(conn, carried)

    def check_busy(self) -> None:
        """Raise Busy (unless this is the final attempt) if another job held some of the page's messages."""
        if self.busy:
            _busy(f"{self.busy} message(s) of this page", self.attempt)
