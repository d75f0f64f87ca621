"""The bulk send path: sending.deliver's contract in SQLAlchemy Core statements, for campaigns.

A campaign sends hundreds of messages per second; an ORM session per message (select, gate,
insert, commit, then a second transaction for 'sent') costs more than composing and sending
the message. This does the same work on one connection per page with one transaction each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.message import EmailMessage

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from leadcapture.consent.gates import contactable
from leadcapture.delivery.mail import PermanentMailError
from leadcapture.delivery.sending import FAILED, SENDING, SENT, SKIPPED
from leadcapture.models import Consent, Message, Person, utcnow
from leadcapture.services import Services

log = logging.getLogger(__name__)

Marks = list[tuple[int, str, str | None]]  # (message row, status, detail) not yet written

_MESSAGES = Message.__table__
# The send-time gate (gates.contactable) as one statement built once, for one person at a time.
_GATE = (
    select(Consent.id)
    .join(Person, Person.id == Consent.person_id)
    .where(Consent.person_id == bindparam("person_id"), contactable(bindparam("purpose_key")))
)
# Built once: constructing a statement per message costs more CPU than executing it.
_FIND = select(_MESSAGES.c.id, _MESSAGES.c.status).where(_MESSAGES.c.dedupe_key == bindparam("dedupe_key"))
_INSERT = insert(_MESSAGES)
_CLAIM_AGAIN = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("row_id"))
    .values(
        status=bindparam("b_status"),
        person_id=bindparam("b_person_id"),
        purpose_key=bindparam("b_purpose_key"),
        message_id=bindparam("b_message_id"),
    )
)
_MARK = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("row_id"))
    .values(status=bindparam("b_status"), detail=bindparam("b_detail"), sent_at=bindparam("b_sent_at"))
)


def deliver(
    services: Services,
    conn: Connection,
    dedupe_key: str,
    person: Person | None,
    key: str,
    build: Callable[[], EmailMessage],
    marks: Marks,
) -> str:
    """sending.deliver's contract on the bulk path, in SQLAlchemy Core statements rather than ORM sessions.

    Same Message row, same dedupe key and states, same single window for a duplicate (the relay
    accepted the message and the process died before marking it sent); the gate runs in the
    transaction that records 'sending', right before the transport. The 'sent' mark of the
    previous message rides along in that transaction (or the page's last one), which saves a
    commit per message and widens the duplicate window by only the time to build one message.
    """
    carried = list(marks)
    marks.clear()
    try:
        with conn.begin():
            write_marks(conn, carried)
            row = conn.execute(_FIND, {"dedupe_key": dedupe_key}).first()
            if row is not None and row.status != SENDING:
                return row.status
            allowed = person is not None and (
                conn.execute(_GATE, {"person_id": person.id, "purpose_key": key}).first() is not None
            )
            msg = build() if allowed else None
            values = {
                "status": SENDING if msg is not None else SKIPPED,
                "person_id": person.id if msg is not None else None,
                "purpose_key": key if msg is not None else None,
                "message_id": msg["Message-ID"] if msg is not None else None,
            }
            if row is None:
                inserted = conn.execute(_INSERT, {"dedupe_key": dedupe_key, "kind": "campaign", **values})
                row_id = inserted.inserted_primary_key[0]
            else:
                row_id = row.id
                conn.execute(_CLAIM_AGAIN, {"row_id": row_id, **{f"b_{k}": v for k, v in values.items()}})
    except IntegrityError:  # a duplicate job is handling the same message right now
        marks[:0] = carried  # rolled back with the claim: they go with the next one
        return "duplicate"
    except BaseException:
        marks[:0] = carried
        raise
    if msg is None:
        return SKIPPED
    try:
        services.transport.send(msg)
    except PermanentMailError as exc:
        marks.append((row_id, FAILED, str(exc)))
        log.warning("message %s failed permanently: %s", dedupe_key, exc)
        return FAILED
    marks.append((row_id, SENT, None))
    return SENT


def write_marks(conn: Connection, marks: Marks) -> None:
    """Record the outcome of messages handed to the transport."""
    now = utcnow()
    for row_id, status, detail in marks:
        conn.execute(_MARK, {"row_id": row_id, "b_status": status, "b_detail": detail, "b_sent_at": now})
