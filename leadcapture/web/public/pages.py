"""Public pages: the hosted form, confirmation, one-click opt-out, download (preferences: web/preferences.py).

Links in emails never change state on GET or HEAD: they show a page whose button POSTs.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, make_response, render_template, request
from sqlalchemy import select

from forms import make_form
from leadcapture.consent import formdefs, outbox
from leadcapture.consent import transitions as consent
from leadcapture.consent.people import Visitor
from leadcapture.consent.tokens import (
    CONFIRM,
    DOWNLOAD,
    PREFERENCES,
    UNSUBSCRIBE,
    TokenExpired,
    TokenInvalid,
)
from leadcapture.delivery import links
from leadcapture.i18n import DEFAULT_LANGUAGE, translate
from leadcapture.models import ASSET, Asset, Consent, FormVersion, LeadRequest, Person, Submission
from leadcapture.web.context import get_services, get_session
from leadcapture.web.errors import page

bp = Blueprint("public", __name__)
log = logging.getLogger(__name__)


def _visitor(page_url: str | None = None) -> Visitor:
    return Visitor(
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:300] or None,
        page_url=page_url or _this_url(),
    )


def _this_url() -> str:
    """The URL of this request built on BASE_URL: a forged Host header never reaches the ledger."""
    return get_services().url(request.full_path.rstrip("?"))[:2000]


def _live_version(slug: str) -> FormVersion:
    version = formdefs.current_version(get_session(), slug)
    if version is None:
        abort(404)
    g.language = version.definition["language"]
    return version


def _frame_ancestors(definition: dict[str, Any]) -> None:
    g.frame_ancestors = " ".join(["'self'", *definition["allowed_origins"]])


def frame_ancestors_for_slug(slug: str) -> None:
    """Set the form's CSP frame-ancestors early (before rate limits), so even a 429 shows in its embed."""
    _frame_ancestors(_live_version(slug).definition)


def _own_origin() -> str:
    base = urlsplit(get_services().settings.base_url)
    return f"{base.scheme}://{base.netloc}"


def _origin_allowed(definition: dict[str, Any]) -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return True  # same-origin form posts from some browsers, and non-browser clients
    return origin in (_own_origin(), *definition["allowed_origins"])


def _parent_origin(definition: dict[str, Any]) -> str | None:
    """The embedding page's origin as embed.js passed it, if the form allows it (frame.js posts only there)."""
    origin = request.args.get("origin", "")
    return origin if origin in (_own_origin(), *definition["allowed_origins"]) else None


def relay_outbox() -> None:
    """Publish the jobs just committed; if the broker is down they wait for the periodic relay."""
    outbox.relay_now(get_services())


@bp.route("/f/<slug>", methods=["GET", "POST"])
def form(slug: str):
    """GET shows the form; POST stores the submission and answers the same for every address."""
    version = _live_version(slug)
    definition = version.definition
    _frame_ancestors(definition)
    embedded = request.values.get("embed") == "1"
    g.parent_origin = _parent_origin(definition) if embedded else None
    lead_form = make_form(definition)
    if request.method != "POST":  # GET and HEAD only ever show a page
        lead_form.page_url.data = request.args.get("page", "")[:2000] or _this_url()
        return _render_form(version, lead_form, embedded)
    if not _origin_allowed(definition):
        return page(403)
    services = get_services()
    if not lead_form.validate() or not lead_form.proof_of_work_ok(services.settings.pow_difficulty):
        return _render_form(version, lead_form, embedded), 400
    if not lead_form.looks_automated(services.settings.min_fill_seconds):
        offered = {p["key"] for p in definition["purposes"]}
        keys = [k for k in lead_form.purpose_keys() if k in offered]
        session = get_session()
        consent.submit(
            session,
            services.vault,
            services.settings,
            version,
            email=lead_form.email.data,
            fields=lead_form.extra_fields(),
            purpose_keys=keys,
            visitor=_visitor(lead_form.page_url.data),
        )
        session.commit()
        relay_outbox()
    # Bots get the same answer as people; so does every address, whatever its state.
    return render_template("check_mail.html", definition=definition, embedded=embedded)


def _render_form(version: FormVersion, lead_form: Any, embedded: bool) -> str:
    return render_form_page(version.definition, lead_form, embedded)


def render_form_page(definition: dict[str, Any], lead_form: Any, embedded: bool) -> str:
    """The hosted form page for a definition (also the admin's live preview)."""
    return render_template(
        "form.html",
        definition=definition,
        form=lead_form,
        embedded=embedded,
        retention_days=get_services().settings.unconfirmed_retention_days,
        pow_bits=get_services().settings.pow_difficulty,
        form_query=_embed_query() if embedded else {},
    )


def _embed_query() -> dict[str, str]:
    """Query of the embedded form's action: the POST answer stays embedded and knows its parent."""
    return {"embed": "1", "origin": g.parent_origin} if g.get("parent_origin") else {"embed": "1"}


@bp.get("/f/<slug>/embed.js")
def embed_js(slug: str):
    """The embed script: renders the hosted form in an auto-sizing iframe on the host page."""
    version = _live_version(slug)
    services = get_services()
    body = render_template(
        "embed.js",
        frame_url=services.url(f"/f/{slug}?embed=1"),
        origin=_own_origin(),
        allowed=[_own_origin(), *version.definition["allowed_origins"]],
        slug=slug,
        title=version.definition["title"],
    )
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# Which id a token of each kind must carry (one of them).
_NEEDS = {CONFIRM: ("r", "s"), UNSUBSCRIBE: ("s", "p"), DOWNLOAD: ("r",), PREFERENCES: ("p",)}
MAX_TOKEN_LENGTH = 1024  # ours are under 200 characters; longer ones are refused before any work


def _load(kind: str, token: str) -> dict[str, Any] | Response:
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid(kind)
        payload = get_services().tokens.load(kind, token)
    except TokenExpired:
        return _token_page("token_expired_title", "token_expired_body", 410)
    except TokenInvalid:
        return _token_page("token_invalid_title", "token_invalid_body", 404)
    if not _well_formed(payload) or not any(k in payload for k in _NEEDS[kind]):
        return _token_page("token_invalid_title", "token_invalid_body", 404)
    return payload


def _well_formed(payload: dict[str, Any]) -> bool:
    """Ids are integers and keys strings: a validly signed but odd payload (old code, a bug) is refused, not a 500."""
    ids_ok = all(
        type(payload[k]) is int and 0 < payload[k] < 2**63  # a database integer, never a bool or a string
        for k in "rsp"
        if k in payload
    )
    key = payload.get("k")
    return ids_ok and (key is None or isinstance(key, str))


def _token_page(title_key: str, body_key: str, status: int):
    return make_response(render_template("message.html", title=translate(title_key), body=translate(body_key)), status)


def _requests_for(payload: dict[str, Any]) -> tuple[Submission | None, list[LeadRequest]]:
    session = get_session()
    if "s" in payload:
        submission = session.get(Submission, payload["s"])
        return submission, list(submission.requests) if submission else []
    request_row = session.get(LeadRequest, payload.get("r"))
    return (request_row.submission if request_row else None), ([request_row] if request_row else [])


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


@bp.route("/c/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """GET shows what will be confirmed and a button; only the POST from it confirms."""
    payload = _load(CONFIRM, token)
    if isinstance(payload, Response):
        return payload
    submission, requests = _requests_for(payload)
    if submission is None:
        return _token_page("token_invalid_title", "dropped", 404)
    g.language = submission.language
    definition = submission.form_version.definition
    if request.method != "POST":  # GET and HEAD only ever show a page
        return render_template(
            "confirm.html", definition=definition, items=_describe(submission, requests), token=token
        )
    services = get_services()
    session = get_session()
    outcome = consent.confirm(
        session, services.vault, services.settings, requests, method="confirm_page", visitor=_visitor()
    )
    session.commit()
    relay_outbox()
    asset_request = next((r for r in requests if r.kind == ASSET and r.state == "confirmed"), None)
    download_url = links.download(services, asset_request) if asset_request else None
    return render_template(
        "confirmed.html",
        definition=definition,
        outcome=outcome,
        items=_describe(submission, requests),
        download_url=download_url,
        preferences_url=links.preferences(services, submission.person_id),
    )


@bp.get("/d/<token>")
def download(token: str):
    """Serve the whitepaper for a confirmed asset request (a signed, expiring link)."""
    payload = _load(DOWNLOAD, token)
    if isinstance(payload, Response):
        return payload
    session = get_session()
    req = session.get(LeadRequest, payload.get("r"))
    if req is None or req.kind != ASSET or req.state != "confirmed":
        return _token_page("token_invalid_title", "token_invalid_body", 404)
    definition = req.submission.form_version.definition
    asset = session.get(Asset, definition["asset_sha256"])
    if asset is None:
        abort(404)
    response = make_response(asset.data)
    response.headers["Content-Type"] = asset.content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{asset.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """RFC 8058 one-click: POST withdraws (no cookie, no CSRF, no redirect); GET shows a button."""
    payload = _load(UNSUBSCRIBE, token)
    if isinstance(payload, Response):
        return payload
    session = get_session()
    services = get_services()
    not_me = "s" in payload
    submission = session.get(Submission, payload["s"]) if not_me else None
    person = submission.person if submission else (session.get(Person, payload["p"]) if "p" in payload else None)
    g.language = person.language if person else DEFAULT_LANGUAGE
    label = None
    if not not_me and payload.get("k"):
        label = _purpose_label(session, person, payload["k"])
    if request.method != "POST":  # GET and HEAD only ever show a page
        return render_template("unsubscribe.html", not_me=not_me, label=label, token=token)
    method = "one_click" if request.form.get("List-Unsubscribe") == "One-Click" else "confirm_page"
    if person is not None:
        if not_me and submission is not None:
            consent.not_me(session, services.vault, services.settings, submission, visitor=_visitor())
        else:
            keys = [payload["k"]] if payload.get("k") else None
            consent.withdraw(
                session, services.vault, services.settings, person, keys, method=method, visitor=_visitor()
            )
        session.commit()
    body = translate("not_me_done") if not_me else translate("unsubscribed_body")
    return render_template("message.html", title=translate("unsubscribed_title"), body=body)


def _purpose_label(session, person: Person | None, key: str) -> str:
    if person is None:
        return key
    row = session.scalar(select(Consent).where(Consent.person_id == person.id, Consent.purpose_key == key))
    purpose = row.form_version.purpose(key) if row else None
    return purpose["label"] if purpose else key
