"""The whitepaper email: a signed, expiring download link for a confirmed asset request."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from leadcapture.consent import gates, wording
from leadcapture.consent.tokens import DOWNLOAD, PREFERENCES, UNSUBSCRIBE
from leadcapture.delivery import links
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.renderer import render_once
from leadcapture.delivery.templates import compose_for, compose_to, mail_brand, render
from leadcapture.delivery.wire import OutgoingMessage
from leadcapture.models import Brand, LeadRequest
from leadcapture.services import Services

KIND = "asset"


def send(services: Services, request_id: int, *, attempt: Attempt = NO_JOB) -> str:
    """Send the whitepaper of a confirmed asset request once."""

    def prepare(session: Session) -> Outgoing | None:
        request = session.get(LeadRequest, request_id)
        if not gates.may_deliver_asset(session, request):
            return None
        submission = request.submission
        version = submission.form_version
        brand = version.form.brand
        context = _context(services, version.definition, brand=brand)
        urls = {
            "download_url": links.download(services, request),
            # The whitepaper mail is not sent under a marketing purpose: its one-click
            # unsubscribe withdraws every purpose of this person.
            "unsubscribe_url": links.unsubscribe(services, submission.person, None),
            "preferences_url": links.preferences(services, submission.person),
        }
        key = (version.id, version.content_hash, context["brand"], context["download_days"])
        rendered = render_once(KIND, submission.language, key, context, urls)
        msg = compose_for(services, submission.person, rendered, unsubscribe_url=urls["unsubscribe_url"], brand=brand)
        return Outgoing(msg, submission.person_id)

    return deliver(services, f"{KIND}:{request_id}", KIND, prepare, attempt)


def _context(services: Services, definition: dict[str, Any], *, brand: Brand | None) -> dict[str, Any]:
    """What the templates read besides the links: the brand, the form version's definition and wording."""
    return {
        "brand": mail_brand(services, brand),
        "form": definition,
        "wording": wording.of(definition),
        "download_days": services.settings.download_max_age // 86400,
    }


def preview(services: Services, definition: dict[str, Any], brand: Brand | None, to: str) -> OutgoingMessage:
    """The whitepaper mail of this definition, with example links."""
    unsubscribe_url = links.example(services, UNSUBSCRIBE)
    context = _context(services, definition, brand=brand)
    context.update(
        download_url=links.example(services, DOWNLOAD),
        unsubscribe_url=unsubscribe_url,
        preferences_url=links.example(services, PREFERENCES),
    )
    rendered = render(KIND, definition["language"], context)
    return compose_to(services, to, rendered, unsubscribe_url=unsubscribe_url, brand=brand)
