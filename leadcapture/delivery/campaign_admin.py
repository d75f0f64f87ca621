"""What the admin and the scheduler do to a campaign besides sending it: schedule, cancel, start the
due ones, and the figures around it (who it would reach now, who unsubscribed since it started)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadcapture.consent.gates import contactable
from leadcapture.delivery.campaigns import CampaignError, locked, only_brand, start
from leadcapture.delivery.content import brand_email_purposes
from leadcapture.models import (
    CANCELLED,
    DRAFT,
    PAUSED,
    SENDING_CAMPAIGN,
    WITHDRAWN,
    Brand,
    Campaign,
    CampaignRecipient,
    Consent,
    Person,
    utcnow,
)


def schedule(session: Session, campaign_id: int, when: datetime | None, now: datetime) -> str:
    """Let a draft start by itself at `when` (None: only when started by hand)."""
    campaign = locked(session, campaign_id)
    if campaign.status != DRAFT:
        raise CampaignError(f"campaign {campaign_id} is {campaign.status}; only a draft can be scheduled")
    if when is not None and when <= now:
        raise CampaignError("pick a time in the future (or start the campaign now)")
    campaign.scheduled_at = when
    if when is None:
        return f"campaign {campaign_id} is no longer scheduled"
    return f"campaign {campaign_id} starts at {when:%Y-%m-%d %H:%M} UTC"


def cancel(session: Session, campaign_id: int) -> str:
    """Stop a campaign for good: who has not been sent it yet, is not sent it."""
    campaign = locked(session, campaign_id)
    if campaign.status not in (DRAFT, SENDING_CAMPAIGN, PAUSED):
        raise CampaignError(f"campaign {campaign_id} is {campaign.status}; there is nothing left to cancel")
    campaign.status, campaign.finished_at = CANCELLED, utcnow()
    return f"campaign {campaign_id} is cancelled"


def start_due(session: Session, now: datetime) -> int:
    """Start the scheduled drafts whose time has come (the scheduler runs this)."""
    due = session.scalars(
        select(Campaign.id).where(Campaign.status == DRAFT, Campaign.scheduled_at <= now).order_by(Campaign.id)
    ).all()
    for campaign_id in due:
        start(session, campaign_id)
    return len(due)


def audience(session: Session, purpose_key: str, brand_id: int) -> int:
    """How many people a campaign for this purpose of this brand would reach if it started now."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Consent)
            .join(Person, Consent.person_id == Person.id)
            .where(contactable(purpose_key, "email", brand_id))
        )
        or 0
    )


@dataclass(frozen=True)
class Audience:
    """A purpose of a brand: who a campaign can be sent to."""

    brand_id: int
    brand_slug: str
    brand_name: str
    purpose_key: str
    label: str
    count: int

    @property
    def value(self) -> str:
        """How a form field names it: brand id and purpose key."""
        return f"{self.brand_id}:{self.purpose_key}"


def audiences(session: Session) -> list[Audience]:
    """Every email purpose of every brand's live forms, with how many people it reaches now."""
    named = {b.id: b for b in session.scalars(select(Brand))}
    return [
        Audience(brand_id, named[brand_id].slug, named[brand_id].name, key, label, audience(session, key, brand_id))
        for brand_id, key, label in brand_email_purposes(session)
    ]


def parse_audience(session: Session, value: str, brand_slug: str | None = None) -> tuple[int, str]:
    """(brand id, purpose key) from "<brand id>:<key>", or from a key and a brand slug (None: the only brand)."""
    brand_part, colon, key = value.partition(":")
    if colon:
        if not brand_part.isdigit() or session.get(Brand, int(brand_part)) is None:
            raise CampaignError(f"no brand {brand_part!r}")
        return int(brand_part), key
    if brand_slug:
        brand = session.scalar(select(Brand).where(Brand.slug == brand_slug))
        if brand is None:
            raise CampaignError(f"no brand {brand_slug!r} (leadcapture brands list)")
        return brand.id, value
    only = only_brand(session)
    if only is None:
        raise CampaignError("there are several brands: choose whose audience to send to (--brand SLUG)")
    return only.id, value


def unsubscribed_since(session: Session, campaign: Campaign) -> int:
    """Recipients who withdrew the campaign's purpose after it started."""
    if campaign.started_at is None:
        return 0
    return (
        session.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .join(
                Consent,
                (Consent.person_id == CampaignRecipient.person_id)
                & (Consent.purpose_key == campaign.purpose_key)
                & (Consent.brand_id == campaign.brand_id),
            )
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                Consent.state == WITHDRAWN,
                Consent.withdrawn_at >= campaign.started_at,
            )
        )
        or 0
    )
