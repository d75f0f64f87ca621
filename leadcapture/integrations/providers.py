"""Bounces and complaints from the mail relays' webhooks, each checked the way its provider signs it.

- Postmark: HTTP basic auth with BOUNCE_POSTMARK_AUTH (user:password); bounce and spam
  complaint records.
- Mailgun: HMAC-SHA256 of timestamp + token with BOUNCE_MAILGUN_SIGNING_KEY; "failed" (permanent
  or temporary) and "complained" events.
- SendGrid: the signed event webhook, ECDSA P-256 over timestamp + body, checked with
  BOUNCE_SENDGRID_PUBLIC_KEY; "bounce", "blocked" and "spamreport" events.

A provider without its setting is switched off (404). A bad signature is refused (401) and
records nothing. Deliveries of the same event are recorded once (the provider's event id).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from leadcapture.integrations.reports import Feedback
from leadcapture.models import COMPLAINT, HARD, SOFT
from leadcapture.settings import Settings
from leadcapture.settings.bounces import sendgrid_key

PROVIDERS = ("postmark", "mailgun", "sendgrid")


class NotConfigured(Exception):
    """This provider's webhook is switched off (its setting is empty)."""


class Refused(Exception):
    """The request is not signed by the provider (HTTP 401)."""

    status = 401


class Malformed(Refused):
    """Signed, or not signed at all, but not one of the provider's payloads (HTTP 400)."""

    status = 400


def feedback_from(provider: str, settings: Settings, headers: Mapping[str, str], body: bytes) -> list[Feedback]:
    """Check a provider's webhook request and return the bounces and complaints it reports."""
    if provider == "postmark":
        return _postmark(settings, headers, body)
    if provider == "mailgun":
        return _mailgun(settings, body)
    if provider == "sendgrid":
        return _sendgrid(settings, headers, body)
    raise NotConfigured(provider)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed("the body is not JSON") from exc


def _text(value: Any, limit: int = 320) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def _message_id(value: Any) -> str | None:
    text = _text(value, 250)
    if text is None:
        return None
    return text if text.startswith("<") else f"<{text}>"


def _postmark(settings: Settings, headers: Mapping[str, str], body: bytes) -> list[Feedback]:
    if not settings.bounce_postmark_auth:
        raise NotConfigured("postmark")
    expected = "Basic " + base64.b64encode(settings.bounce_postmark_auth.encode()).decode()
    if not hmac.compare_digest(headers.get("Authorization", "").encode(), expected.encode()):
        raise Refused("wrong or missing basic auth")
    record = _json(body)
    if not isinstance(record, dict):
        raise Malformed("not a Postmark webhook record")
    record_type, bounce_type = record.get("RecordType"), record.get("Type")
    if record_type == "SpamComplaint" or bounce_type == "SpamComplaint":
        kind = COMPLAINT
    elif record_type == "Bounce" and bounce_type in ("HardBounce", "BadEmailAddress"):
        kind = HARD
    elif record_type == "Bounce" and bounce_type in ("SoftBounce", "DnsError"):
        kind = SOFT
    else:  # deliveries, opens, delays ("Transient") and the rest are not failures
        return []
    if record.get("ID") in (None, ""):
        raise Malformed("no record ID")
    return [
        Feedback(
            kind,
            "postmark",
            f"postmark:{_text(record.get('ID'), 100)}",
            recipient=_text(record.get("Email")),
            detail=_text(record.get("Description") or record.get("Details"), 500),
        )
    ]


def _mailgun(settings: Settings, body: bytes) -> list[Feedback]:
    key = settings.bounce_mailgun_signing_key
    if not key:
        raise NotConfigured("mailgun")
    payload = _json(body)
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict):
        raise Refused("no signature")
    signed = f"{signature.get('timestamp', '')}{signature.get('token', '')}".encode()
    expected = hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), str(signature.get("signature", "")).encode()):
        raise Refused("bad signature")
    event = payload.get("event-data")
    if not isinstance(event, dict):
        raise Malformed("no event-data")
    kind_of = {("failed", "permanent"): HARD, ("failed", "temporary"): SOFT}
    kind = COMPLAINT if event.get("event") == "complained" else kind_of.get((event.get("event"), event.get("severity")))
    if kind is None:
        return []
    if not event.get("id"):
        raise Malformed("no event id")
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    message_id = _message_id((message.get("headers") or {}).get("message-id"))
    status = event.get("delivery-status") if isinstance(event.get("delivery-status"), dict) else {}
    # Mailgun reports every retry of a temporary failure: one soft bounce per message counts.
    key_part = f"soft:{message_id}" if kind == SOFT and message_id else _text(event.get("id"), 100)
    return [
        Feedback(
            kind,
            "mailgun",
            f"mailgun:{key_part}"[:128],
            message_id=message_id,
            recipient=_text(event.get("recipient")),
            status=_enhanced(status.get("enhanced-code")),
            detail=_text(status.get("description") or status.get("message"), 500),
        )
    ]


def _sendgrid(settings: Settings, headers: Mapping[str, str], body: bytes) -> list[Feedback]:
    if not settings.bounce_sendgrid_public_key:
        raise NotConfigured("sendgrid")
    signature = headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
    timestamp = headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    try:
        sendgrid_key(settings.bounce_sendgrid_public_key).verify(
            base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise Refused("bad signature") from exc
    events = _json(body)
    if not isinstance(events, list):
        raise Malformed("not a list of SendGrid events")
    found = []
    for event in events:
        if not isinstance(event, dict) or not event.get("sg_event_id"):
            continue
        status = _enhanced(event.get("status"))
        if event.get("event") == "spamreport":
            kind = COMPLAINT
        elif event.get("event") == "bounce":
            kind = HARD if event.get("type") != "blocked" and (status or "5").startswith("5") else SOFT
        else:  # processed, delivered, deferred (still retrying), opens, clicks
            continue
        found.append(
            Feedback(
                kind,
                "sendgrid",
                f"sendgrid:{_text(event.get('sg_event_id'), 100)}",
                message_id=_message_id(event.get("smtp-id")),
                recipient=_text(event.get("email")),
                status=status,
                detail=_text(event.get("reason"), 500),
            )
        )
    return found


def _enhanced(value: Any) -> str | None:
    text = _text(value, 16)
    return text if text and text[0] in "245" and text.count(".") == 2 else None
