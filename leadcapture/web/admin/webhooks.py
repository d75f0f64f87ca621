"""Webhook endpoints in the admin: add (the secret shown once), rotate, enable, remove; the delivery log."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from leadcapture.consent import events, outbox
from leadcapture.db import row_id
from leadcapture.integrations import endpoints, webhooks
from leadcapture.models import utcnow
from leadcapture.web.admin.auth import audit, bp, require
from leadcapture.web.context import get_services, get_session

EVENT_LABELS = {
    events.CONSENT_CONFIRMED: "a consent was confirmed",
    events.CONSENT_WITHDRAWN: "a consent was withdrawn",
    events.CONSENT_EXPIRED: "a consent lapsed after its retention",
    events.CONSENT_RENEWED: "a consent was renewed",
    events.PERSON_ERASED: "a person's data was erased",
    events.SUPPRESSION_ADDED: "an address was suppressed (bounce, complaint, 'this wasn't me', erasure)",
    events.LEAD_TO_CALL: "a phone purpose was confirmed: a lead to call",
}


@bp.route("/webhooks", methods=["GET", "POST"])
@require("webhooks")
def webhooks_list():
    """Admins add webhook endpoints (the secret shown once), rotate secrets, enable and remove them."""
    db = get_session()
    secret = None
    if request.method == "POST":
        try:
            secret = _endpoint_action(db, request.form.get("action", ""))
        except endpoints.EndpointError as exc:
            db.rollback()
            flash(str(exc), "error")
        else:
            db.commit()
            outbox.relay_now(get_services())
            if secret is None:
                return redirect(url_for("admin.webhooks_list"))
    return render_template(
        "admin/webhooks.html",
        rows=endpoints.listing(db),
        secret=secret,
        labels=EVENT_LABELS,
        production=get_services().settings.production,
        form=request.form if secret is None and request.method == "POST" else {},
    )


def _endpoint_action(db: Session, action: str) -> str | None:
    """Do the posted action; a new secret to show once, or None."""
    services = get_services()
    if action == "add":
        endpoint, secret = endpoints.add(
            db,
            services.vault,
            services.settings,
            url=request.form.get("url", ""),
            event_types=[t for t in events.TYPES if request.form.get(f"event_{t}")],
            personal_data=bool(request.form.get("personal_data")),
            description=request.form.get("description", ""),
        )
        audit("webhook.add", endpoint.url, id=endpoint.id, events=endpoint.events, personal_data=endpoint.personal_data)
        flash(f"Added endpoint {endpoint.id} for {endpoint.url}. Give the receiver its secret now: it is shown once.")
        return secret
    endpoint = endpoints.get(db, request.form.get("endpoint_id", type=row_id) or 0)
    if action == "rotate":
        secret = endpoints.rotate_secret(db, services.vault, endpoint)
        audit("webhook.rotate_secret", endpoint.url, id=endpoint.id)
        flash(f"New secret for endpoint {endpoint.id}: requests are signed with it from now on. It is shown once.")
        return secret
    if action == "enable":
        queued = webhooks.resume(db, endpoint, utcnow())
        audit("webhook.enable", endpoint.url, id=endpoint.id)
        flash(f"Enabled endpoint {endpoint.id}; {queued} waiting delivery(ies) are sent again.")
    else:
        abort(400)
    return None


@bp.get("/webhooks/<int:endpoint_id>")
@require("webhooks")
def webhook_deliveries(endpoint_id: int):
    """An endpoint's delivery log, newest first: status, response code, attempts, next attempt."""
    db = get_session()
    try:
        endpoint = endpoints.get(db, endpoint_id)
    except endpoints.EndpointError:
        abort(404)
    rows = webhooks.log(db, endpoint_id=endpoint_id, limit=200)
    return render_template("admin/webhook_deliveries.html", endpoint=endpoint, rows=rows, labels=EVENT_LABELS)


@bp.route("/webhooks/<int:endpoint_id>/remove", methods=["GET", "POST"])
@require("webhooks")
def webhook_remove(endpoint_id: int):
    """Remove an endpoint after a page that says what goes with it (its delivery log, waiting deliveries)."""
    db = get_session()
    try:
        endpoint = endpoints.get(db, endpoint_id)
    except endpoints.EndpointError:
        abort(404)
    if request.method == "POST":
        audit("webhook.remove", endpoint.url, id=endpoint.id)
        endpoints.remove(db, endpoint)
        db.commit()
        flash(f"Removed endpoint {endpoint_id} ({endpoint.url}) and its delivery log.")
        return redirect(url_for("admin.webhooks_list"))
    counts = endpoints.delivery_counts(db, endpoint)
    return render_template("admin/webhook_remove.html", endpoint=endpoint, counts=counts)


@bp.post("/webhooks/deliveries/<int:delivery_id>/resend")
@require("webhooks")
def webhook_resend(delivery_id: int):
    """Send one delivery again now, with the same webhook-id."""
    db = get_session()
    delivery = webhooks.get_delivery(db, delivery_id)
    if delivery is None:
        abort(404)
    try:
        webhooks.resend(db, delivery)
    except endpoints.EndpointError as exc:
        flash(str(exc), "error")
    else:
        audit("webhook.resend", str(delivery_id), event_id=delivery.event_id)
        db.commit()
        outbox.relay_now(get_services())
        flash(f"Delivery {delivery_id} is queued to be sent again.")
    return redirect(url_for("admin.webhook_deliveries", endpoint_id=delivery.endpoint_id))
