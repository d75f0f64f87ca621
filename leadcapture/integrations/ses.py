"""Amazon SES bounce and complaint notifications, delivered by SNS and checked by its signature.

SNS signs each message with RSA (SignatureVersion 1: SHA1, 2: SHA256) under a certificate it
publishes at SigningCertURL. We fetch that certificate only from an https URL of an SNS host of
amazonaws.com, and only for a topic listed in BOUNCE_SES_TOPIC_ARNS, so a forged message cannot
point us at a certificate of its own. A SubscriptionConfirmation is confirmed by fetching its
SubscribeURL (same host rule). The fetcher is injectable: the web app passes its configured one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
import urllib.request
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from leadcapture.integrations.providers import Malformed, NotConfigured, Refused
from leadcapture.integrations.reports import Feedback
from leadcapture.models import COMPLAINT, HARD, SOFT
from leadcapture.settings import Settings
from leadcapture.settings.parse import split

Fetch = Callable[[str], bytes]
_SNS_HOST = re.compile(r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_MAX_FETCH = 64 * 1024


def fetch_https(url: str) -> bytes:
    """GET an SNS URL over verified TLS (certificates are cached per process)."""
    if url.endswith(".pem"):
        return _cached_certificate(url)
    return _get(url)


@lru_cache(maxsize=16)
def _cached_certificate(url: str) -> bytes:
    return _get(url)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10, context=ssl.create_default_context()) as response:  # noqa: S310  (https only, checked by the caller)
        return response.read(_MAX_FETCH)


def feedback_from_sns(settings: Settings, body: bytes, fetch: Fetch) -> list[Feedback]:
    """Check an SNS message from SES; confirm a subscription, or return the bounces and complaints it carries."""
    topics = split(settings.bounce_ses_topic_arns)
    if not topics:
        raise NotConfigured("ses")
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed("the body is not JSON") from exc
    if not isinstance(envelope, dict) or envelope.get("Type") not in _SIGNED_FIELDS:
        raise Malformed("not an SNS notification or subscription confirmation")
    if envelope.get("TopicArn") not in topics:
        raise Refused("a topic not listed in LEADCAPTURE_BOUNCE_SES_TOPIC_ARNS")
    _verify(envelope, fetch)
    if envelope["Type"] == "SubscriptionConfirmation":
        fetch(_sns_url(envelope.get("SubscribeURL")))
        return []
    try:
        notification = json.loads(envelope.get("Message") or "")
    except ValueError as exc:
        raise Malformed("the notification's Message is not JSON") from exc
    return _notification(notification if isinstance(notification, dict) else {}, str(envelope.get("MessageId")))


def _verify(envelope: dict[str, Any], fetch: Fetch) -> None:
    text = "".join(
        f"{name}\n{envelope[name]}\n" for name in _SIGNED_FIELDS[envelope["Type"]] if envelope.get(name) is not None
    )
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(str(envelope.get("SignatureVersion")))  # noqa: S303
    if algorithm is None:
        raise Refused("unknown SignatureVersion")
    try:
        certificate = x509.load_pem_x509_certificate(fetch(_sns_url(envelope.get("SigningCertURL"))))
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Refused("the signing certificate has no RSA key")
        key.verify(
            base64.b64decode(str(envelope.get("Signature", "")), validate=True),
            text.encode(),
            padding.PKCS1v15(),
            algorithm,
        )
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise Refused("bad signature") from exc
    except OSError as exc:  # the certificate could not be fetched: SNS retries later
        raise Refused(f"signing certificate unavailable: {exc}") from exc


def _sns_url(url: Any) -> str:
    if not isinstance(url, str) or not _SNS_HOST.match(url) or any(c in url for c in "@\\ \n"):
        raise Refused("a URL that is not an https URL of an SNS host of amazonaws.com")
    return url


def _notification(note: dict[str, Any], sns_id: str) -> list[Feedback]:
    kind_name = note.get("notificationType") or note.get("eventType")
    mail = note.get("mail") if isinstance(note.get("mail"), dict) else {}
    headers = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    common = {
        "return_paths": tuple(p for p in [mail.get("source")] if isinstance(p, str)),
        "message_id": str(headers["messageId"])[:255] if headers.get("messageId") else None,
    }
    if kind_name == "Bounce":
        bounce = note.get("bounce") if isinstance(note.get("bounce"), dict) else {}
        kind = {"Permanent": HARD, "Transient": SOFT}.get(bounce.get("bounceType"))
        recipients = bounce.get("bouncedRecipients") or []
        feedback_id = bounce.get("feedbackId") or sns_id
    elif kind_name == "Complaint":
        complaint = note.get("complaint") if isinstance(note.get("complaint"), dict) else {}
        kind = None if complaint.get("complaintFeedbackType") == "not-spam" else COMPLAINT
        recipients = complaint.get("complainedRecipients") or []
        feedback_id = complaint.get("feedbackId") or sns_id
    else:  # deliveries, sends, opens
        return []
    if kind is None or not isinstance(recipients, list):
        return []
    return [
        Feedback(
            kind,
            "ses",
            f"ses:{str(feedback_id)[:100]}:{n}",
            recipient=str(r.get("emailAddress"))[:320] if r.get("emailAddress") else None,
            status=str(r["status"])[:16] if r.get("status") else None,
            detail=str(r["diagnosticCode"])[:500] if r.get("diagnosticCode") else None,
            **common,
        )
        for n, r in enumerate(recipients)
        if isinstance(r, dict)
    ]
