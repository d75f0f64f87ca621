"""The pages behind the links in messages: confirm, one-click opt-out ("not me" too), download.

Each route takes the URL prefix delivery/links.py builds its links with. Links in emails never
change state on GET or HEAD: they show a page whose button POSTs.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, make_response, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadcapture.consent import tally, window
from leadcapture.consent import transitions as consent
from leadcapture.consent.customfields import submitted_answers
from leadcapture.consent.people import is_suppressed
from leadcapture.consent.tokens import (
    CONFIRM,
    DOWNLOAD,
    UNSUBSCRIBE,
    ConfirmRequest,
    ConfirmSubmission,
    NotMe,
    Withdraw,
)
from leadcapture.delivery import links
from leadcapture.delivery.confirmation import label_of
from leadcapture.delivery.links import PREFIXES
from leadcapture.models import (
    ASSET,
    CONFIRMED,
    DROPPED,
    PENDING,
    PURPOSE,
    Asset,
    Consent,
    LeadRequest,
    Person,
    Submission,
)
from leadcapture.web import ratelimit
from leadcapture.web.context import get_services, get_session, use_language
from leadcapture.web.errors import InvalidLink
from leadcapture.web.public.common import FIELD_LABELS, by_public_id, load_token, visitor

bp = Blueprint("links", __name__)

# Never a purpose key: leaving it out of a confirmation keeps the typed name, company and phone unstored.
DETAILS = "_details"


def _requests_for(payload: ConfirmRequest | ConfirmSubmission) -> tuple[Submission, list[LeadRequest]]:
    """The submission and the requests a confirm link names; InvalidLink once they are gone.

    The mail's button names everything its mail listed. An older mail's link for one purpose
    names that purpose and the whitepaper of its submission: any confirmation proves the address.
    """
    if isinstance(payload, ConfirmSubmission):
        submission = by_public_id(Submission, payload.submission_public_id)
        return submission, window.listed_in(get_session(), submission)
    request_row = by_public_id(LeadRequest, payload.request_public_id)
    submission = request_row.submission
    assets = [r for r in submission.requests if r.kind == ASSET] if request_row.kind != ASSET else []
    return submission, [request_row, *assets]


def _left_out(requests: list[LeadRequest], asked: list[str]) -> set[str]:
    """What the person chose to leave out: purpose keys of these requests, and DETAILS."""
    keys = {r.purpose_key for r in requests if r.kind == PURPOSE} | {DETAILS}
    return {key for key in asked if key in keys}


def _chosen(requests: list[LeadRequest], left_out: set[str]) -> list[LeadRequest]:
    """The requests the button confirms: every whitepaper, and the purposes not left out."""
    return [r for r in requests if r.kind == ASSET or r.purpose_key not in left_out]


def _page(
    token: str,
    submission: Submission,
    requests: list[LeadRequest],
    left_out: set[str],
    outcome: consent.Outcome | None = None,
) -> str:
    """The confirm page: what the button confirms, what was left out, what is confirmed, the downloads."""
    services, language = get_services(), submission.language
    pending = [r for r in requests if r.state == PENDING]
    chosen = _chosen(pending, left_out)
    leaving = [r for r in pending if r.kind == PURPOSE and r.purpose_key in left_out]
    confirmed = [r for r in requests if r.state == CONFIRMED]
    typed_in = list({r.submission.id: r.submission for r in pending}.values())
    typed = consent.submitted_details(services.vault, typed_in)
    details = [(FIELD_LABELS[name], value) for name, value in typed.items()]
    details += [(a["label"], a["value"]) for a in submitted_answers(services.vault, typed_in)]
    downloads: dict[str, str] = {}  # one per whitepaper title
    for r in confirmed:
        if r.kind == ASSET:
            downloads.setdefault(r.submission.form_version.definition["title"], links.download(services, r))

    def toggled(key: str) -> str:
        return url_for("links.confirm", token=token, without=sorted(left_out ^ {key}))

    def described(rows: list[LeadRequest]) -> list[dict[str, Any]]:
        items = {}
        for r in rows:
            items.setdefault(r.purpose_key or f"asset:{r.id}", {"label": label_of(r, language), "key": r.purpose_key})
        return list({item["label"]: item for item in items.values()}.values())  # a whitepaper asked twice: once

    return render_template(
        "confirm.html",
        definition=submission.form_version.definition,
        token=token,
        chosen=[{**item, "toggle": item["key"] and toggled(item["key"])} for item in described(chosen)],
        leaving=[{**item, "toggle": toggled(item["key"])} for item in described(leaving)],
        confirmed=described(confirmed),
        dropped=described([r for r in requests if r.state == DROPPED]),
        details=[(name, value) for name, value in details if value],
        details_kept=DETAILS not in left_out,
        details_toggle=toggled(DETAILS),
        left_out=sorted(left_out),
        downloads=downloads,
        outcome=outcome,
        # Only said when the whitepaper mail really goes: a bounced or blocked address gets none.
        asset_mailed=outcome is not None
        and ASSET in outcome.changed
        and not is_suppressed(get_session(), submission.person),
        preferences_url=links.preferences(services, submission.person),
    )


@bp.route(f"/{PREFIXES[CONFIRM]}/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """GET shows what the button confirms (and lets the person leave a purpose out); only its POST confirms."""
    payload = load_token(CONFIRM, token)
    submission, requests = _requests_for(payload)
    use_language(submission.language)
    left_out = _left_out(requests, request.values.getlist("without"))
    if request.method != "POST":  # GET and HEAD only ever show a page
        return _page(token, submission, requests, left_out)
    services = get_services()
    session = get_session()
    outcome = consent.confirm(
        session,
        services.vault,
        services.settings,
        _chosen(requests, left_out),
        method="confirm_page",
        visitor=visitor(),
        keep_details=DETAILS not in left_out,
    )
    session.commit()
    return _page(token, submission, requests, left_out, outcome)


@bp.get(f"/{PREFIXES[DOWNLOAD]}/<token>")
def download(token: str):
    """Serve the whitepaper for a confirmed asset request (a signed, expiring link)."""
    payload = load_token(DOWNLOAD, token)
    session = get_session()
    req = by_public_id(LeadRequest, payload.request_public_id)
    if req.kind != ASSET or req.state != CONFIRMED:
        raise InvalidLink()
    definition = req.submission.form_version.definition
    asset = session.get(Asset, definition["asset_sha256"])
    if asset is None:
        abort(404)
    if request.method == "GET":  # a HEAD fetches no file
        tally.count(session, req.submission.form_version.form_id, tally.DOWNLOADED, [tally.ASSET_KEY])
        session.commit()
    response = make_response(asset.data)
    response.headers["Content-Type"] = asset.content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{asset.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route(f"/{PREFIXES[UNSUBSCRIBE]}/<token>", methods=["GET", "POST"])
@ratelimit.exempt_posts
def unsubscribe(token: str):
    """RFC 8058 one-click: POST withdraws (no cookie, no CSRF, no redirect); GET shows a button."""
    payload = load_token(UNSUBSCRIBE, token)
    if isinstance(payload, NotMe):
        return _not_me(payload, token)
    return _withdraw(payload, token)


def _not_me(payload: NotMe, token: str):
    """'This wasn't me': the POST drops the submission someone made with this address."""
    session = get_session()
    submission = by_public_id(Submission, payload.submission_public_id)
    use_language(submission.person.language)
    if request.method != "POST":  # GET and HEAD only ever show a page
        definition = submission.form_version.definition
        return render_template(
            "unsubscribe.html",
            not_me=True,
            title=definition["title"],
            controller=definition["controller"],
            token=token,
        )
    services = get_services()
    consent.not_me(session, services.vault, services.settings, submission, visitor=visitor())
    session.commit()
    return render_template(
        "message.html",
        title=gettext("You are unsubscribed"),
        body=gettext("Done. The request is cancelled and we will not email this address again."),
    )


def _withdraw(payload: Withdraw, token: str):
    """The POST withdraws the link's purpose (every purpose if it names none)."""
    session = get_session()
    person = by_public_id(Person, payload.person_public_id)
    use_language(person.language)
    key = payload.purpose_key
    if request.method != "POST":  # GET and HEAD only ever show a page
        label, controller = _withdrawal_notice(session, person, key, payload.brand_id)
        return render_template("unsubscribe.html", not_me=False, label=label, controller=controller, token=token)
    services = get_services()
    method = "one_click" if request.form.get("List-Unsubscribe") == "One-Click" else "confirm_page"
    keys = [key] if key else None
    consent.withdraw(
        session,
        services.vault,
        services.settings,
        person,
        keys,
        method=method,
        visitor=visitor(),
        brand_id=payload.brand_id,
    )
    session.commit()
    return render_template(
        "message.html",
        title=gettext("You are unsubscribed"),
        body=gettext("Done. You will no longer receive this."),
        more=gettext("Want to change your other choices?"),
        link_url=links.preferences(services, person),
        link_text=gettext("Manage your preferences"),
    )


def _withdrawal_notice(
    session: Session, person: Person, key: str | None, brand_id: int | None
) -> tuple[str | None, str | None]:
    """What a withdrawal link stops (the label the person agreed to; None: everything) and from whom (the controllers).

    The key itself stands in for a label nothing is left to name; None for controllers nothing names.
    """
    query = select(Consent).where(Consent.person_id == person.id)
    if brand_id is not None:
        query = query.where(Consent.brand_id == brand_id)
    rows = session.scalars(query.where(Consent.purpose_key == key) if key else query).all()
    versions = [row.form_version for row in rows]
    if not versions:  # only a whitepaper asked for: the forms they used name the controller
        submissions = session.scalars(select(Submission).where(Submission.person_id == person.id))
        versions = [submission.form_version for submission in submissions]
    controllers = list(dict.fromkeys(version.definition["controller"] for version in versions))
    purpose = rows[0].form_version.purpose(key) if key and rows else None
    label = purpose["label"] if purpose else key
    return label, "; ".join(controllers) or None
