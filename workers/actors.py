"""The actors. Each takes ids, is idempotent, and re-checks consent right before sending."""

from __future__ import annotations

import dramatiq

from leadcapture.delivery import sending
from leadcapture.web.context import get_services

# Failures that raise (SMTP 4xx, connection errors, the database away) are retried with
# exponential backoff; a permanent SMTP refusal is recorded on the message row by
# sending.deliver and does not raise, so it is never retried.
_RETRY = {"max_retries": 10, "min_backoff": 5_000, "max_backoff": 600_000}


@dramatiq.actor(queue_name="mail", **_RETRY)
def send_confirmation(submission_id: int) -> None:
    """Send the double opt-in email for a submission."""
    sending.send_confirmation(get_services(), submission_id)


@dramatiq.actor(queue_name="mail", **_RETRY)
def deliver_asset(request_id: int) -> None:
    """Send the whitepaper for a confirmed asset request."""
    sending.deliver_asset(get_services(), request_id)


@dramatiq.actor(queue_name="mail", **_RETRY)
def send_repermission(repermission_id: int) -> None:
    """Ask a person whether to keep a consent that lapses in a month (queued by the scheduler)."""
    from leadcapture.delivery.repermission import send_repermission as send

    send(get_services(), repermission_id)


# --- issue 6: content streams and campaigns -------------------------------------------------
# Campaign jobs have their own queue, so a million-recipient send never delays a confirmation.


@dramatiq.actor(queue_name="mail", **_RETRY)
def send_welcome(person_id: int, purpose_key: str) -> None:
    """Send a purpose's welcome item to a person who just confirmed it (if the purpose has one)."""
    from leadcapture.delivery import campaigns

    campaigns.send_welcome(get_services(), person_id, purpose_key)


@dramatiq.actor(queue_name="campaigns", **_RETRY)
def campaign_fanout(campaign_id: int, requeue: bool = False) -> None:
    """Write a campaign's recipient rows page by page and queue the send jobs."""
    from leadcapture.delivery import campaigns
    from workers.broker import publish

    campaigns.fanout(get_services(), campaign_id, publish, requeue)


@dramatiq.actor(queue_name="campaigns", **_RETRY)
def campaign_send(campaign_id: int, first_person_id: int, last_person_id: int) -> None:
    """Send one page of a campaign, re-checking each person's consent just before sending."""
    from leadcapture.delivery import campaigns

    campaigns.send_page(get_services(), campaign_id, first_person_id, last_person_id)
