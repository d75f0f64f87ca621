"""The transports that hand finished messages to a mail system, and how their failures are told apart.

Transient failures (a 4xx reply, a timeout, a dropped connection) are worth retrying; permanent
ones (a 5xx reply for the recipient, an address the relay cannot take) are not. The delivery
engine records either on the message. Whatever fails, the SMTP connection is left clean for the
next message: the relay reset after a refusal, or the connection dropped.
"""

from __future__ import annotations

import mailbox
import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from leadcapture.delivery.dkim import signer_from_settings
from leadcapture.delivery.wire import OutgoingMessage, mail_address
from leadcapture.settings import Settings


class MailError(Exception):
    """Sending failed."""


class TransientMailError(MailError):
    """Worth retrying later: a 4xx reply, a timeout, a dropped connection."""


class PermanentMailError(MailError):
    """Retrying will not help: a 5xx reply for the recipient, a malformed message."""


class Transport(Protocol):
    """Hands finished messages to a mail system."""

    def send(self, msg: EmailMessage | OutgoingMessage) -> None: ...

    def check(self) -> None: ...

    def close(self) -> None: ...


class MaildirTransport:
    """Writes messages to a local Maildir: the development outbox."""

    finalise: Callable[[bytes], bytes] | None = None  # DKIM signing, set by transport_for

    def __init__(self, path: Path):
        self.path = Path(path)
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def _box(self) -> mailbox.Maildir:
        return mailbox.Maildir(self.path, create=False)

    def close(self) -> None:
        """Nothing to close."""

    def send(self, msg: EmailMessage | OutgoingMessage) -> None:
        """Deliver msg into the Maildir's new/ folder."""
        # When signing, store the signed wire form (CRLF), exactly what SMTP would send.
        data = msg.as_bytes() if self.finalise is None else self.finalise(msg.as_bytes(policy=policy.SMTP))
        # What a delivering MTA adds from the envelope sender (RFC 5321 4.4): shows the VERP path.
        line_end = b"\n" if self.finalise is None else b"\r\n"
        self._box().add(b"Return-Path: <%s>%s%s" % (envelope_sender(msg).encode(), line_end, data))

    def check(self) -> None:
        """Fail early if the folder is not writable."""
        self._box()

    def messages(self) -> list[tuple[str, EmailMessage]]:
        """(key, message) pairs, newest first."""
        box = self._box()
        parser = BytesParser(policy=policy.default)
        items = []
        for key in box.keys():
            path = self.path / ("new" if (self.path / "new" / key).exists() else "cur") / key
            try:
                items.append((key, path.stat().st_mtime, parser.parsebytes(path.read_bytes())))
            except FileNotFoundError:
                continue
        items.sort(key=lambda item: (item[1], item[0]), reverse=True)
        return [(key, msg) for key, _mtime, msg in items]

    def forget(self, address: str) -> int:
        """Delete every stored message to this address (erasure reaches the outbox too); return how many."""
        wanted = mail_address(address.strip()).lower()  # as compose wrote it in the To header
        box, parser, removed = self._box(), BytesHeaderParser(policy=policy.default), 0
        for key in box.keys():
            try:
                with box.get_file(key) as fh:
                    headers = parser.parse(fh)
            except (KeyError, FileNotFoundError):  # removed meanwhile
                continue
            if wanted in {addr.strip().lower() for _name, addr in getaddresses(headers.get_all("To", []))}:
                box.discard(key)
                removed += 1
        return removed


class SMTPTransport:
    """Sends through an SMTP relay; one reused connection per thread."""

    finalise: Callable[[bytes], bytes] | None = None  # DKIM signing, set by transport_for

    def __init__(self, url: str, timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("LEADCAPTURE_MAIL_URL must look like smtp://host:port or smtps://user:pass@host")
        self.host = parts.hostname
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        options = parse_qs(parts.query)
        self.starttls = options.get("starttls", ["0"])[0] in ("1", "true", "yes")
        self.timeout = timeout
        self._local = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._lock = threading.Lock()

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.implicit_tls:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                conn.starttls(context=context)
        if self.username:
            conn.login(self.username, self.password or "")
        return conn

    def _connection(self) -> smtplib.SMTP:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._open.add(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            self._close(conn)

    def _close(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            self._open.discard(conn)
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()

    def close(self) -> None:
        """Close every thread's connection (at shutdown)."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            self._close(conn)

    def send(self, msg: EmailMessage | OutgoingMessage) -> None:
        """Hand msg to the relay, reconnecting once if the kept connection went stale.

        A message that is not all ASCII (an address with a non-ASCII local part) goes with SMTPUTF8
        when the relay offers it, and fails permanently, before any command, when it does not.
        """
        sender = mail_address(envelope_sender(msg))
        recipients = [mail_address(_address(str(msg["To"])))]
        data = msg.as_bytes(policy=policy.SMTP)  # CRLF line endings on the wire (RFC 5321)
        if self.finalise is not None:  # DKIM-sign the exact bytes that go on the wire
            data = self.finalise(data)
        international = not (data.isascii() and sender.isascii() and all(r.isascii() for r in recipients))
        for attempt in (1, 2):
            try:
                conn = self._connection()
                options = _mail_options(conn, international)
                refused = _sendmail(conn, sender, recipients, data, options)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if attempt == 2:
                    raise TransientMailError(f"SMTP server disconnected: {exc}") from exc
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                raise _classify(code, reply) from exc
            except smtplib.SMTPResponseException as exc:
                self._drop()  # the session state after an error reply is not worth trusting
                raise _classify(exc.smtp_code, exc.smtp_error) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise TransientMailError(f"SMTP connection failed: {exc}") from exc
            except MailError:
                raise  # refused before any command: the connection is as clean as it was
            except Exception:
                self._drop()  # anything else may leave a transaction open: the next message gets a new connection
                raise
            if refused:
                code, reply = next(iter(refused.values()))
                raise _classify(code, reply)
            return

    def check(self) -> None:
        """Connect, greet and quit; raise MailError with a clear message if that fails."""
        try:
            conn = self._connect()
            conn.noop()
            conn.quit()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot use SMTP relay {self.host}:{self.port}: {exc}") from exc


def envelope_sender(msg: EmailMessage | OutgoingMessage) -> str:
    """The SMTP MAIL FROM of a message: its VERP return path, else its From address."""
    return getattr(msg, "envelope_sender", None) or _address(str(msg["From"]))


# An address header that is a bare address (ours always are: templates.compose writes them so) is
# taken as it is; parsing one costs more than the rest of its SMTP dialogue.
_BARE = re.compile(r"[^\s<>()\[\],;:\\\"]+@[^\s<>()\[\],;:\\\"@]+")


def _address(header: str) -> str:
    """The address in a To or From header."""
    return header if _BARE.fullmatch(header) else parseaddr(header)[1]


def _sendmail(
    conn: smtplib.SMTP, sender: str, recipients: list[str], data: bytes, options: list[str]
) -> dict[str, tuple[int, bytes]]:
    """smtplib's sendmail for envelope addresses that are plain addresses and data already in CRLF form.

    smtplib parses every envelope address again (quoteaddr) and scans the data with a regular
    expression to escape leading dots; both cost more than the rest of the dialogue. The replies
    and the errors raised are smtplib's own, so the caller tells failures apart as before.
    """
    for address in (sender, *recipients):  # the null sender <> is allowed, a null recipient is not
        if any(c in address for c in "\r\n<>") or (address is not sender and not address.strip()):
            raise PermanentMailError(f"not an address for the SMTP envelope: {address[:80]!r}")
    conn.ehlo_or_helo_if_needed()
    mail_options = [f"SIZE={len(data)}"] if conn.does_esmtp and conn.has_extn("size") else []
    if conn.does_esmtp and options:
        if "SMTPUTF8" in options:
            conn.command_encoding = "utf-8"
        mail_options += options
    conn.putcmd("mail", f"FROM:<{sender}>" + "".join(f" {o}" for o in mail_options))
    code, reply = conn.getreply()
    if code != 250:
        _reset(conn, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in recipients:
        conn.putcmd("rcpt", f"TO:<{recipient}>")
        code, reply = conn.getreply()
        if code not in (250, 251):
            refused[recipient] = (code, reply)
        if code == 421:
            conn.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        _reset(conn, 250)
        raise smtplib.SMTPRecipientsRefused(refused)
    conn.putcmd("data")
    code, reply = conn.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    # RFC 5321 4.5.2: a line that starts with a dot gets one more
    stuffed = data.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    conn.send(stuffed + b".\r\n")
    code, reply = conn.getreply()
    if code != 250:
        _reset(conn, code)
        raise smtplib.SMTPDataError(code, reply)
    return refused


def _reset(conn: smtplib.SMTP, code: int) -> None:
    """After a refusal: RSET for the next message, or close on 421 (the relay is closing), as smtplib does."""
    if code == 421:
        conn.close()
        return
    try:
        conn.rset()
    except smtplib.SMTPServerDisconnected:
        pass


def _mail_options(conn: smtplib.SMTP, international: bool) -> list[str]:
    """The MAIL FROM parameters a message needs; PermanentMailError if the relay cannot take it."""
    if not international:
        return []
    conn.ehlo_or_helo_if_needed()
    if not conn.has_extn("smtputf8"):
        raise PermanentMailError(
            "the recipient's address has non-ASCII characters before the @ and the relay does not offer "
            "SMTPUTF8 (RFC 6531): this relay cannot deliver to it"
        )
    return ["SMTPUTF8", "BODY=8BITMIME"] if conn.has_extn("8bitmime") else ["SMTPUTF8"]


def _classify(code: int, reply: bytes | str) -> MailError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    cls = PermanentMailError if code >= 500 else TransientMailError
    return cls(f"SMTP {code} {text}")


def transport_for(settings: Settings) -> Transport:
    """The transport named by LEADCAPTURE_MAIL_URL (empty: the local Maildir outbox)."""
    url = settings.mail_url
    transport = MaildirTransport(Path(settings.var_dir) / "outbox") if not url else SMTPTransport(url)
    transport.finalise = signer_from_settings(settings)  # optional DKIM signing
    return transport
