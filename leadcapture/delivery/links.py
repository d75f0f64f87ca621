"""Every link a message carries: the URL prefix of its page and the signed token naming its rows.

The pages behind them (web/public) parse the same token kinds (consent/tokens.py). Links are
built on BASE_URL, never on a request's Host header.
"""

from __future__ import annotations

from leadcapture.consent.tokens import CONFIRM, DOWNLOAD, PREFERENCES, UNSUBSCRIBE
from leadcapture.models import LeadRequest, Submission
from leadcapture.services import Services

# The URL prefix of each kind's page; web/public declares its routes with these.
PREFIXES = {CONFIRM: "c", UNSUBSCRIBE: "u", DOWNLOAD: "d", PREFERENCES: "p"}


def _link(services: Services, kind: str, payload: dict) -> str:
    return services.url(f"/{PREFIXES[kind]}/{services.tokens.make(kind, payload)}")


def confirm_request(services: Services, request: LeadRequest) -> str:
    """Confirms one request (a purpose, or the whitepaper)."""
    return _link(services, CONFIRM, {"r": request.id})


def confirm_submission(services: Services, submission: Submission) -> str:
    """Confirms every pending request of a submission (the mail's main button)."""
    return _link(services, CONFIRM, {"s": submission.id})


def not_me(services: Services, submission: Submission) -> str:
    """'This wasn't me': the one-click target of a confirmation mail."""
    return _link(services, UNSUBSCRIBE, {"s": submission.id})


def unsubscribe(services: Services, person_id: int, purpose_key: str | None) -> str:
    """One-click withdrawal of one purpose (None: every purpose) of a person."""
    return _link(services, UNSUBSCRIBE, {"p": person_id, "k": purpose_key})


def preferences(services: Services, person_id: int) -> str:
    """The person's preference centre."""
    return _link(services, PREFERENCES, {"p": person_id})


def download(services: Services, request: LeadRequest) -> str:
    """The whitepaper of a confirmed asset request (a signed, expiring link)."""
    return _link(services, DOWNLOAD, {"r": request.id})
