"""The ``messages`` table: one row per send step of a flow, with the decision made and why.

The row's ``key`` (``msg:{subject}:{milestone}:{kinds}``, unique per store) is the effect's guard: a job
that runs twice finds the row and does not send twice. ``status`` walks
``deciding → sending → sent → delivered`` or ends ``suppressed``/``failed``; ``deferred`` waits for
``deferred_until`` (quiet hours, a frequency cap) and is decided again then.
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class MessageStatus(StrEnum):
    deciding = "deciding"  # the row exists, no decision committed yet
    deferred = "deferred"  # decided to wait (quiet hours, frequency cap) until deferred_until
    sending = "sending"  # decided to send; handed to the channel (a crash here re-sends, same message id)
    sent = "sent"  # the provider accepted it
    delivered = "delivered"  # the provider confirmed delivery (e.g. a Twilio status callback)
    suppressed = "suppressed"  # decided not to send, with the reason
    failed = "failed"  # the provider refused it, or retries ran out, with the reason


FINAL = frozenset(
    {MessageStatus.sent, MessageStatus.delivered, MessageStatus.suppressed, MessageStatus.failed}
)


class Message(Timestamped, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("store_id", "key"),
        Index("ix_messages_store_id_created_at_id", "store_id", "created_at", "id"),
        Index("ix_messages_customer_id_sent_at", "customer_id", "sent_at"),
        Index("ix_messages_provider_message_id", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    milestone_event_id: Mapped[int] = mapped_column(ForeignKey("milestone_events.id", ondelete="CASCADE"))
    milestone: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[str | None] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    flow: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str | None] = mapped_column(String(16))  # email, sms, whatsapp: the kind chosen
    channel: Mapped[str | None] = mapped_column(String(40))  # the provider that carried it: smtp, devbox, …
    recipient: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(500))  # email subject, for the outbox and support
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.deciding)
    reason: Mapped[str | None] = mapped_column(Text)  # why suppressed/deferred/failed; the fallback taken
    deferred_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    open_count: Mapped[int] = mapped_column(default=0)
    click_count: Mapped[int] = mapped_column(default=0)
