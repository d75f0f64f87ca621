"""People and where their actions come from: lookup by blind index, mailboxes, suppression, the visitor trace."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from leadcapture.consent import events
from leadcapture.crypto import Vault, normalise_email
from leadcapture.db import UPSERTS
from leadcapture.models import Person, Suppression
from leadcapture.settings import Settings


@dataclass
class Visitor:
    """Where an action came from, as recorded in the ledger (minimised before storing)."""

    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None

    def __post_init__(self) -> None:
        self.page_url = page_without_query(self.page_url)


def page_without_query(url: str | None) -> str | None:
    """The page a form was filled in on, without query, fragment or user info: those carry personal data."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: keep what comes before any query or fragment
        return url.split("?", 1)[0].split("#", 1)[0] or None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", "")) or None


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


class AddressError(ValueError):
    """An address we refuse: not an address at all, or one written with look-alike characters."""

    def __init__(self, reason: str, suggestion: str | None = None):
        super().__init__(reason)
        self.suggestion = suggestion


def valid_address(text: str) -> str:
    """The address in the one form every way in accepts (email-validator's normal form), else AddressError.

    email-validator maps the domain through IDNA (UTS 46: a full-width "ｅxample.com" is example.com)
    but keeps the local part as typed (NFC). A local part that NFKC changes ("ｊan", "ﬁnance") looks
    like another person's address, and some mail systems deliver it there, so it is refused with
    the plain spelling as a suggestion rather than silently becoming a second person.
    """
    try:
        address = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise AddressError(f"is not a valid address: {exc}") from exc
    if (plain := unicodedata.normalize("NFKC", address)) != address:
        raise AddressError(f"has look-alike characters (did you mean {plain}?)", suggestion=plain)
    return address


def find_person(session: Session, vault: Vault, email: str) -> Person | None:
    """The person with this address, looked up by blind index."""
    index = vault.blind_index(normalise_email(email))
    return session.scalar(select(Person).where(Person.email_index == index))


def mailbox_of(address: str) -> str:
    """The inbox an address delivers to, for counting mail: `Name+anything@Domain` is `name@domain`."""
    folded = unicodedata.normalize("NFKC", address.strip()).casefold()
    local, at, domain = folded.rpartition("@")
    if not at:
        return folded
    return f"{local.split('+', 1)[0] or local}@{domain}"


def mailbox_index(vault: Vault, address: str) -> str:
    """Blind index of the address's mailbox (its own namespace, so it never equals a person's index)."""
    return vault.blind_index("mailbox:" + mailbox_of(address))


def is_suppressed(session: Session, person: Person) -> bool:
    """Whether the person's address is on the suppression list."""
    return session.scalar(_SUPPRESSED, {"index": person.email_index}) is not None


_SUPPRESSED = select(Suppression.email_index).where(Suppression.email_index == bindparam("index"))


# Why an address gets no mail: erased (R6.2), "this wasn't me" (lifted when the person confirms
# a request themselves), a hard bounce or too many soft ones, a complaint ("this is spam").
SUPPRESSION_REASONS = ("erased", "not_me", "bounced", "complaint")


def suppress(session: Session, email_index: str, reason: str) -> bool:
    """The one way an address goes on the suppression list; True if it was not on it before.

    An address already suppressed keeps its reason (and date), except that an erasure replaces
    any other reason: erased is the one reason no confirmation lifts. A new suppression is a
    `suppression.added` event for the webhook endpoints that want it.
    """
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    row = session.get(Suppression, email_index)
    if row is None:
        session.add(Suppression(email_index=email_index, reason=reason))
        session.flush()
        if events.listening(session):
            public_id = session.scalar(select(Person.public_id).where(Person.email_index == email_index))
            events.emit(session, events.SUPPRESSION_ADDED, person_public_id=public_id, reason=reason)
        return True
    if reason == "erased":
        row.reason = reason
    return False


@dataclass(frozen=True)
class Addressee:
    """A person found or added by address, and whether that address may be mailed at all."""

    id: int
    email_index: str
    suppressed: bool


def find_or_add(session: Session, vault: Vault, email: str, language: str) -> Addressee:
    """The person with this address, added if there is none yet: one statement (on SQLite two for a new address).

    The insert does nothing when a concurrent submission added the same address a moment ago (it
    waits for that transaction); the lookup after it then finds that person.
    """
    address = email.strip()
    index = vault.blind_index(normalise_email(address))
    conn = session.connection()
    if conn.dialect.name == "postgresql":  # the insert and both lookups in one round trip
        values = {"index": index, "email_enc": vault.encrypt(address), "language": language}
        added, person_id, reason = conn.execute(_FIND_OR_ADD, values).one()
        person_id = added or person_id
    else:  # SQLite has no INSERT inside WITH
        person_id, reason = conn.execute(_LOOKUP, {"index": index}).one()
        if person_id is None:
            values = {"email_index": index, "email_enc": vault.encrypt(address), "language": language}
            person_id = conn.execute(_ADD, values).scalar()
    if person_id is None:  # added by a concurrent submission after this statement's snapshot
        person_id = conn.execute(_FIND_ID, {"index": index}).scalar_one()
    return Addressee(person_id, index, reason is not None)


_PEOPLE, _SUPPRESSIONS = Person.__table__, Suppression.__table__
_FIND_ID = select(_PEOPLE.c.id).where(_PEOPLE.c.email_index == bindparam("index"))
_REASON = select(_SUPPRESSIONS.c.reason).where(_SUPPRESSIONS.c.email_index == bindparam("index"))
_LOOKUP = select(_FIND_ID.scalar_subquery(), _REASON.scalar_subquery())
_ADD = UPSERTS["sqlite"](_PEOPLE).on_conflict_do_nothing().returning(_PEOPLE.c.id)
# The row this statement adds is not in its own snapshot: the new id comes from the insert, an
# existing one from the lookup.
_ADDED = (
    UPSERTS["postgresql"](_PEOPLE)
    .values(email_index=bindparam("index"), email_enc=bindparam("email_enc"), language=bindparam("language"))
    .on_conflict_do_nothing()
    .returning(_PEOPLE.c.id)
    .cte("added")
)
_FIND_OR_ADD = select(select(_ADDED.c.id).scalar_subquery(), _FIND_ID.scalar_subquery(), _REASON.scalar_subquery())


def lift_not_me(session: Session, person: Person) -> None:
    """The person acted from their own mailbox: a 'this wasn't me' block on the address no longer holds."""
    session.execute(
        Suppression.__table__.delete().where(
            Suppression.email_index == person.email_index, Suppression.reason == "not_me"
        )
    )


def get_or_create_person(session: Session, vault: Vault, email: str, language: str) -> Person:
    """The person with this address, created if there is none yet."""
    return session.get_one(Person, find_or_add(session, vault, email, language).id)


def trace(visitor: Visitor, settings: Settings) -> dict[str, Any]:
    """Where an action came from, minimised as configured: what the ledger stores of the visitor."""
    return {
        "ip": minimise_ip(visitor.ip, settings.ip_minimisation),
        "user_agent": visitor.user_agent,
        "page_url": visitor.page_url,
    }


SEARCHABLE_FIELDS = ("name", "company")


def search_terms(vault: Vault, text: str) -> set[str]:
    """Blind indexes of the words of a name or company: case, accents and punctuation folded away."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return {vault.blind_index("term:" + word) for word in re.findall(r"\w+", plain) if len(word) >= 2}


def detail_terms(vault: Vault, fields: dict[str, str]) -> list[str]:
    """What makes a submission findable: the blind indexes of the words of its name and company."""
    found: set[str] = set()
    for name in SEARCHABLE_FIELDS:
        found |= search_terms(vault, fields.get(name) or "")
    return sorted(found)
