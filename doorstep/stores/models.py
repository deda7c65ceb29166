from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class Store(Timestamped, Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    country: Mapped[str | None] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    support_email: Mapped[str | None] = mapped_column(String(320))
    support_phone: Mapped[str | None] = mapped_column(String(32))
    support_url: Mapped[str | None] = mapped_column(String(2000))
    hostname: Mapped[str | None] = mapped_column(String(253), unique=True)
    # Branding (logo, colours, fonts, custom CSS) and policies (stall_business_days, transit_days per
    # service level, …): free-form JSON today; policies are read by shipments.promise.
    branding: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    policies: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiKey(Timestamped, Base):
    """A merchant API key. Only a SHA-256 of the secret is kept; the full key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class StoreConnection(Timestamped, Base):
    """A store's credentials for one provider (Shopify, EasyPost, UPS, …), encrypted at rest."""

    __tablename__ = "store_connections"
    __table_args__ = (UniqueConstraint("store_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    sealed_config: Mapped[str] = mapped_column(Text)
    is_enabled: Mapped[bool] = mapped_column(default=True)
