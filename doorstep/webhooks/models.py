from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class WebhookEndpoint(Timestamped, Base):
    """A URL a store wants its milestones posted to, signed with Standard Webhooks.

    The signing secret is sealed with the server secret and shown to the merchant once, at creation.
    ``milestones`` lists the subscribed milestone names; empty means every milestone.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    milestones: Mapped[list[str]] = mapped_column(JSON, default=list)
    sealed_secret: Mapped[str] = mapped_column(Text)
    is_enabled: Mapped[bool] = mapped_column(default=True)


class DeliveryStatus(StrEnum):
    pending = "pending"  # not tried yet
    retrying = "retrying"  # the last attempt failed; the job queue tries again with backoff
    delivered = "delivered"  # the endpoint answered 2xx
    failed = "failed"  # gave up: a permanent refusal or the last attempt failed


class WebhookDelivery(Timestamped, Base):
    """The delivery log: one milestone to one endpoint, with the outcome of its latest attempt.

    Unique per (endpoint, milestone event); its public id is the ``webhook-id`` header, the same on
    every retry, so receivers can deduplicate.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "milestone_event_id"),
        Index("ix_webhook_deliveries_store_id_created_at", "store_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    milestone_event_id: Mapped[int] = mapped_column(ForeignKey("milestone_events.id", ondelete="CASCADE"))
    milestone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
