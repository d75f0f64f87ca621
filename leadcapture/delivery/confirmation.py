"""The double opt-in email: a signed link per request, a 'confirm all', and 'this wasn't me'."""

from __future__ import annotations

from sqlalchemy.orm import Session, joinedload, selectinload

from leadcapture.consent import gates
from leadcapture.delivery import links
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.templates import compose_for, render
from leadcapture.i18n import translate
from leadcapture.models import PENDING, PURPOSE, Submission
from leadcapture.services import Services

KIND = "confirmation"
# What the gate and the message read, in one round trip (the requests in a second) instead of four.
_WITH_ALL = (joinedload(Submission.person), joinedload(Submission.form_version), selectinload(Submission.requests))


def send(services: Services, submission_id: int, *, attempt: Attempt = NO_JOB) -> str:
    """Send a submission's confirmation email once, if it still asks for something."""

    def prepare(session: Session) -> Outgoing | None:
        submission = session.get(Submission, submission_id, options=_WITH_ALL)
        if not gates.may_send_confirmation(session, submission):
            return None
        version = submission.form_version
        definition = version.definition
        items = []
        for request in submission.requests:
            if request.state != PENDING:
                continue
            if request.kind == PURPOSE:
                label = (version.purpose(request.purpose_key) or {}).get("label", request.purpose_key)
            else:
                label = translate("the_whitepaper", submission.language, title=definition["title"])
            items.append({"label": label, "confirm_url": links.confirm_request(services, request)})
        context = {
            "form": definition,
            "items": items,
            "confirm_all_url": links.confirm_submission(services, submission),
            "not_me_url": links.not_me(services, submission),
            "preferences_url": links.preferences(services, submission.person),
            "max_age_days": services.settings.confirm_max_age // 86400,
        }
        rendered = render("confirmation", submission.language, context)
        # The one-click target of a confirmation is 'this wasn't me'; it carries no promotion.
        msg = compose_for(
            services, submission.person, rendered, unsubscribe_url=context["not_me_url"], auto_submitted=True
        )
        return Outgoing(msg, submission.person_id)

    return deliver(services, f"{KIND}:{submission_id}", KIND, prepare, attempt)
