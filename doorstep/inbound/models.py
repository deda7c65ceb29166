from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class EventStatus(StrEnum):
    received = "received"
    applied = "applied"
    duplicate = "duplicate"
    rejected = "rejected"


class InboundEvent(Timestamped, Base):
    """One payload as it arrived. Never edited except for its processing status and outcome."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        # One live event per idempotency key per source; later copies are stored as duplicates.
        Index(
            "uq_inbound_events_store_id_source_idempotency_key",
            "store_id", "source", "idempotency_key",
            unique=True,
            sqlite_where=text("status != 'duplicate'"),
            postgresql_where=text("status != 'duplicate'"),
        ),
        Index("ix_inbound_events_store_id_source_payload_hash", "store_id", "source", "payload_hash"),
        Index("ix_inbound_events_status_received_at", "status", "received_at"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(40))
    topic: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    payload_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Route parameters the payload was addressed with (e.g. the shipment id a checkpoint was posted to).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.received)
    reason: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    applied_at: Mapped[datetime | None]
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_events.id"))
    subject: Mapped[str | None] = mapped_column(String(40))
    milestones: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The API's answer, replayed for a retried request with the same Idempotency-Key.
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
