"""POST /hooks/<provider>: bounces and complaints from a mail relay's signed webhook (JSON answers)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from leadcapture.integrations import bounces, providers, ses
from leadcapture.web import ratelimit
from leadcapture.web.context import get_services

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
# Relays post events in batches (SendGrid up to several hundred a request): more than a form's cap.
MAX_BODY_BYTES = 4 * 1024 * 1024


@bp.before_request
def _body_limit() -> None:
    request.max_content_length = MAX_BODY_BYTES  # also caps a chunked body while it is read


@bp.post("/<provider>")
@ratelimit.exempt_posts  # a relay posts a campaign's bounces in bursts from a few addresses
def provider_hook(provider: str):
    """Check the provider's signature, then record what it reports: 200 with counts, 401/404/400/503 otherwise."""
    services = get_services()
    if provider not in (*providers.PROVIDERS, "ses"):
        return _answer(404, "unknown provider")
    try:
        if provider == "ses":
            # SES_CERT_FETCHER: who fetches SNS certificates (tests serve a locally made one).
            fetch = current_app.config.get("SES_CERT_FETCHER") or ses.fetch_https
            found = ses.feedback_from_sns(services.settings, request.get_data(), fetch)
        else:
            found = providers.feedback_from(provider, services.settings, request.headers, request.get_data())
    except providers.NotConfigured:
        return _answer(404, f"the {provider} webhook is not configured")
    except providers.Refused as exc:
        return _answer(exc.status, str(exc))
    try:
        outcomes = bounces.process(services, found)
    except SQLAlchemyError:  # the provider retries a 5xx: nothing is lost
        return _answer(503, "try again later")
    return jsonify({"status": "ok", "recorded": dict(outcomes)}), 200


def _answer(status: int, error: str):
    return jsonify({"status": "error", "error": error}), status
