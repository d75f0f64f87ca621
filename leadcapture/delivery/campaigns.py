"""Campaigns: send a content item to everyone whose consent for its purpose is current.

The fan-out walks the purpose's confirmed consents by person id (keyset pagination, one page at a
time, so memory stays flat for any list size), writes one CampaignRecipient row per person and,
in the same transaction, one outbox job per page. Each send job hands its page to the delivery
engine's batched strategy, which re-checks consent per message right before the transport under
the dedupe key campaign:<id>:<person>, so a crash, a retried job or a second `send` never sends a
second copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, selectinload

from leadcapture.consent import jobs, outbox
from leadcapture.db import upsert
from leadcapture.delivery.engine import NO_JOB, Attempt, Batch
from leadcapture.delivery.renderer import ContentRenderer
from leadcapture.delivery.throttle import throttle_for
from leadcapture.models import (
    BOUNCED,
    COMPLAINED,
    CONFIRMED,
    DONE,
    DRAFT,
    FAILED,
    PAUSED,
    PENDING,
    SENDING_CAMPAIGN,
    SENT,
    SKIPPED,
    SOFT_BOUNCED,
    Brand,
    Campaign,
    CampaignRecipient,
    Consent,
    ContentItem,
    Message,
    Person,
    utcnow,
)
from leadcapture.services import Services

KIND = "campaign"
PAGE = 500  # recipients per page of the fan-out, and per send job
PAUSE_CHECK_EVERY = 50  # messages between two looks at the campaign's status (a multiple of Batch.CHUNK)

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Where a campaign stands: for the CLI progress bar and the admin view."""

    id: int
    purpose_key: str
    subject: str
    status: str
    total: int
    sent: int
    skipped: int
    failed: int
    pending: int
    fanout_done: bool
    brand: str = ""  # the slug of the brand whose audience it goes to
    bounced: int = 0  # sent messages that bounced (hard or soft) since
    complained: int = 0  # sent messages whose recipient reported them as spam

    @property
    def processed(self) -> int:
        """Recipients that need no more work."""
        return self.sent + self.skipped + self.failed


class CampaignError(ValueError):
    """A campaign action that cannot be done; the message says why."""


def create_campaign(session: Session, item_id: int, brand_id: int | None = None) -> Campaign:
    """A draft campaign for a (non-welcome) content item, to the item's purpose of a brand.

    brand_id may be left out only while there is one brand.
    """
    item = session.get(ContentItem, item_id)
    if item is None:
        raise CampaignError(f"no content item {item_id}")
    if item.welcome:
        raise CampaignError(f"content item {item_id} is a welcome item: it is sent on confirmation, not as a campaign")
    brand = session.get(Brand, brand_id) if brand_id is not None else only_brand(session)
    if brand is None:
        raise CampaignError(
            f"no brand {brand_id}" if brand_id is not None else "choose the brand whose audience to send to"
        )
    campaign = Campaign(item_id=item.id, purpose_key=item.purpose_key, brand_id=brand.id, status=DRAFT)
    session.add(campaign)
    session.flush()
    return campaign


def only_brand(session: Session) -> Brand | None:
    """The brand when there is exactly one (a campaign needs no choice then), else None."""
    brands = session.scalars(select(Brand).order_by(Brand.id).limit(2)).all()
    return brands[0] if len(brands) == 1 else None


def locked(session: Session, campaign_id: int) -> Campaign:
    """The campaign, its row locked for the change the caller makes."""
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise CampaignError(f"no campaign {campaign_id}")
    return campaign


def start(session: Session, campaign_id: int) -> str:
    """Start sending a draft (or resume a paused) campaign; a started or finished one is left alone."""
    campaign = locked(session, campaign_id)
    if campaign.status == PAUSED:
        return resume(session, campaign_id)
    if campaign.status != DRAFT:
        return f"campaign {campaign_id} is already {campaign.status}: nothing new to send"
    campaign.status, campaign.started_at = SENDING_CAMPAIGN, utcnow()
    outbox.enqueue(session, jobs.CAMPAIGN_FANOUT, campaign.id, False)
    return f"campaign {campaign_id} is sending"


def pause(session: Session, campaign_id: int) -> str:
    """Stop handing out messages; recipients not yet sent stay pending."""
    campaign = locked(session, campaign_id)
    if campaign.status != SENDING_CAMPAIGN:
        raise CampaignError(f"campaign {campaign_id} is {campaign.status}, only a sending campaign can be paused")
    campaign.status = PAUSED
    return f"campaign {campaign_id} is paused"


def resume(session: Session, campaign_id: int) -> str:
    """Continue a paused campaign where it stopped, without sending anyone a second copy."""
    campaign = locked(session, campaign_id)
    if campaign.status != PAUSED:
        raise CampaignError(f"campaign {campaign_id} is {campaign.status}, only a paused campaign can be resumed")
    campaign.status = SENDING_CAMPAIGN
    outbox.enqueue(session, jobs.CAMPAIGN_FANOUT, campaign.id, True)
    return f"campaign {campaign_id} is sending again"


def progress(session: Session, campaign_id: int) -> Progress:
    """Counts of sent, skipped (no consent at send time), failed and pending recipients."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"no campaign {campaign_id}")
    counts = dict(
        session.execute(
            select(CampaignRecipient.status, func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status)
        ).all()
    )
    feedback = dict(
        session.execute(
            select(Message.feedback, func.count())
            .where(Message.dedupe_key.startswith(f"campaign:{campaign_id}:"), Message.feedback.is_not(None))
            .group_by(Message.feedback)
        ).all()
    )
    item = session.get(ContentItem, campaign.item_id)
    return Progress(
        id=campaign.id,
        purpose_key=campaign.purpose_key,
        brand=session.scalar(select(Brand.slug).where(Brand.id == campaign.brand_id)) or "",
        subject=item.translations[0].subject if item and item.translations else "",
        status=campaign.status,
        total=sum(counts.values()),
        sent=counts.get(SENT, 0),
        skipped=counts.get(SKIPPED, 0),
        failed=counts.get(FAILED, 0),
        pending=counts.get(PENDING, 0),
        fanout_done=campaign.fanout_done,
        bounced=feedback.get(BOUNCED, 0) + feedback.get(SOFT_BOUNCED, 0),
        complained=feedback.get(COMPLAINED, 0),
    )


def list_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, newest first."""
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc())))


# --- the jobs -------------------------------------------------------------------------------


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(upsert(session, CampaignRecipient.__table__).on_conflict_do_nothing(), rows)


def fanout(services: Services, campaign_id: int, requeue: bool = False) -> None:
    """Write recipient rows page by page and queue one send job per page (resumable at its cursor)."""
    if requeue:  # after a pause: hand out the pages that still have pending recipients
        after = 0
        while True:
            with services.db.session() as session:
                ids = session.scalars(
                    select(CampaignRecipient.person_id)
                    .where(
                        CampaignRecipient.campaign_id == campaign_id,
                        CampaignRecipient.status == PENDING,
                        CampaignRecipient.person_id > after,
                    )
                    .order_by(CampaignRecipient.person_id)
                    .limit(PAGE)
                ).all()
                if not ids:
                    break
                outbox.enqueue(session, jobs.CAMPAIGN_SEND, campaign_id, ids[0], ids[-1])
                after = ids[-1]
            outbox.relay_now(services)
    while True:
        with services.db.session() as session:
            campaign = locked(session, campaign_id)
            if campaign.status != SENDING_CAMPAIGN or campaign.fanout_done:
                break
            ids = session.scalars(
                select(Consent.person_id)
                .where(
                    Consent.purpose_key == campaign.purpose_key,
                    Consent.brand_id == campaign.brand_id,
                    Consent.state == CONFIRMED,
                    Consent.person_id > campaign.cursor_person_id,
                )
                .order_by(Consent.person_id)
                .limit(PAGE)
            ).all()
            if not ids:
                campaign.fanout_done = True
                _finish_if_complete(session, campaign)
                break
            _insert_ignoring_duplicates(
                session, [{"campaign_id": campaign_id, "person_id": pid, "status": PENDING} for pid in ids]
            )
            campaign.cursor_person_id = ids[-1]
            campaign.total += len(ids)
            outbox.enqueue(session, jobs.CAMPAIGN_SEND, campaign_id, ids[0], ids[-1])
        outbox.relay_now(services)


def send_page(
    services: Services, campaign_id: int, first_person_id: int, last_person_id: int, *, attempt: Attempt = NO_JOB
) -> dict[str, int]:
    """Send the pending recipients of one page; returns how many ended in each status."""
    with services.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != SENDING_CAMPAIGN:
            return {}
        key, brand_id = campaign.purpose_key, campaign.brand_id
        item = session.scalar(
            select(ContentItem)
            .where(ContentItem.id == campaign.item_id)
            .options(selectinload(ContentItem.translations))
        )
        page = [CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == PENDING]
        page += [CampaignRecipient.person_id.between(first_person_id, last_person_id)]
        rows = session.execute(
            select(CampaignRecipient.id, CampaignRecipient.person_id, Person, Consent.form_version_id)
            .outerjoin(Person, Person.id == CampaignRecipient.person_id)
            .outerjoin(
                Consent,
                (Consent.person_id == CampaignRecipient.person_id)
                & (Consent.purpose_key == key)
                & (Consent.brand_id == brand_id),
            )
            .where(*page)
            .order_by(CampaignRecipient.person_id)
        ).all()
        renderer = ContentRenderer(services, item, key, brand_id)
        renderer.load_versions(session, {version_id for *_, version_id in rows})
    throttle = throttle_for(services)
    outcome: dict[str, list[int]] = {SENT: [], SKIPPED: [], FAILED: []}
    batch = Batch(services, KIND, key, attempt, brand_id)
    try:
        with services.db.engine.connect() as conn:  # one connection for the page, a transaction per chunk
            for start_at in range(0, len(rows), Batch.CHUNK):
                if (
                    start_at % PAUSE_CHECK_EVERY == 0
                    and start_at
                    and _status(services, campaign_id) != SENDING_CAMPAIGN
                ):
                    break
                chunk = rows[start_at : start_at + Batch.CHUNK]
                statuses = batch.deliver(  # yields each status as it is known
                    conn,
                    [
                        (
                            f"{KIND}:{campaign_id}:{person_id}",
                            person,
                            lambda person=person, version_id=version_id: renderer.message(person, version_id),
                        )
                        for _recipient_id, person_id, person, version_id in chunk
                    ],
                    throttle.acquire,
                )
                for (recipient_id, *_), status in zip(chunk, statuses, strict=True):
                    if status in outcome:  # busy: another job has it and will record it
                        outcome[status].append(recipient_id)
    finally:
        _record(services, campaign_id, outcome, batch)
    batch.check_busy()
    return {status: len(ids) for status, ids in outcome.items()}


def _status(services: Services, campaign_id: int) -> str | None:
    with services.db.session() as session:
        return session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


def _record(services: Services, campaign_id: int, outcome: dict[str, list[int]], batch: Batch) -> None:
    with services.db.session() as session:
        # The row lock orders concurrent pages: the last to record sees every other page's
        # statuses, so exactly one of them finds nobody pending and finishes the campaign.
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        batch.write_marks(session.connection())
        for status, ids in outcome.items():
            for start_at in range(0, len(ids), PAGE):
                session.execute(
                    update(CampaignRecipient)
                    .where(CampaignRecipient.id.in_(ids[start_at : start_at + PAGE]))
                    .values(status=status)
                )
        if campaign is not None and campaign.fanout_done:
            _finish_if_complete(session, campaign)


def _finish_if_complete(session: Session, campaign: Campaign) -> None:
    """Mark a fully fanned-out campaign done once nobody is pending, storing its counts."""
    if campaign.status != SENDING_CAMPAIGN:
        return
    pending = session.scalar(
        select(exists().where(CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.status == PENDING))
    )
    if pending:
        return
    counts = dict(
        session.execute(
            select(CampaignRecipient.status, func.count())
            .where(CampaignRecipient.campaign_id == campaign.id)
            .group_by(CampaignRecipient.status)
        ).all()
    )
    campaign.sent, campaign.skipped, campaign.failed = (counts.get(s, 0) for s in (SENT, SKIPPED, FAILED))
    campaign.status, campaign.finished_at = DONE, utcnow()
