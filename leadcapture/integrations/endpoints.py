"""Webhook endpoints: adding one (its secret shown once), rotating the secret, enabling, removing."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from leadcapture.consent import events
from leadcapture.crypto import Vault
from leadcapture.db import MAX_ID
from leadcapture.integrations import outbound
from leadcapture.models import WebhookDelivery, WebhookEndpoint
from leadcapture.settings import Settings

MAX_URL_LENGTH = 2000


class EndpointError(ValueError):
    """An endpoint that cannot be added or changed as asked; the message says why."""


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks format: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_url(settings: Settings, url: str) -> str:
    """The URL, stripped, if endpoints may use it (https in production, a public address); else EndpointError."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise EndpointError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = outbound.check_url(url, require_https=settings.production)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        outbound.resolve(parts.hostname, port, settings.webhook_allowed_networks)
    except outbound.Refused as exc:
        raise EndpointError(str(exc)) from exc
    return url


def check_events(names: Iterable[str]) -> list[str]:
    """The event types asked for in canonical order (none: all); EndpointError names an unknown one."""
    wanted = {n.strip() for n in names if n.strip()}
    unknown = sorted(wanted - set(events.TYPES))
    if unknown:
        raise EndpointError(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(events.TYPES)}")
    return [t for t in events.TYPES if t in wanted] or list(events.TYPES)


def add(
    session: Session,
    vault: Vault,
    settings: Settings,
    *,
    url: str,
    event_types: Iterable[str] = (),
    personal_data: bool = False,
    description: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; return it and its secret (shown to the admin this once, stored encrypted)."""
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=check_url(settings, url),
        events=" ".join(check_events(event_types)),
        personal_data=personal_data,
        description=description.strip()[:200],
        secret_enc=vault.encrypt(secret),
        enabled=True,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def get(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint with this id; EndpointError if there is none."""
    endpoint = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id <= MAX_ID else None
    if endpoint is None:
        raise EndpointError(f"there is no webhook endpoint {endpoint_id}")
    return endpoint


def listing(session: Session) -> list[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def rotate_secret(session: Session, vault: Vault, endpoint: WebhookEndpoint) -> str:
    """Give the endpoint a new secret and return it; deliveries from now on are signed with it."""
    secret = new_secret()
    endpoint.secret_enc = vault.encrypt(secret)
    session.flush()
    return secret


def secret_of(vault: Vault, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret."""
    return vault.decrypt(endpoint.secret_enc)


def enable(session: Session, endpoint: WebhookEndpoint) -> None:
    """Enable a disabled endpoint: its run of failures starts afresh (its waiting deliveries resume)."""
    endpoint.enabled = True
    endpoint.failing_since = endpoint.disabled_at = endpoint.disabled_reason = None
    session.flush()


def delivery_counts(session: Session, endpoint: WebhookEndpoint) -> dict[str, int]:
    """How many deliveries of the endpoint are in each status (what removing it deletes)."""
    stmt = (
        select(WebhookDelivery.status, func.count())
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .group_by(WebhookDelivery.status)
    )
    return {status: count for status, count in session.execute(stmt)}


def remove(session: Session, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint and its delivery log."""
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()
