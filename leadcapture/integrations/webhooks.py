"""Signed webhooks: an event fanned out to the endpoints that want it, delivered at least once, logged.

An event arrives as a WEBHOOK_EVENT outbox job (written by `consent.events` in the transaction
of the change). `fan_out` writes one delivery row per enabled endpoint that wants its type and
queues a DELIVER_WEBHOOK job for each. `deliver` builds the payload at that moment (so an
erased person's address never leaves, even for an event queued before the erasure), signs it
with the Standard Webhooks scheme and posts it through `outbound`. A failure schedules the next
attempt with backoff (`retry_due`, run by the scheduler, queues it); an endpoint that has failed
for LEADCAPTURE_WEBHOOK_DISABLE_AFTER seconds is disabled, and its deliveries wait until an
admin enables it again.
"""

from __future__ import annotations

import http.client
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from leadcapture.consent import events, jobs, outbox
from leadcapture.crypto import Vault
from leadcapture.db import MAX_ID
from leadcapture.integrations import endpoints, outbound
from leadcapture.models import (
    WEBHOOK_DELIVERED,
    WEBHOOK_PENDING,
    WEBHOOK_RETRYING,
    Person,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from leadcapture.services import Services

FIRST_RETRY = 30  # seconds; each retry waits four times longer, up to MAX_RETRY_WAIT
MAX_RETRY_WAIT = 6 * 3600
USER_AGENT = "leadcapture-webhooks/1"


def retry_wait(attempts: int) -> timedelta:
    """How long to wait after the given number of failed attempts: 30 s, 2 min, 8 min, ... up to 6 h."""
    return timedelta(seconds=min(FIRST_RETRY * 4 ** max(attempts - 1, 0), MAX_RETRY_WAIT))


def fan_out(
    services: Services,
    event_id: str,
    event_type: str,
    person_public_id: str | None,
    purpose_key: str | None,
    reason: str | None,
    occurred_at: str,
) -> int:
    """Write a delivery for each enabled endpoint that wants this event and queue it; return how many are new.

    Running it again for the same event (a redelivered job) adds nothing: a delivery is unique
    per endpoint and event id.
    """
    created = 0
    with services.db.session() as session:
        wanted = [
            e
            for e in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))
            if event_type in e.event_types
        ]
        for endpoint in wanted:
            row = WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event_id,
                event_type=event_type,
                person_public_id=person_public_id,
                purpose_key=purpose_key,
                reason=reason,
                occurred_at=datetime.fromisoformat(occurred_at),
                status=WEBHOOK_PENDING,
            )
            try:
                with session.begin_nested():
                    session.add(row)
                    session.flush()
            except IntegrityError:  # this event already reached this endpoint's log
                continue
            outbox.enqueue(session, jobs.DELIVER_WEBHOOK, row.id)
            created += 1
    if created:
        outbox.relay_now(services)
    return created


def payload(session: Session, vault: Vault, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> dict[str, Any]:
    """The event as the endpoint gets it now: ids, purpose and time; the address only if allowed and still held."""
    data: dict[str, Any] = {"person_id": delivery.person_public_id}
    if delivery.purpose_key is not None:
        data["purpose"] = delivery.purpose_key
    if delivery.reason is not None:
        data["reason"] = delivery.reason
    wants_address = endpoint.personal_data and delivery.event_type != events.PERSON_ERASED
    if wants_address and delivery.person_public_id is not None:
        person = session.scalar(select(Person).where(Person.public_id == delivery.person_public_id))
        if person is not None:
            data["email"] = vault.decrypt(person.email_enc)
    return {"type": delivery.event_type, "timestamp": _iso(delivery.occurred_at), "data": data}


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def signed_request(vault: Vault, endpoint: WebhookEndpoint, event_id: str, body: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for body: webhook-id, webhook-timestamp and webhook-signature."""
    signature = Webhook(endpoints.secret_of(vault, endpoint)).sign(event_id, now, body)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def deliver(services: Services, delivery_id: int, *, now: datetime | None = None) -> str | None:
    """Make one attempt at a delivery; return its status afterwards (None: nothing to do).

    A delivered one, or one whose endpoint is disabled or gone, is left alone. The database is
    not held while the receiver answers.
    """
    settings = services.settings
    with services.db.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status == WEBHOOK_DELIVERED or not delivery.endpoint.enabled:
            return None
        endpoint = delivery.endpoint
        event = payload(session, services.vault, endpoint, delivery)
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        sent_at = now or utcnow()
        headers = signed_request(services.vault, endpoint, delivery.event_id, body, sent_at)
        url = endpoint.url
    code, error = None, None
    try:
        answer = outbound.post(
            url,
            body.encode(),
            headers,
            timeout=settings.webhook_timeout,
            networks=settings.webhook_allowed_networks,
            require_https=settings.production,
        )
        code = answer.status
        if not 200 <= code < 300:
            error = f"HTTP {code}: {answer.body[:200].decode('utf-8', 'replace')}"
    except outbound.Refused as exc:
        error = f"refused: {exc}"
    except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, reset, TLS, a bad name
        error = f"{type(exc).__name__}: {exc}"
    with services.db.session() as session:
        return _record(session, settings.webhook_disable_after, delivery_id, sent_at, code, error)


def _record(
    session: Session, disable_after: int, delivery_id: int, at: datetime, code: int | None, error: str | None
) -> str | None:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:  # its endpoint was removed while the receiver answered
        return None
    endpoint = delivery.endpoint
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.response_code, delivery.error = at, code, error
    if error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = WEBHOOK_DELIVERED, at, None
        endpoint.failing_since = None
        return delivery.status
    delivery.status, delivery.next_attempt_at = WEBHOOK_RETRYING, at + retry_wait(delivery.attempts)
    if endpoint.failing_since is None:
        endpoint.failing_since = at
    elif endpoint.enabled and at - endpoint.failing_since >= timedelta(seconds=disable_after):
        endpoint.enabled, endpoint.disabled_at = False, at
        endpoint.disabled_reason = f"failing since {_iso(endpoint.failing_since)}; last error: {error[:300]}"
    return delivery.status


def retry_due(session: Session, now: datetime) -> int:
    """Queue the deliveries whose next attempt is due (their endpoint enabled); return how many."""
    due = session.scalars(
        select(WebhookDelivery.id)
        .join(WebhookEndpoint)
        .where(
            WebhookEndpoint.enabled.is_(True),
            WebhookDelivery.status == WEBHOOK_RETRYING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.id)
    ).all()
    for delivery_id in due:
        outbox.enqueue(session, jobs.DELIVER_WEBHOOK, delivery_id)
    if due:  # queued: not due again until this attempt has failed
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(due)).values(next_attempt_at=None))
    return len(due)


def resume(session: Session, endpoint: WebhookEndpoint, now: datetime) -> int:
    """Enable an endpoint and queue its waiting deliveries now; return how many."""
    endpoint_id = endpoint.id
    endpoints.enable(session, endpoint)
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == WEBHOOK_RETRYING)
        .values(next_attempt_at=now)
    )
    return retry_due(session, now)


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    """The delivery with this id, or None."""
    return session.get(WebhookDelivery, delivery_id) if 0 < delivery_id <= MAX_ID else None


def resend(session: Session, delivery: WebhookDelivery) -> None:
    """Send a delivery again (delivered or not), with the same event id; its endpoint must be enabled."""
    if not delivery.endpoint.enabled:
        raise endpoints.EndpointError(f"endpoint {delivery.endpoint_id} is disabled: enable it first")
    delivery.status, delivery.next_attempt_at = WEBHOOK_PENDING, None
    outbox.enqueue(session, jobs.DELIVER_WEBHOOK, delivery.id)
    session.flush()


def log(
    session: Session, *, endpoint_id: int | None = None, status: str | None = None, limit: int = 100
) -> list[WebhookDelivery]:
    """The newest deliveries, optionally of one endpoint or in one status."""
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return list(session.scalars(stmt))
