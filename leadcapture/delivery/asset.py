"""The whitepaper email: a signed, expiring download link for a confirmed asset request."""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadcapture.consent import gates
from leadcapture.delivery import links
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.templates import compose_for, mail_brand, render
from leadcapture.models import LeadRequest
from leadcapture.services import Services

KIND = "asset"


def send(services: Services, request_id: int, *, attempt: Attempt = NO_JOB) -> str:
    """Send the whitepaper of a confirmed asset request once."""

    def prepare(session: Session) -> Outgoing | None:
        request = session.get(LeadRequest, request_id)
        if not gates.may_deliver_asset(session, request):
            return None
        submission = request.submission
        brand = submission.form_version.form.brand
        context = {
            "brand": mail_brand(services, brand),
            "form": submission.form_version.definition,
            "download_url": links.download(services, request),
            "download_days": services.settings.download_max_age // 86400,
            # The whitepaper mail is not sent under a marketing purpose: its one-click
            # unsubscribe withdraws every purpose of this person.
            "unsubscribe_url": links.unsubscribe(services, submission.person, None),
            "preferences_url": links.preferences(services, submission.person),
        }
        rendered = render("asset", submission.language, context)
        msg = compose_for(
            services, submission.person, rendered, unsubscribe_url=context["unsubscribe_url"], brand=brand
        )
        return Outgoing(msg, submission.person_id)

    return deliver(services, f"{KIND}:{request_id}", KIND, prepare, attempt)
