from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doorstep.db import Base, Timestamped


class Customer(Timestamped, Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("store_id", "email"),
        UniqueConstraint("store_id", "external_id"),
        Index("ix_customers_store_id_phone", "store_id", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    birthday_on: Mapped[date | None]
    # frequency (every_update | key_moments | none), quiet hours, channel order: customers.commands.Preferences
    preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    consents: Mapped[list["Consent"]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Consent.channel", lazy="selectin"
    )


class Consent(Timestamped, Base):
    """The current consent for one channel, with where and when it was given or withdrawn."""

    __tablename__ = "customer_consents"
    __table_args__ = (UniqueConstraint("customer_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    is_granted: Mapped[bool]
    source: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(back_populates="consents")
