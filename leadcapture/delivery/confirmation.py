"""The double opt-in email: what was asked, one button, and 'this wasn't me'.

The mail names the requests by their wording only (never what the visitor typed) and carries one
link: the confirm page, which lists everything, lets the person leave a purpose out and confirms
with a POST. A mail sent when its mailbox's window ended lists every request made in it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, joinedload, selectinload

from leadcapture.consent import gates, window
from leadcapture.delivery import links
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.templates import compose_for, mail_brand, render
from leadcapture.i18n import translate
from leadcapture.models import PENDING, PURPOSE, LeadRequest, Submission
from leadcapture.services import Services

KIND = "confirmation"
# What the gate and the message read, in one round trip (the requests in a second) instead of four.
_WITH_ALL = (joinedload(Submission.person), joinedload(Submission.form_version), selectinload(Submission.requests))

NOT_DUE = "not due"  # listed in another mail, waiting for the next window, or nothing left to confirm


def label_of(request: LeadRequest, language: str) -> str:
    """The wording of a request as its form showed it: the purpose's label, or the whitepaper's title."""
    version = request.submission.form_version
    if request.kind == PURPOSE:
        return (version.purpose(request.purpose_key) or {}).get("label", request.purpose_key)
    return translate("the_whitepaper", language, title=version.definition["title"])


def send(services: Services, submission_id: int, *, attempt: Attempt = NO_JOB) -> str:
    """Send a submission's confirmation email once, when its window allows and if it still asks for something."""
    with services.db.session() as session:
        due = window.mail_due(session, services.vault, services.settings, submission_id)
    if not due:
        return NOT_DUE

    def prepare(session: Session) -> Outgoing | None:
        submission = session.get(Submission, submission_id, options=_WITH_ALL)
        if not gates.may_send_confirmation(session, submission):
            return None
        language = submission.language
        requests = [r for r in window.listed_in(session, submission) if r.state == PENDING]
        labels = list(dict.fromkeys(label_of(r, language) for r in requests))  # a whitepaper asked twice: once
        brand = submission.form_version.form.brand
        context = {
            "brand": mail_brand(services, brand),
            "form": submission.form_version.definition,
            "items": labels,
            "confirm_url": links.confirm_submission(services, submission),
            "not_me_url": links.not_me(services, submission),
            "preferences_url": links.preferences(services, submission.person),
            "max_age_days": services.settings.confirm_max_age // 86400,
        }
        rendered = render("confirmation", language, context)
        # The one-click target of a confirmation is 'this wasn't me'; it carries no promotion.
        msg = compose_for(
            services,
            submission.person,
            rendered,
            unsubscribe_url=context["not_me_url"],
            auto_submitted=True,
            brand=brand,
        )
        return Outgoing(msg, submission.person_id)

    return deliver(services, f"{KIND}:{submission_id}", KIND, prepare, attempt)
