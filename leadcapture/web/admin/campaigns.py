"""Campaigns in the admin: compose content for a purpose with a live preview, send a test to
yourself, start, schedule, pause, resume or cancel, and follow the figures while it sends."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from sqlalchemy import select

from leadcapture.delivery import campaign_admin, content
from leadcapture.delivery import campaigns as campaigns_mod
from leadcapture.delivery.renderer import ContentRenderer
from leadcapture.delivery.transports import MailError
from leadcapture.models import Brand, Campaign, ContentItem, utcnow
from leadcapture.web.admin.auth import audit, bp, current_user, require
from leadcapture.web.context import get_services, get_session

ACTIONS = {
    "start": campaigns_mod.start,
    "pause": campaigns_mod.pause,
    "resume": campaigns_mod.resume,
    "cancel": campaign_admin.cancel,
}


def _drafts() -> list[content.Draft]:
    """The languages the marketer wrote (a language left empty is not part of the item)."""
    drafts = []
    for language in content.LANGUAGES:
        subject = request.form.get(f"subject_{language}", "").strip()
        body = request.form.get(f"body_{language}", "")
        if subject or body.strip():
            drafts.append(content.Draft(language=language, subject=" ".join(subject.split()), body_markdown=body))
    return drafts


def _compose_page(status: int = 200, error: str | None = None):
    session = get_session()
    audiences = campaign_admin.audiences(session)
    values = {k: v for k, v in (request.form or request.args).items() if k != "csrf_token"}
    return render_template(
        "admin/campaign_new.html", audiences=audiences, languages=content.LANGUAGES, values=values, error=error
    ), status


@bp.get("/campaigns")
@require("campaigns")
def campaigns_list():
    """Every campaign, newest first, and the welcome item of each purpose."""
    session = get_session()
    rows = [campaigns_mod.progress(session, c.id) for c in campaigns_mod.list_campaigns(session)]
    welcome = [(key, content.welcome_item(session, key)) for key, _label in content.email_purposes(session)]
    return render_template("admin/campaigns.html", rows=rows, welcome=welcome)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@require("campaigns")
def campaign_new():
    """Write the content in each language; save it as a draft campaign (or as the purpose's welcome)."""
    if request.method == "GET":
        return _compose_page()
    session = get_session()
    welcome = bool(request.form.get("welcome"))
    try:
        value = request.form.get("purpose", "")
        # A welcome message belongs to the purpose wherever it is confirmed; a campaign to one brand's audience.
        brand_id, key = (None, value.rpartition(":")[2]) if welcome else campaign_admin.parse_audience(session, value)
        item = content.create_item(session, key, _drafts(), welcome=welcome)
        campaign = None if welcome else campaigns_mod.create_campaign(session, item.id, brand_id)
    except (content.ContentError, campaigns_mod.CampaignError) as exc:
        session.rollback()
        return _compose_page(400, str(exc))
    audit("content.create", f"item {item.id}", purpose=item.purpose_key, brand=brand_id, welcome=welcome)
    session.commit()
    if campaign is None:
        flash(f"Saved: the welcome message of {item.purpose_key!r} goes to each person who confirms it from now on.")
        return redirect(url_for("admin.campaigns_list"))
    flash("Saved as a draft. Send yourself a test, then start or schedule it.")
    return redirect(url_for("admin.campaign", campaign_id=campaign.id))


@bp.post("/campaigns/preview")
@require("campaigns")
def campaign_preview():
    """The HTML part as recipients will see it, for the language asked (shown in the editor's frame)."""
    language = request.form.get("preview_language", content.LANGUAGES[0])
    draft = next((d for d in _drafts() if d.language == language), None)
    if draft is None:
        return render_template("admin/preview_problems.html", problems=[f"Nothing written in {language} yet."])
    session = get_session()
    try:
        brand_id, key = campaign_admin.parse_audience(session, request.form.get("purpose", ""))
    except campaigns_mod.CampaignError as exc:
        return render_template("admin/preview_problems.html", problems=[str(exc)])
    item = ContentItem(purpose_key=key)
    item.translations.append(
        content.ContentTranslation(
            language=language,
            subject=draft.subject or "(no subject)",
            body_markdown=draft.body_markdown,
            body_html=content.to_html(draft.body_markdown),
            body_text=content.to_text(draft.body_markdown),
        )
    )
    version = content.live_version_with(session, key, brand_id)
    renderer = ContentRenderer(get_services(), item, key, brand_id)
    renderer.load_versions(session, {version.id if version else None})
    message = renderer.test_message(current_user().email, language, version.id if version else None, "#")
    response = make_response(message.get_body(("html",)).get_content())
    # Email HTML is inline styles; no scripts, shown only inside the admin's own frame.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'"
    )
    return response


def _campaign(campaign_id: int) -> Campaign:
    campaign = get_session().get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


@bp.get("/campaigns/<int:campaign_id>")
@require("campaigns")
def campaign(campaign_id: int):
    """One campaign: its content, state, figures and what can be done now."""
    session = get_session()
    row = _campaign(campaign_id)
    figures = campaigns_mod.progress(session, campaign_id)
    return render_template(
        "admin/campaign.html",
        c=row,
        p=figures,
        item=session.get(ContentItem, row.item_id),
        audience=campaign_admin.audience(session, row.purpose_key, row.brand_id),
        brand=session.get(Brand, row.brand_id),
        unsubscribed=campaign_admin.unsubscribed_since(session, row),
    )


@bp.post("/campaigns/<int:campaign_id>")
@require("campaigns")
def campaign_action(campaign_id: int):
    """Send a test to yourself, start, schedule, pause, resume or cancel."""
    session = get_session()
    row = _campaign(campaign_id)
    action = request.form.get("action", "")
    try:
        if action == "test":
            message = _send_test(row)
        elif action == "schedule":
            message = campaign_admin.schedule(session, campaign_id, _when(), utcnow())
        elif action == "unschedule":
            message = campaign_admin.schedule(session, campaign_id, None, utcnow())
        elif action in ACTIONS:
            message = ACTIONS[action](session, campaign_id)
        else:
            abort(400)
    except (campaigns_mod.CampaignError, MailError) as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.campaign", campaign_id=campaign_id))
    audit(f"campaign.{action}", f"campaign {campaign_id}")
    session.commit()  # the fan-out job goes to the workers at this commit
    flash(message)
    return redirect(url_for("admin.campaign", campaign_id=campaign_id))


def _when() -> datetime:
    """The time typed into the schedule field (UTC)."""
    try:
        return datetime.fromisoformat(request.form.get("when", "")).replace(tzinfo=UTC)
    except ValueError as exc:
        raise campaigns_mod.CampaignError("give a date and time to start at") from exc


def _send_test(row: Campaign) -> str:
    """The campaign's message in each of its languages to the signed-in user, marked as a test."""
    session = get_session()
    services = get_services()
    item = session.scalar(select(ContentItem).where(ContentItem.id == row.item_id))
    version = content.live_version_with(session, row.purpose_key, row.brand_id)
    version_id = version.id if version else None
    renderer = ContentRenderer(services, item, row.purpose_key, row.brand_id)
    renderer.load_versions(session, {version_id})
    back = services.url(url_for("admin.campaign", campaign_id=row.id))
    to = current_user().email
    for translation in item.translations:
        services.transport.send(renderer.test_message(to, translation.language, version_id, back))
    languages = ", ".join(t.language for t in item.translations)
    return f"Test sent to {to} ({languages}). It is not counted in the figures."
