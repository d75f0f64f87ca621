"""Optional DKIM signing (RFC 6376) of every outgoing message, at the point bytes are produced.

Configured with LEADCAPTURE_DKIM_SELECTOR, LEADCAPTURE_DKIM_DOMAIN and the PEM private key in
LEADCAPTURE_DKIM_PRIVATE_KEY or a file named by LEADCAPTURE_DKIM_PRIVATE_KEY_FILE. `h=` covers
both List-Unsubscribe headers, without which receivers may not offer one-click (RFC 8058).
"""

from __future__ import annotations

from collections.abc import Callable

from leadcapture.settings import ConfigError, Settings

SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"MIME-Version",
    b"Content-Type",
)

Finalise = Callable[[bytes], bytes]


class DKIMSettingError(ConfigError, ValueError):
    """The DKIM key cannot sign (load_settings has already checked that the settings are complete).

    A ValueError too, so `leadcapture worker` (which checks the transport at start) reports it
    in one line like any other malformed mail setting.
    """


class Signer:
    """Signs wire-format messages (CRLF line endings) with one selector and key."""

    def __init__(self, selector: str, domain: str, private_key: bytes):
        self.selector = selector.encode()
        self.domain = domain.encode()
        self.private_key = private_key

    def __call__(self, data: bytes) -> bytes:
        """The message with a DKIM-Signature header in front (relaxed/relaxed, rsa-sha256)."""
        import dkim as dkimpy  # imported only when signing is on: it takes a while to load

        signature = dkimpy.sign(
            data,
            self.selector,
            self.domain,
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
        return signature + data


def signer_from_settings(settings: Settings) -> Signer | None:
    """The Signer the LEADCAPTURE_DKIM_* settings describe, or None when signing is off."""
    if not settings.dkim_enabled:
        return None
    signer = Signer(settings.dkim_selector, settings.dkim_domain, settings.dkim_private_key.encode())
    try:
        signer(b"From: a@b\r\nTo: c@d\r\nSubject: t\r\n\r\nt\r\n")
    except Exception as exc:  # dkimpy raises several kinds for a bad key
        raise DKIMSettingError(f"LEADCAPTURE_DKIM_PRIVATE_KEY cannot sign: {exc}") from exc
    return signer
