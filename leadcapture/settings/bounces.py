"""Bounce and complaint settings: the bounce domain, the mailbox to poll, the provider webhooks' keys."""

from __future__ import annotations

import base64
import binascii
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from leadcapture.settings.parse import ConfigError


def check_bounces(config: dict[str, Any]) -> None:
    """Derive the bounce domain from MAIL_FROM when not given; check the IMAP URL and the webhook keys."""
    domain = str(config["BOUNCE_DOMAIN"]).strip().lower().rstrip(".")
    if not domain:
        domain = parseaddr(str(config["MAIL_FROM"]))[1].rpartition("@")[2].lower()
    if not domain or any(c in domain for c in "@ <>/\\") or not domain.isascii():
        raise ConfigError(f"LEADCAPTURE_BOUNCE_DOMAIN must be a domain name like bounces.example.com, got {domain!r}.")
    config["BOUNCE_DOMAIN"] = domain
    imap = str(config["BOUNCE_IMAP_URL"]).strip()
    if imap:
        parts = urlsplit(imap)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ConfigError(
                "LEADCAPTURE_BOUNCE_IMAP_URL must look like imaps://user:password@host/INBOX "
                "(imap:// for a server on this machine)."
            )
    config["BOUNCE_IMAP_URL"] = imap
    auth = str(config["BOUNCE_POSTMARK_AUTH"])
    if auth and ":" not in auth:
        raise ConfigError("LEADCAPTURE_BOUNCE_POSTMARK_AUTH must be user:password (the webhook's basic auth).")
    if config["BOUNCE_SENDGRID_PUBLIC_KEY"]:
        sendgrid_key(config["BOUNCE_SENDGRID_PUBLIC_KEY"])


def sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key: the base64 DER that its settings page shows, or the same as PEM."""
    text = text.replace("\\n", "\n").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error) as exc:
        raise ConfigError(f"LEADCAPTURE_BOUNCE_SENDGRID_PUBLIC_KEY is not a public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError("LEADCAPTURE_BOUNCE_SENDGRID_PUBLIC_KEY must be an ECDSA (P-256) public key.")
    return key
