from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class MilestoneEvent(Base):
    """A milestone that happened to one subject. Unique per (subject, name): emitted at most once."""

    __tablename__ = "milestone_events"
    __table_args__ = (
        UniqueConstraint("store_id", "subject_id", "name"),
        Index("ix_milestone_events_store_id_occurred_at", "store_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[str | None] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    # History imports record milestones without triggering flows.
    is_historical: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class StoreFlow(Timestamped, Base):
    """A store's own version of one flow (``definition`` is a validated ``FlowDefinition`` as JSON)."""

    __tablename__ = "store_flows"
    __table_args__ = (UniqueConstraint("store_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
