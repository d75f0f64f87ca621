"""What the public pages share: the visitor's trace, this page's URL, a link's token and the rows it names."""

from __future__ import annotations

import logging
from typing import TypeVar

from flask import request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from leadcapture.consent.people import Visitor
from leadcapture.consent.tokens import LinkPayload, TokenExpired, TokenInvalid, TokenRetired
from leadcapture.models import LeadRequest, Person, Submission
from leadcapture.web.context import get_services, get_session
from leadcapture.web.errors import InvalidLink

LINK_GONE = _l("This link no longer works")
# The optional details a form asks, as their labels read on the form and the confirm page.
FIELD_LABELS = {
    "email": _l("Email address"),
    "name": _l("Name"),
    "company": _l("Company"),
    "phone": _l("Phone number"),
}

log = logging.getLogger(__name__)

Named = TypeVar("Named", Person, Submission, LeadRequest)


def this_url() -> str:
    """The URL of this request built on BASE_URL: a forged Host header never reaches the ledger."""
    return get_services().url(request.full_path.rstrip("?"))[:2000]


def visitor(page_url: str | None = None) -> Visitor:
    """Who acts, as the ledger records it: address, browser, and the page they acted on."""
    return Visitor(
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:300] or None,
        page_url=page_url or this_url(),
    )


def load_token(kind: str, token: str) -> LinkPayload:
    """The typed payload of a link's token; InvalidLink when it cannot be used (410 expired or retired, else 404)."""
    try:
        return get_services().tokens.read(kind, token)
    except TokenExpired as exc:
        raise InvalidLink(
            _l("This link has expired"),
            _l(
                "For your security, links in our emails are valid for a limited time. Request the whitepaper again"
                " and you will get a new email."
            ),
            410,
        ) from exc
    except TokenRetired as exc:
        raise InvalidLink(
            LINK_GONE,
            _l(
                "This link comes from an email we sent before our links changed. Use the link in a newer email"
                " from us, or request the whitepaper again."
            ),
            410,
        ) from exc
    except TokenInvalid as exc:
        raise InvalidLink() from exc


def by_public_id(model: type[Named], public_id: str) -> Named:
    """The row of model a link names by its public id; InvalidLink ("no longer works") once it is gone."""
    row = get_session().scalar(select(model).where(model.public_id == public_id))
    if row is None:  # erased, purged, or never ours
        raise InvalidLink(LINK_GONE, _l("We hold no data for this link any more: it was erased or expired."))
    return row
