"""Webhook endpoints (where consent changes are sent) and the log of each delivery to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadcapture.models.base import Base, utcnow

# A delivery is pending until its first attempt, retrying after a failed one, delivered after a 2xx.
WEBHOOK_PENDING, WEBHOOK_RETRYING, WEBHOOK_DELIVERED = "pending", "retrying", "delivered"


class WebhookEndpoint(Base):
    """A receiver of signed events: its URL, the event types it wants and whether it may get addresses."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[str] = mapped_column(Text)  # event types separated by spaces
    personal_data: Mapped[bool] = mapped_column(Boolean, default=False)
    secret_enc: Mapped[str] = mapped_column(Text)  # the whsec_ secret, encrypted with the data key
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    # Start of the current run of failures (None after a success); a run as long as
    # WEBHOOK_DISABLE_AFTER disables the endpoint, and disabled_reason tells the admin why.
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def event_types(self) -> list[str]:
        """The event types this endpoint receives."""
        return self.events.split()


class WebhookDelivery(Base):
    """One event for one endpoint; the payload is built at each attempt, so an erasure is honoured."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(40))  # the webhook-id header: the same on every attempt
    event_type: Mapped[str] = mapped_column(String(40))
    # The person's public id (what receivers know them by), kept after an erasure: no foreign key.
    person_public_id: Mapped[str | None] = mapped_column(String(22))
    purpose_key: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=WEBHOOK_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    endpoint: Mapped[WebhookEndpoint] = relationship()
