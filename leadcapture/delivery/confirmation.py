"""The double opt-in email: what was asked, one button, and 'this wasn't me'.

The mail names the requests by their wording only (never what the visitor typed) and carries one
link: the confirm page, which lists everything, lets the person leave a purpose out and confirms
with a POST. A mail sent when its mailbox's window ended lists every request made in it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, contains_eager

from leadcapture.consent import gates, versions, window, wording
from leadcapture.consent.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE
from leadcapture.delivery import links
from leadcapture.delivery.engine import NO_JOB, Attempt, Outgoing, deliver
from leadcapture.delivery.renderer import render_once
from leadcapture.delivery.templates import compose_for, compose_to, mail_brand, render
from leadcapture.delivery.wire import OutgoingMessage
from leadcapture.i18n import gettext_in
from leadcapture.models import PENDING, PURPOSE, Brand, Form, FormVersion, LeadRequest, Submission
from leadcapture.services import Services

KIND = "confirmation"
# What the gate and the message read, in one round trip: the submission, its person and whether
# the address is suppressed, its form's brand, and the requests its mail lists (one row each:
# window.listing). Its form version comes from the process's cache (versions are immutable): the
# row names it by id and content hash, so the definition is not read and parsed for every mail.
_LOAD = window.listing(
    select(Submission, gates.SUPPRESSED, FormVersion.content_hash, Brand, LeadRequest)
    .join(Submission.person)
    .join(FormVersion, FormVersion.id == Submission.form_version_id)
    .join(Form, Form.id == FormVersion.form_id)
    .join(Brand, Brand.id == Form.brand_id)
    .options(contains_eager(Submission.person))
    .where(Submission.id == bindparam("b_id"))
    .order_by(LeadRequest.id),
    Submission.id,
)

# NOT_DUE: listed in another mail, waiting for the next window, or nothing left to confirm.


def label_of(request: LeadRequest, language: str, version: FormVersion | None = None) -> str:
    """The wording of a request as its form showed it: the purpose's label, or the whitepaper's title.

    version: the request's form version, when the caller has it; else it is read through the submission.
    """
    version = version or request.submission.form_version
    if request.kind == PURPOSE:
        return (version.purpose(request.purpose_key) or {}).get("label", request.purpose_key)
    return whitepaper_label(version.definition["title"], language)


def whitepaper_label(title: str, language: str) -> str:
    """How the mail and pages name a request for the whitepaper titled title."""
    return gettext_in(language, "Send me the whitepaper: %(title)s", title=title)


def send(services: Services, submission_id: int, *, attempt: Attempt = NO_JOB) -> str:
    """Send a submission's confirmation email once, when its window allows and if it still asks for something."""
    submission: Submission | None = None  # loaded once, with what the gate and the mail read
    suppressed = True
    version: FormVersion | None = None
    brand: Brand | None = None
    listed: list[LeadRequest] | None = None  # None: what the mail lists is read after the window fixed it

    def due(session: Session) -> bool:
        nonlocal submission, suppressed, version, brand, listed
        rows = session.execute(_LOAD, {"b_id": submission_id}).all()
        if rows:
            submission, suppressed, content_hash, brand, _ = rows[0]
            version = versions.cached(session, submission.form_version_id, content_hash)
            if submission.mailed_in is not None:  # its mail's list is fixed: mail_due changes nothing
                listed = window.as_listed(submission, [row[-1] for row in rows])
        return window.mail_due(session, services.vault, services.settings, submission_id)

    def prepare(session: Session) -> Outgoing | None:
        if submission is None or version is None:
            return None
        mail_lists = listed if listed is not None else window.listed_in(session, submission)
        if not gates.may_send_confirmation(session, submission, mail_lists, suppressed):
            return None
        language = submission.language
        requests = [r for r in mail_lists if r.state == PENDING]
        own = submission.id
        labels = list(  # a whitepaper asked twice: once
            dict.fromkeys(label_of(r, language, version if r.submission_id == own else None) for r in requests)
        )
        context = _context(services, version.definition, labels, brand=brand)
        key = (version.id, version.content_hash, context["brand"], tuple(labels), context["max_age_days"])
        urls = {
            "confirm_url": links.confirm_submission(services, submission),
            "not_me_url": links.not_me(services, submission),
            "preferences_url": links.preferences(services, submission.person),
        }
        rendered = render_once(KIND, language, key, context, urls)
        # The one-click target of a confirmation is 'this wasn't me'; it carries no promotion.
        msg = compose_for(
            services,
            submission.person,
            rendered,
            unsubscribe_url=urls["not_me_url"],
            auto_submitted=True,
            brand=brand,
        )
        return Outgoing(msg, submission.person_id)

    return deliver(services, f"{KIND}:{submission_id}", KIND, prepare, attempt, due)


def _context(
    services: Services, definition: dict[str, Any], items: list[str], *, brand: Brand | None
) -> dict[str, Any]:
    """What the templates read besides the links: the brand, the definition and its wording, what was asked."""
    return {
        "brand": mail_brand(services, brand),
        "form": definition,
        "wording": wording.of(definition),
        "items": items,
        "max_age_days": services.settings.confirm_max_age // 86400,
    }


def preview(services: Services, definition: dict[str, Any], brand: Brand | None, to: str) -> OutgoingMessage:
    """The mail a visitor who asked for everything the definition offers would get, with example links."""
    language = definition["language"]
    items = [
        whitepaper_label(definition["title"], language),
        *(p["label"] for p in definition["purposes"]),
    ]
    not_me_url = links.example(services, UNSUBSCRIBE)
    context = _context(services, definition, items, brand=brand)
    context.update(
        confirm_url=links.example(services, CONFIRM),
        not_me_url=not_me_url,
        preferences_url=links.example(services, PREFERENCES),
    )
    rendered = render(KIND, language, context)
    return compose_to(services, to, rendered, unsubscribe_url=not_me_url, auto_submitted=True, brand=brand)
