from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doorstep.db import Base, Timestamped
from doorstep.orders.models import LineItem, Order


class Shipment(Timestamped, Base):
    __tablename__ = "shipments"
    __table_args__ = (
        UniqueConstraint("store_id", "carrier", "tracking_number", "direction"),
        Index("ix_shipments_store_id_tracking_number", "store_id", "tracking_number"),
        Index("ix_shipments_store_id_created_at_id", "store_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(100))
    carrier: Mapped[str] = mapped_column(String(40))
    service: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str] = mapped_column(String(100))
    tracking_url: Mapped[str | None] = mapped_column(String(2000))
    direction: Mapped[str] = mapped_column(String(10), default="outbound")
    status: Mapped[str] = mapped_column(String(32), default="pending")
    substatus: Mapped[str | None] = mapped_column(String(40))
    status_changed_at: Mapped[datetime | None]
    last_checkpoint_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    promised_on: Mapped[date | None]
    expected_on: Mapped[date | None]
    # An unmatched parcel (tracking arrived before its order) remembers the order's external id.
    order_ref: Mapped[str | None] = mapped_column(String(100))
    signed_by: Mapped[str | None] = mapped_column(String(200))
    is_delayed: Mapped[bool] = mapped_column(default=False, server_default=false())
    delay_reason: Mapped[str | None] = mapped_column(String(500))
    is_stalled: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Polling: which source to ask and when (None = not polled: pushed, terminal or expired).
    poll_source: Mapped[str | None] = mapped_column(String(40))
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)

    order: Mapped[Order | None] = relationship(lazy="joined")
    items: Mapped[list["ShipmentItem"]] = relationship(
        cascade="all, delete-orphan", order_by="ShipmentItem.id", lazy="selectin"
    )


class ShipmentItem(Base):
    __tablename__ = "shipment_items"
    __table_args__ = (UniqueConstraint("shipment_id", "line_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    line_item_id: Mapped[int] = mapped_column(ForeignKey("line_items.id", ondelete="CASCADE"))
    quantity: Mapped[int]

    line_item: Mapped[LineItem] = relationship(lazy="joined")


class Checkpoint(Base):
    """One carrier scan. Kept as its own row (never a JSON blob replaced on each poll)."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        UniqueConstraint("shipment_id", "fingerprint"),
        Index("ix_checkpoints_shipment_id_occurred_at", "shipment_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    # The carrier's own time, in UTC, plus the offset it was given in ("-05:00"), so local time survives.
    occurred_at: Mapped[datetime]
    utc_offset: Mapped[str | None] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(32))
    substatus: Mapped[str | None] = mapped_column(String(40))
    raw_code: Mapped[str | None] = mapped_column(String(100))
    raw_message: Mapped[str | None] = mapped_column(String(2000))
    city: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    source: Mapped[str] = mapped_column(String(40))
    # Hash of (time, code, message, place): the same scan delivered twice is stored once.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
