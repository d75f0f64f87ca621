"""The actors: one line each into delivery/. Each takes ids and is idempotent.

A job that raises (SMTP 4xx, connection errors, the database away) is retried with exponential
backoff under the LEADCAPTURE_MAIL_RETRY_* policy (workers.middleware.bind); a permanent SMTP
refusal is recorded on the message row and does not raise, so it is never retried. Campaign
jobs have their own queue, so a million-recipient send never delays a confirmation; webhook jobs
too, so a slow receiver never does. A failed webhook post does not raise: the delivery row holds
its own backoff (integrations.webhooks), and the scheduler queues it again when it is due.
"""

from __future__ import annotations

import dramatiq

from leadcapture.consent import jobs
from leadcapture.delivery import asset, campaigns, confirmation, lead, repermission, welcome
from leadcapture.integrations import webhooks
from workers.middleware import current_services, run

MAIL, CAMPAIGNS, WEBHOOKS = "mail", "campaigns", "webhooks"


@dramatiq.actor(actor_name=jobs.SEND_CONFIRMATION, queue_name=MAIL)
def send_confirmation(submission_id: int) -> None:
    """Send the double opt-in email for a submission."""
    run(confirmation.send, submission_id)


@dramatiq.actor(actor_name=jobs.DELIVER_ASSET, queue_name=MAIL)
def deliver_asset(request_id: int) -> None:
    """Send the whitepaper for a confirmed asset request."""
    run(asset.send, request_id)


@dramatiq.actor(actor_name=jobs.SEND_REPERMISSION, queue_name=MAIL)
def send_repermission(repermission_id: int) -> None:
    """Ask a person whether to keep a consent that lapses in a month (queued by the scheduler)."""
    run(repermission.send, repermission_id)


@dramatiq.actor(actor_name=jobs.SEND_WELCOME, queue_name=MAIL)
def send_welcome(person_id: int, purpose_key: str, brand_id: int | None = None) -> None:
    """Send a purpose's welcome item to a person who just confirmed it (if the purpose has one)."""
    run(welcome.send, person_id, purpose_key, brand_id)


@dramatiq.actor(actor_name=jobs.NOTIFY_SALES, queue_name=MAIL)
def notify_sales(consent_id: int, confirmed_at: str) -> None:
    """Tell the brand's sales address about a lead to call (a confirmed phone purpose), once."""
    run(lead.send, consent_id, confirmed_at)


@dramatiq.actor(actor_name=jobs.CAMPAIGN_FANOUT, queue_name=CAMPAIGNS)
def campaign_fanout(campaign_id: int, requeue: bool = False) -> None:
    """Write a campaign's recipient rows page by page and queue the send jobs."""
    campaigns.fanout(current_services(), campaign_id, requeue)


@dramatiq.actor(actor_name=jobs.CAMPAIGN_SEND, queue_name=CAMPAIGNS)
def campaign_send(campaign_id: int, first_person_id: int, last_person_id: int) -> None:
    """Send one page of a campaign, re-checking each person's consent just before sending."""
    run(campaigns.send_page, campaign_id, first_person_id, last_person_id)


@dramatiq.actor(actor_name=jobs.WEBHOOK_EVENT, queue_name=WEBHOOKS)
def webhook_event(
    event_id: str,
    event_type: str,
    person_public_id: str | None,
    purpose_key: str | None,
    reason: str | None,
    occurred_at: str,
) -> None:
    """Write an event's delivery to each webhook endpoint that wants it, and queue them."""
    webhooks.fan_out(current_services(), event_id, event_type, person_public_id, purpose_key, reason, occurred_at)


@dramatiq.actor(actor_name=jobs.DELIVER_WEBHOOK, queue_name=WEBHOOKS)
def deliver_webhook(delivery_id: int) -> None:
    """Post one signed event to its endpoint; a failure is logged and retried later with backoff."""
    webhooks.deliver(current_services(), delivery_id)
