"""Where bounces and complaints come in by mail: an SMTP listener for the bounce domain, or an IMAP mailbox.

The listener (`leadcapture bounces serve`, the MX of the bounce domain) accepts a recipient
only if it is one of our signed VERP addresses, and a message only up to BOUNCE_MAX_SIZE. It
answers 451 (try again later) when the database cannot take the report, so nothing accepted
is lost. The poller (`leadcapture bounces poll`, and the scheduler when BOUNCE_IMAP_URL is set)
reads the unseen messages of a mailbox, records them, and deletes each one it recorded;
messages that are not bounces or complaints are marked seen and left for a person to read.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import ssl
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import SQLAlchemyError

from leadcapture.delivery import verp
from leadcapture.integrations import bounces, reports
from leadcapture.services import Services

log = logging.getLogger(__name__)


class BounceMailError(Exception):
    """The bounce mailbox cannot be read (connection, login, folder); the message says why."""


class ListenerHandler:
    """aiosmtpd handler: VERP recipients only; each message parsed and recorded."""

    def __init__(self, services: Services):
        self.services = services
        self.outcomes: Counter[str] = Counter()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list) -> str:
        """Accept only the signed VERP addresses of our bounce domain."""
        if verp.row_of_address(self.services.settings, address) is None:
            return "550 5.1.1 Not a bounce address of this domain"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Record the bounces and complaints of one message; 451 if the database cannot take them now."""
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        try:
            found = reports.parse(data, "smtp", envelope.rcpt_tos)
        except Exception:  # noqa: BLE001  (a report we cannot read must not stop the listener)
            log.warning("unreadable report of %d bytes accepted and dropped", len(data), exc_info=True)
            self.outcomes["unreadable"] += 1
            return "250 OK"
        try:
            outcomes = await asyncio.get_running_loop().run_in_executor(None, bounces.process, self.services, found)
        except SQLAlchemyError:
            log.warning("database unavailable; the sender will retry the report", exc_info=True)
            return "451 4.3.0 Temporary failure, try again later"
        self.outcomes.update(outcomes or {"not a bounce": 1})
        return "250 OK"


def listener(services: Services, host: str, port: int) -> Controller:
    """The SMTP listener for the bounce domain (not started: call start() and stop())."""
    return Controller(
        ListenerHandler(services),
        hostname=host,
        port=port,
        data_size_limit=services.settings.bounce_max_size,
        ident="leadcapture bounces",
    )


def poll(services: Services, url: str | None = None) -> Counter[str]:
    """Read the bounce mailbox once: record each unseen report, delete the recorded ones."""
    url = url or services.settings.bounce_imap_url
    if not url:
        raise BounceMailError("no bounce mailbox: set LEADCAPTURE_BOUNCE_IMAP_URL (imaps://user:pass@host/INBOX)")
    parts = urlsplit(url)
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    outcomes: Counter[str] = Counter()
    try:
        conn = _connect(parts)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise BounceMailError(f"cannot log in to {parts.hostname}:{parts.port or ''}: {exc}") from exc
    try:
        status, _ = conn.select(_quoted(folder))
        if status != "OK":
            raise BounceMailError(f"no folder {folder!r} in the bounce mailbox")
        _, found = conn.uid("SEARCH", None, "UNSEEN UNDELETED")
        for uid in (found[0] or b"").split():
            outcome = _one(services, conn, uid)
            outcomes[outcome] += 1
        conn.expunge()
    except (OSError, imaplib.IMAP4.error) as exc:
        raise BounceMailError(f"reading the bounce mailbox failed: {exc}") from exc
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
    return outcomes


def _one(services: Services, conn: imaplib.IMAP4, uid: bytes) -> str:
    _, meta = conn.uid("FETCH", uid, "(RFC822.SIZE)")
    size = int(_after(meta[0], b"RFC822.SIZE") or 0)
    if size > services.settings.bounce_max_size:
        conn.uid("STORE", uid, "+FLAGS", r"(\Seen)")
        return "too large"
    _, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")  # PEEK: stays unseen if recording fails
    raw = next((item[1] for item in data if isinstance(item, tuple)), b"")
    try:
        found = reports.parse(raw, "imap")
    except Exception:  # noqa: BLE001  (one unreadable message must not stop the others)
        log.warning("unreadable message %s in the bounce mailbox left there, marked seen", uid, exc_info=True)
        found = []
    if not found:
        conn.uid("STORE", uid, "+FLAGS", r"(\Seen)")
        return "not a bounce"
    outcomes = bounces.process(services, found)
    conn.uid("STORE", uid, "+FLAGS", r"(\Seen \Deleted)")
    return outcomes.most_common(1)[0][0]


def _connect(parts: Any) -> imaplib.IMAP4:
    options = parse_qs(parts.query)
    if parts.scheme == "imaps":
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            parts.hostname, parts.port or 993, ssl_context=ssl.create_default_context(), timeout=30
        )
    else:
        conn = imaplib.IMAP4(parts.hostname, parts.port or 143, timeout=30)
    try:
        if parts.scheme == "imap" and options.get("starttls", ["0"])[0] in ("1", "true", "yes"):
            conn.starttls(ssl.create_default_context())
        conn.login(unquote(parts.username or ""), unquote(parts.password or ""))
    except BaseException:
        conn.shutdown()
        raise
    return conn


def _after(line: Any, name: bytes) -> bytes | None:
    text = line if isinstance(line, bytes) else b""
    if name not in text:
        return None
    return text.split(name, 1)[1].strip().split(b")")[0].split(b" ")[0]


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
