"""The actors. Each takes ids, is idempotent, and re-checks consent right before sending."""

from __future__ import annotations

import dramatiq

from leadcapture import sending
from leadcapture.core import get_core

# Failures that raise (SMTP 4xx, connection errors, the database away) are retried with
# exponential backoff; a permanent SMTP refusal is recorded on the message row by
# sending.deliver and does not raise, so it is never retried.
_RETRY = {"max_retries": 10, "min_backoff": 5_000, "max_backoff": 600_000}


@dramatiq.actor(queue_name="mail", **_RETRY)
def send_confirmation(submission_id: int) -> None:
    """Send the double opt-in email for a submission."""
    sending.send_confirmation(get_core(), submission_id)


@dramatiq.actor(queue_name="mail", **_RETRY)
def deliver_asset(request_id: int) -> None:
    """Send the whitepaper for a confirmed asset request."""
    sending.deliver_asset(get_core(), request_id)


@dramatiq.actor(queue_name="mail", **_RETRY)
def send_repermission(repermission_id: int) -> None:
    """Ask a person whether to keep a consent that lapses in a month (queued by the scheduler)."""
    from leadcapture.repermission import send_repermission as send

    send(get_core(), repermission_id)
