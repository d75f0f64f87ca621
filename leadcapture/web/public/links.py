"""The pages behind the links in messages: confirm, one-click opt-out ("not me" too), download.

Each route takes the URL prefix delivery/links.py builds its links with. Links in emails never
change state on GET or HEAD: they show a page whose button POSTs.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, make_response, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadcapture.consent import tally
from leadcapture.consent import transitions as consent
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
from leadcapture.delivery.links import PREFIXES
from leadcapture.i18n import translate
from leadcapture.models import ASSET, CONFIRMED, Asset, Consent, LeadRequest, Person, Submission
from leadcapture.web import ratelimit
from leadcapture.web.context import get_services, get_session
from leadcapture.web.errors import InvalidLink
from leadcapture.web.public.common import by_public_id, load_token, visitor

bp = Blueprint("links", __name__)


def _requests_for(payload: ConfirmRequest | ConfirmSubmission) -> tuple[Submission, list[LeadRequest]]:
    """The submission and the requests a confirm link names; InvalidLink once they are gone."""
    if isinstance(payload, ConfirmSubmission):
        submission = by_public_id(Submission, payload.submission_public_id)
        return submission, list(submission.requests)
    request_row = by_public_id(LeadRequest, payload.request_public_id)
    return request_row.submission, [request_row]


def _describe(submission: Submission, requests: list[LeadRequest]) -> list[dict[str, Any]]:
    version = submission.form_version
    items = []
    for req in requests:
        if req.kind == ASSET:
            label = translate("the_whitepaper", title=version.definition["title"])
        else:
            label = (version.purpose(req.purpose_key) or {}).get("label", req.purpose_key)
        items.append({"label": label, "state": req.state, "kind": req.kind})
    return items


@bp.route(f"/{PREFIXES[CONFIRM]}/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """GET shows what will be confirmed and a button; only the POST from it confirms."""
    payload = load_token(CONFIRM, token)
    submission, requests = _requests_for(payload)
    g.language = submission.language
    definition = submission.form_version.definition
    if request.method != "POST":  # GET and HEAD only ever show a page
        return render_template(
            "confirm.html", definition=definition, items=_describe(submission, requests), token=token
        )
    services = get_services()
    session = get_session()
    outcome = consent.confirm(
        session, services.vault, services.settings, requests, method="confirm_page", visitor=visitor()
    )
    session.commit()
    asset_request = next((r for r in requests if r.kind == ASSET and r.state == CONFIRMED), None)
    download_url = links.download(services, asset_request) if asset_request else None
    return render_template(
        "confirmed.html",
        definition=definition,
        outcome=outcome,
        items=_describe(submission, requests),
        download_url=download_url,
        preferences_url=links.preferences(services, submission.person),
    )


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
    g.language = submission.person.language
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
    return render_template("message.html", title=translate("unsubscribed_title"), body=translate("not_me_done"))


def _withdraw(payload: Withdraw, token: str):
    """The POST withdraws the link's purpose (every purpose if it names none)."""
    session = get_session()
    person = by_public_id(Person, payload.person_public_id)
    g.language = person.language
    key = payload.purpose_key
    if request.method != "POST":  # GET and HEAD only ever show a page
        label, controller = _withdrawal_notice(session, person, key)
        return render_template("unsubscribe.html", not_me=False, label=label, controller=controller, token=token)
    services = get_services()
    method = "one_click" if request.form.get("List-Unsubscribe") == "One-Click" else "confirm_page"
    keys = [key] if key else None
    consent.withdraw(session, services.vault, services.settings, person, keys, method=method, visitor=visitor())
    session.commit()
    return render_template(
        "message.html",
        title=translate("unsubscribed_title"),
        body=translate("unsubscribed_body"),
        more=translate("unsubscribed_more"),
        link_url=links.preferences(services, person),
        link_text=translate("preferences_link"),
    )


def _withdrawal_notice(session: Session, person: Person, key: str | None) -> tuple[str | None, str | None]:
    """What a withdrawal link stops (the label the person agreed to; None: everything) and from whom (the controllers).

    The key itself stands in for a label nothing is left to name; None for controllers nothing names.
    """
    query = select(Consent).where(Consent.person_id == person.id)
    rows = session.scalars(query.where(Consent.purpose_key == key) if key else query).all()
    versions = [row.form_version for row in rows]
    if not versions:  # only a whitepaper asked for: the forms they used name the controller
        submissions = session.scalars(select(Submission).where(Submission.person_id == person.id))
        versions = [submission.form_version for submission in submissions]
    controllers = list(dict.fromkeys(version.definition["controller"] for version in versions))
    purpose = rows[0].form_version.purpose(key) if key and rows else None
    label = purpose["label"] if purpose else key
    return label, "; ".join(controllers) or None
