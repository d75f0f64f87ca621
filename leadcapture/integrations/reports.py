"""Reading what comes back by mail: delivery status notifications and complaint reports.

- A DSN (RFC 3464: multipart/report; report-type=delivery-status) has one block per recipient
  with its Action and Status: "failed" with 5.x.x is a hard bounce, with 4.x.x a soft one (the
  remote MTA gave up retrying). "delayed", "delivered", "relayed" and "expanded" are news, not
  failures.
- A complaint report (ARF, RFC 5965: report-type=feedback-report) with Feedback-Type abuse or
  fraud is a complaint; not-spam, virus and auth-failure reports are not about the recipient.
- Anything else goes to flufl.bounce, which knows the non-standard bounces of older MTAs (it
  tells permanent from temporary failures, but gives no status codes and reads no ARF).

Which message a report is about comes from the VERP address it was sent to (the envelope
recipient, or a To, Delivered-To or X-Original-To header of the report), the Original-Mail-From
of an ARF report, or the Return-Path and Message-ID of the original returned in the report.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses

from flufl.bounce import all_failures

from leadcapture.models import COMPLAINT, HARD, SOFT

# flufl.bounce logs every detector it runs, and each one's failure with a traceback; parse
# handles its failures, so only its worst messages are worth a log line.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

COMPLAINT_TYPES = frozenset({"abuse", "fraud"})
_STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")
_ADDRESS_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")
MAX_DETAIL = 500  # characters of a diagnostic kept: enough to tell why, not a copy of the report


@dataclass(frozen=True)
class Feedback:
    """One bounce or complaint about one recipient of one of our messages, from any source."""

    kind: str  # HARD, SOFT or COMPLAINT
    source: str  # smtp, imap, postmark, mailgun, sendgrid
    dedupe_key: str  # the same report read twice has the same key
    return_paths: tuple[str, ...] = ()  # addresses that may be our VERP return path
    message_id: str | None = None  # the Message-ID header of our original, if the report has it
    recipient: str | None = None  # the address that bounced or complained, if the report names it
    status: str | None = None  # the enhanced status code, e.g. 5.1.1
    detail: str | None = None  # the diagnostic, or the complaint's feedback type and agent


@dataclass
class _Report:
    """What a report says before it is split into one Feedback per recipient."""

    return_paths: list[str] = field(default_factory=list)
    message_id: str | None = None


def parse(raw: bytes, source: str, envelope_recipients: Iterable[str] = ()) -> list[Feedback]:
    """The bounces and complaints in one received message (empty: it is neither, e.g. an auto-reply)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    report = _Report(return_paths=[*envelope_recipients, *_header_addresses(msg, _ADDRESS_HEADERS)])
    original = _original_headers(msg)
    if original is not None:
        report.return_paths += _header_addresses(original, ("Return-Path",))
        report.message_id = _message_id(original.get("Message-ID"))
    key = "mail:" + hashlib.sha256(_message_id(msg.get("Message-ID")).encode() or raw).hexdigest()[:40]
    report_type = msg.get_param("report-type", "", header="content-type")
    if msg.get_content_type() == "multipart/report" and str(report_type).lower() == "feedback-report":
        return _complaints(msg, report, source, key)
    statuses = _delivery_status(msg)
    if statuses is not None:
        return _bounces(statuses, report, source, key)
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001  (its detectors fail on odd messages, e.g. one without From)
        return []
    found = [(HARD, a) for a in sorted(permanent)] + [(SOFT, a) for a in sorted(temporary - permanent)]
    return [
        _feedback(kind, source, f"{key}:{n}", report, recipient=address.decode(errors="replace"))
        for n, (kind, address) in enumerate(found)
    ]


def _feedback(kind: str, source: str, key: str, report: _Report, **details: str | None) -> Feedback:
    unique = tuple(dict.fromkeys(a.strip().strip("<>").lower() for a in report.return_paths if a.strip("<> ")))
    return Feedback(kind, source, key, return_paths=unique, message_id=report.message_id, **details)


def _bounces(blocks: list[Message], report: _Report, source: str, key: str) -> list[Feedback]:
    found = []
    for n, block in enumerate(blocks[1:]):  # the first block is about the whole message
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip().split(" ")[0]
        match = _STATUS.match(status)
        if action != "failed" or match is None or match.group(1) == "2":
            continue
        recipient = _typed_address(block.get("Final-Recipient")) or _typed_address(block.get("Original-Recipient"))
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split()) or None
        kind = HARD if match.group(1) == "5" else SOFT
        found.append(
            _feedback(kind, source, f"{key}:{n}", report, recipient=recipient, status=status, detail=_cut(diagnostic))
        )
    return found


def _complaints(msg: EmailMessage, report: _Report, source: str, key: str) -> list[Feedback]:
    fields = _part(msg, "message/feedback-report")
    if fields is None:
        return []
    if isinstance(fields.get_payload(), list) and fields.get_payload():
        fields = fields.get_payload()[0]  # the parser reads the report's fields as a message's headers
    else:  # some parsers leave it as text
        fields = HeaderParser().parsestr(str(fields.get_payload()))
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in COMPLAINT_TYPES:
        return []
    report.return_paths += _header_addresses(fields, ("Original-Mail-From",))
    recipients = [_plain(a) for a in fields.get_all("Original-Rcpt-To", [])] or [None]
    agent = " ".join(str(fields.get("User-Agent", "")).split())
    detail = _cut(f"{feedback_type} report" + (f" from {agent}" if agent else ""))
    return [
        _feedback(COMPLAINT, source, f"{key}:{n}", report, recipient=rcpt, detail=detail)
        for n, rcpt in enumerate(recipients)
    ]


def _delivery_status(msg: EmailMessage) -> list[Message] | None:
    """The header blocks of the message/delivery-status part, or None when there is none."""
    part = _part(msg, "message/delivery-status")
    if part is None:
        return None
    blocks = part.get_payload()
    if isinstance(blocks, list):
        return blocks
    text = re.split(r"\r?\n[ \t]*\r?\n", str(blocks).strip())
    return [HeaderParser().parsestr(chunk) for chunk in text]


def _original_headers(msg: EmailMessage) -> Message | None:
    """The headers of the original message a report returns (message/rfc822 or text/rfc822-headers)."""
    enclosed = _part(msg, "message/rfc822")
    if enclosed is not None and isinstance(enclosed.get_payload(), list):
        return enclosed.get_payload()[0]
    headers = _part(msg, "text/rfc822-headers")
    if headers is not None:
        return HeaderParser().parsestr(headers.get_payload(decode=True).decode("utf-8", "replace"))
    return None


def _part(msg: EmailMessage, content_type: str) -> Message | None:
    if not msg.is_multipart():
        return None
    for part in msg.get_payload():  # the report's own parts, not those of a returned original
        if part.get_content_type() == content_type:
            return part
    return None


def _header_addresses(msg: Message, names: Iterable[str]) -> list[str]:
    values = []
    for name in names:
        try:
            values += [str(v) for v in msg.get_all(name, [])]
        except (ValueError, IndexError):  # a header too broken to parse names nobody
            continue
    return [address for _name, address in getaddresses(values) if "@" in address]


def _typed_address(value: object) -> str | None:
    """The address of an RFC 3464 address field such as `rfc822; jan@example.com`."""
    if value is None:
        return None
    _type, _, address = str(value).rpartition(";")
    return _plain(address)


def _plain(value: str | None) -> str | None:
    address = str(value or "").strip().strip("<>").strip()
    return address if "@" in address and len(address) <= 320 else None


def _message_id(value: object) -> str:
    return str(value or "").strip()[:255]


def _cut(text: str | None) -> str | None:
    return text[:MAX_DETAIL] if text else None
