"""What the public pages share: the visitor's trace, this page's URL, a link's token."""

from __future__ import annotations

import logging

from flask import request

from leadcapture.consent.people import Visitor
from leadcapture.consent.tokens import LinkPayload, TokenExpired, TokenInvalid
from leadcapture.web.context import get_services
from leadcapture.web.errors import InvalidLink

log = logging.getLogger(__name__)


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
    """The typed payload of a link's token; InvalidLink (410 when expired, else 404) when it cannot be used."""
    try:
        return get_services().tokens.read(kind, token)
    except TokenExpired as exc:
        raise InvalidLink("token_expired_title", "token_expired_body", 410) from exc
    except TokenInvalid as exc:
        raise InvalidLink() from exc
