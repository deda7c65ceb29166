from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class OutboxMessage(Timestamped, Base):
    """One message the devbox channel received, exactly as a provider would have: rendered and addressed.

    Unique per ``message_id`` (the messages row's public id), so a job that runs twice stores it once.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_store_id_created_at", "store_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16))
    to_address: Mapped[str] = mapped_column(String(320))
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(1000))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int | None]
    encoding: Mapped[str | None] = mapped_column(String(8))
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # milestone, order and shipment ids as messaging passed them (strings and numbers only).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
