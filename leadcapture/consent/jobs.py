"""Job names: the contract between the code that enqueues a job and the actor that runs it.

Outbox rows carry these strings until a relay publishes them, possibly after an upgrade, so a
released name never changes: add a new one instead.
"""

from __future__ import annotations

SEND_CONFIRMATION = "send_confirmation"  # (submission_id)
DELIVER_ASSET = "deliver_asset"  # (request_id)
SEND_REPERMISSION = "send_repermission"  # (repermission_id)
SEND_WELCOME = "send_welcome"  # (person_id, purpose_key, brand_id: None in rows written before brands)
NOTIFY_SALES = "notify_sales"  # (consent_id, confirmed_at ISO): a lead to call, to the brand's sales address
CAMPAIGN_FANOUT = "campaign_fanout"  # (campaign_id, requeue)
CAMPAIGN_SEND = "campaign_send"  # (campaign_id, first_person_id, last_person_id)
WEBHOOK_EVENT = "webhook_event"  # (event_id, event_type, person_public_id, purpose_key, reason, occurred_at)
DELIVER_WEBHOOK = "deliver_webhook"  # (delivery_id)

NAMES = frozenset(
    {
        SEND_CONFIRMATION,
        DELIVER_ASSET,
        SEND_REPERMISSION,
        SEND_WELCOME,
        NOTIFY_SALES,
        CAMPAIGN_FANOUT,
        CAMPAIGN_SEND,
        WEBHOOK_EVENT,
        DELIVER_WEBHOOK,
    }
)
