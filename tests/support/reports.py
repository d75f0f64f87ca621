"""Bounce and complaint reports as mail systems write them (tests/support/reports/*.eml), for our messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from leadcapture.consent.people import find_person
from leadcapture.models import Bounce, LedgerEvent, Message, Suppression

REPORTS = Path(__file__).parent / "reports"


@dataclass(frozen=True)
class Sent:
    """One message we sent, as its reports name it."""

    row_id: int
    return_path: str
    message_id: str
    recipient: str


def report(name: str, sent: Sent, **values: str) -> bytes:
    """The fixture report `name` about the sent message; values fill {status}, {code} or override."""
    fields = {
        "return_path": sent.return_path,
        "message_id": sent.message_id,
        "recipient": sent.recipient,
        "status": "5.1.1",
        "code": "550",
        **values,
    }
    text = (REPORTS / f"{name}.eml").read_text()
    return re.sub(r"\{(\w+)\}", lambda m: fields[m.group(1)], text).encode()


def last_sent(services, mailbox, address: str) -> Sent:
    """The newest message to address in the outbox, with the Return-Path the delivering side saw."""
    msg = mailbox.to(address)[-1]
    return_path = str(msg["Return-Path"]).strip("<> ")
    with services.db.session() as session:
        row_id = session.scalars(select(Message.id).where(Message.message_id == str(msg["Message-ID"]))).one()
    return Sent(row_id, return_path, str(msg["Message-ID"]), address)


def suppression_of(services, address: str) -> str | None:
    """Why the address is suppressed (None: it is not)."""
    with services.db.session() as session:
        person = find_person(session, services.vault, address)
        row = session.get(Suppression, person.email_index) if person is not None else None
        return row.reason if row is not None else None


def feedback_of(services, row_id: int) -> str | None:
    with services.db.session() as session:
        return session.get(Message, row_id).feedback


def events_of(services, address: str) -> list[tuple[str, str, str | None]]:
    """The person's ledger events: (event, method, purpose)."""
    with services.db.session() as session:
        person = find_person(session, services.vault, address)
        rows = session.scalars(select(LedgerEvent).where(LedgerEvent.person_id == person.id).order_by(LedgerEvent.id))
        return [(ev.event, ev.method, ev.purpose_key) for ev in rows]


def bounce_rows(services) -> list[Bounce]:
    with services.db.session() as session:
        return list(session.scalars(select(Bounce).order_by(Bounce.id)))
