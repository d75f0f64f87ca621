"""The hosted form and its embed script: GET shows the form, POST stores a submission.

Every page here shows the live form version, named by the slug in the URL; a post is stored with the
version its page showed (its form token names it), live or not.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, abort, current_app, g, make_response, render_template, request
from flask_babel import gettext
from markupsafe import escape

from forms import make_form, shown_version_id
from leadcapture.consent import transitions as consent
from leadcapture.consent import versions
from leadcapture.consent.source import UTM_KEYS, Source
from leadcapture.consent.tokens import spend_form_token
from leadcapture.i18n import format_minutes
from leadcapture.models import FormVersion
from leadcapture.services import FORM_TOKEN_MAX_AGE
from leadcapture.web import ratelimit
from leadcapture.web.context import get_services, get_session, use_language
from leadcapture.web.errors import page
from leadcapture.web.public.brand import page_brand
from leadcapture.web.public.common import FIELD_LABELS, this_url, visitor

bp = Blueprint("form", __name__)


@bp.url_value_preprocessor
def open_live_version(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Load the form the URL names before anything answers, rate limits included.

    So a 404 comes before any limit, and a 429 is in the form's language and, on the form page,
    still allowed inside its embed.
    """
    version = versions.current_version(get_session(), (values or {}).get("slug", ""))
    if version is None:
        abort(404)
    g.form_version = version
    use_language(version.definition["language"])
    if endpoint == "form.form":  # the page a website frames (embed.js is a script)
        g.frame_ancestors = " ".join(["'self'", *version.definition["allowed_origins"]])


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


@bp.route("/f/<slug>", methods=["GET", "POST"])
@ratelimit.limit_submissions
def form(slug: str):
    """GET shows the form; POST stores the submission and answers the same for every address."""
    live: FormVersion = g.form_version
    version = _shown_version(slug, live) if request.method == "POST" else live
    definition = version.definition
    embedded = request.values.get("embed") == "1"
    g.parent_origin = _parent_origin(live.definition) if embedded else None
    lead_form = make_form(definition, version.id)
    if request.method != "POST":  # GET and HEAD only ever show a page
        lead_form.page_url.data = request.args.get("page", "")[:2000] or this_url()
        source = _carry_source(lead_form, embedded)
        response = make_response(render_form_page(definition, lead_form, embedded))
        if request.method == "GET":
            views = current_app.extensions["leadcapture.views"]
            views.seen(version.form_id, source.funnel_source)
            response.call_on_close(views.flush_if_due)  # after this request's transaction ended
        return response
    if not _origin_allowed(live.definition):
        return page(403)
    services = get_services()
    if not lead_form.validate() or not lead_form.proof_of_work_ok(services.settings.pow_difficulty):
        return render_form_page(definition, lead_form, embedded, _ticked_by_visitor(lead_form)), 400
    session = get_session()
    token = (lead_form.csrf_token.raw_data or [""])[0]
    automated = lead_form.looks_automated(services.settings.min_fill_seconds)
    if not automated and not spend_form_token(session, token, FORM_TOKEN_MAX_AGE):
        # This page was sent before (the back button, a second click): what the visitor typed now is
        # shown again with a fresh token to send, never dropped. A bot replaying one token gets the
        # same, so the time trap costs it a wait per submission.
        session.rollback()
        lead_form.form_errors.append(
            gettext("This form was already sent from this page. Check your details and send it again.")
        )
        return render_form_page(definition, lead_form, embedded, _ticked_by_visitor(lead_form)), 409
    if not automated:
        offered = {p["key"] for p in definition["purposes"]}
        keys = [k for k in lead_form.purpose_keys() if k in offered]
        consent.submit(
            session,
            services.vault,
            services.settings,
            version,
            email=lead_form.email.data,
            fields=lead_form.extra_fields(),
            purpose_keys=keys,
            visitor=visitor(lead_form.page_url.data),
            answers=lead_form.answers(),
            source=lead_form.source(),
        )
        session.commit()
        ratelimit.mark_stored()
    # Bots get the same answer as people; so does every address, whatever its state.
    return _check_mail_page(version, embedded)


def _shown_version(slug: str, live: FormVersion) -> FormVersion:
    """The version the posted page showed: the person consented to its wording, even if another one went live since.

    Its form token names it; a token naming none (made before tokens did) gets the live version. So
    does one naming no version of this form, and the form token check then refuses the post (400).
    Only a post from a page shown before the live version was published costs a query.
    """
    shown = shown_version_id(slug)
    if shown is None or shown == live.id:
        return live
    version = versions.version_of_form(get_session(), live.form_id, shown)
    if version is None:
        return live
    use_language(version.definition["language"])
    return version


# The answer to a post is one page per form version, frame and brand (every visitor and every
# address gets the same), so each app renders it once and keeps it.
_ANSWERS = "leadcapture.answers"


def _check_mail_page(version: FormVersion, embedded: bool) -> str:
    definition = version.definition
    brand = page_brand(definition)
    key = (
        version.id,
        version.content_hash,
        request.script_root,
        embedded,
        g.get("parent_origin"),
        tuple(brand["brand"].items()) if brand["brand"] else None,
    )
    answers: dict[tuple[Any, ...], str] = current_app.extensions.setdefault(_ANSWERS, {})
    page = answers.get(key)
    if page is None:
        window = format_minutes(get_services().settings.confirmation_window, definition["language"])
        page = render_template("check_mail.html", definition=definition, embedded=embedded, window=window, **brand)
        if len(answers) >= 256:
            answers.clear()
        answers[key] = page
    return page


def _carry_source(lead_form: Any, embedded: bool) -> Source:
    """Put where the visitor came from into the form, so the submission records it (no cookie needed).

    The hosted page reads its own query and the Referer. In the embed, embed.js passes the host
    page's tags and its referrer (`ref`): this frame's own Referer is only the host page. A
    referrer on our own site (a reload, the page after a submit) says nothing about the source.
    """
    referrer = request.args.get("ref", "") if embedded else (request.referrer or "")
    if referrer.startswith(_own_origin() + "/") or referrer == _own_origin():
        referrer = ""
    source = Source.clean(*(request.args.get(name, "") for name in UTM_KEYS), referrer)
    for name in UTM_KEYS:
        lead_form[name].data = getattr(source, name)
    lead_form.referrer.data = source.referrer
    return source


def _ticked_by_visitor(lead_form: Any) -> frozenset[str]:
    """The boxes to show ticked again on a form sent back with an error: those the visitor ticked on our page.

    Only for a post the browser says came from our own page (`Sec-Fetch-Site: same-origin`; the
    Origin header cannot tell, as under `Referrer-Policy: no-referrer` it is "null"): a post from
    another site could otherwise show a person boxes they never ticked. Without the header, unticked.
    """
    if request.headers.get("Sec-Fetch-Site") != "same-origin":
        return frozenset()
    return frozenset(lead_form.purpose_keys())


def render_form_page(
    definition: dict[str, Any], lead_form: Any, embedded: bool, ticked: frozenset[str] = frozenset()
) -> str:
    """The hosted form page for a definition (also the admin's live preview); boxes unticked unless given."""
    settings = get_services().settings
    return render_template(
        "form.html",
        definition=definition,
        form=lead_form,
        ticked=ticked,
        embedded=embedded,
        retention_days=settings.unconfirmed_retention_days,
        pow_bits=settings.pow_difficulty,
        field_labels=FIELD_LABELS,
        form_query=_embed_query() if embedded else {},
        **page_brand(definition),
    )


def _embed_query() -> dict[str, str]:
    """Query of the embedded form's action: the POST answer stays embedded and knows its parent."""
    return {"embed": "1", "origin": g.parent_origin} if g.get("parent_origin") else {"embed": "1"}


def hosted_url(slug: str) -> str:
    """The address of a form's hosted page."""
    return get_services().url(f"/f/{slug}")


def embed_snippet(slug: str) -> str:
    """The one line a website pastes to show a form (HTML; the slug is URL-quoted, so it is safe to write raw)."""
    src = escape(f"{hosted_url(quote(slug, safe=''))}/embed.js")
    return f'<script src="{src}" async></script>'


@bp.get("/f/<slug>/embed.js")
def embed_js(slug: str):
    """The embed script: renders the hosted form in an auto-sizing iframe on the host page."""
    definition = g.form_version.definition
    own = _own_origin()
    body = render_template(
        "embed.js",
        frame_url=f"{hosted_url(slug)}?embed=1",
        origin=own,
        allowed=[own, *definition["allowed_origins"]],
        slug=slug,
        title=definition["title"],
        not_allowed=gettext(  # embed.js fills in the origin
            "This form cannot be shown on %(origin)s: add the site to the form's allowed_origins (form %(slug)s).",
            origin="{origin}",
            slug=slug,
        ),
    )
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
