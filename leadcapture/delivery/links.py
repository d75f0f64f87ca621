"""Every link a message carries: the URL prefix of its page and the signed token naming its rows.

A token names rows by their public id, never by their integer id (see consent/tokens.py).

The pages behind them (web/public) declare their routes with these prefixes and read the same
typed payloads (consent/tokens.py). Links are built on BASE_URL, never on a request's Host header.
"""

from __future__ import annotations

from leadcapture.consent.tokens import (
    CONFIRM,
    DOWNLOAD,
    PREFERENCES,
    UNSUBSCRIBE,
    ConfirmSubmission,
    Download,
    LinkPayload,
    NotMe,
    Preferences,
    Withdraw,
)
from leadcapture.models import LeadRequest, Person, Submission
from leadcapture.services import Services

# The URL prefix of each kind's page; web/public declares its routes with these.
PREFIXES = {CONFIRM: "c", UNSUBSCRIBE: "u", DOWNLOAD: "d", PREFERENCES: "p"}


def _link(services: Services, payload: LinkPayload) -> str:
    return services.url(f"/{PREFIXES[payload.kind]}/{services.tokens.sign(payload)}")


def confirm_submission(services: Services, submission: Submission) -> str:
    """Confirms every pending request of a submission (the mail's main button)."""
    return _link(services, ConfirmSubmission(submission.public_id))


def not_me(services: Services, submission: Submission) -> str:
    """'This wasn't me': the one-click target of a confirmation mail."""
    return _link(services, NotMe(submission.public_id))


def unsubscribe(services: Services, person: Person, purpose_key: str | None, brand_id: int | None = None) -> str:
    """One-click withdrawal of one purpose of a brand (None: every purpose; of every brand) of a person."""
    return _link(services, Withdraw(person.public_id, purpose_key, brand_id))


def preferences(services: Services, person: Person) -> str:
    """The person's preference centre."""
    return _link(services, Preferences(person.public_id))


def download(services: Services, request: LeadRequest) -> str:
    """The whitepaper of a confirmed asset request (a signed, expiring link)."""
    return _link(services, Download(request.public_id))


def example(services: Services, kind: str) -> str:
    """A link of this kind naming no row, for previews: its page says the link does not work."""
    return services.url(f"/{PREFIXES[kind]}/example")
