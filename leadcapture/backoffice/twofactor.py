"""The optional second factor of an admin account: a TOTP authenticator app (RFC 6238).

The secret is encrypted with the data key like other personal data. A code is accepted once:
the time step it belongs to is remembered, so a code read over a shoulder or from a proxy log
cannot sign in again within its 30 seconds.
"""

from __future__ import annotations

import io
from datetime import datetime

import pyotp
import segno

from leadcapture.crypto import Vault
from leadcapture.models import AdminUser, utcnow

ISSUER = "leadcapture"
VALID_WINDOW = 1  # a code of the step before or after counts too: phone clocks drift


def new_secret() -> str:
    """A fresh base32 secret (160 bits) for an authenticator app."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code: no external image, no script."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, title="QR code for your authenticator app")
    return out.getvalue().decode()


def matching_step(secret: str, code: str, now: datetime | None = None) -> int | None:
    """The time step whose code this is, within the drift window; None when none matches."""
    code = "".join(code.split())  # people type "123 456"
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now or utcnow())
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def enabled(user: AdminUser) -> bool:
    """Whether the account signs in with a second factor."""
    return user.totp_secret is not None


def enable(user: AdminUser, vault: Vault, secret: str, code: str, now: datetime | None = None) -> bool:
    """Turn the second factor on, if `code` shows the app holds `secret`; False when it does not."""
    step = matching_step(secret, code, now)
    if step is None:
        return False
    user.totp_secret = vault.encrypt(secret)
    user.totp_last_step = step
    return True


def verify(user: AdminUser, vault: Vault, code: str, now: datetime | None = None) -> bool:
    """Whether `code` is a current code of the account's app that was not used before (then it is used)."""
    secret = vault.decrypt(user.totp_secret)
    if secret is None:
        return False
    step = matching_step(secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def disable(user: AdminUser) -> None:
    """Turn the second factor off (a lost phone: an admin does this, then the person enrols again)."""
    user.totp_secret = None
    user.totp_last_step = None
