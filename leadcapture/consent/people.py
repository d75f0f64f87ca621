"""People and where their actions come from: lookup by blind index, suppression, the visitor trace."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadcapture.crypto import Vault, normalise_email
from leadcapture.models import Person, Suppression
from leadcapture.settings import Settings


@dataclass
class Visitor:
    """Where an action came from, as recorded in the ledger (minimised before storing)."""

    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None


def minimise_ip(ip: str | None, mode: str) -> str | None:
    """Apply the configured IP minimisation: full, truncate (/24, /48) or none."""
    if not ip or mode == "none":
        return None
    if mode == "full":
        return ip
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def find_person(session: Session, vault: Vault, email: str) -> Person | None:
    """The person with this address, looked up by blind index."""
    index = vault.blind_index(normalise_email(email))
    return session.scalar(select(Person).where(Person.email_index == index))


def is_suppressed(session: Session, person: Person) -> bool:
    """Whether the person's address is on the suppression list."""
    return session.get(Suppression, person.email_index) is not None


def get_or_create_person(session: Session, vault: Vault, email: str, language: str) -> Person:
    """The person with this address, created (in a savepoint) if there is none yet."""
    address = email.strip()
    index = vault.blind_index(normalise_email(address))
    person = session.scalar(select(Person).where(Person.email_index == index))
    if person is not None:
        return person
    try:
        with session.begin_nested():
            person = Person(email_index=index, email_enc=vault.encrypt(address), language=language)
            session.add(person)
    except IntegrityError:  # a concurrent submission created the same address a moment ago
        person = session.scalar(select(Person).where(Person.email_index == index))
    return person


def trace(visitor: Visitor, settings: Settings) -> dict[str, Any]:
    """Where an action came from, minimised as configured: what the ledger stores of the visitor."""
    return {
        "ip": minimise_ip(visitor.ip, settings.ip_minimisation),
        "user_agent": visitor.user_agent,
        "page_url": visitor.page_url,
    }
