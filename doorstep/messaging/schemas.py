from datetime import datetime

from pydantic import BaseModel, Field

from doorstep.messaging.models import Message
from doorstep.messaging.service import MilestoneCounts


class MessageRead(BaseModel):
    id: str
    key: str = Field(description="msg:{subject}:{milestone}:{kinds}: one message per flow send step.")
    milestone: str
    subject_id: str
    order_id: str | None
    flow: str
    kind: str | None
    channel: str | None
    recipient: str | None
    locale: str | None
    subject: str | None
    status: str = Field(description="deferred, sending, sent, delivered, suppressed or failed.")
    reason: str | None = Field(
        description="Why it was suppressed, deferred or failed, or the fallback taken."
    )
    deferred_until: datetime | None
    attempts: int
    decided_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    open_count: int
    click_count: int
    created_at: datetime

    @classmethod
    def of(cls, m: Message) -> "MessageRead":
        return cls(
            id=m.public_id, key=m.key, milestone=m.milestone, subject_id=m.subject_id, order_id=m.order_id,
            flow=m.flow, kind=m.kind, channel=m.channel, recipient=m.recipient, locale=m.locale,
            subject=m.subject, status=m.status, reason=m.reason, deferred_until=m.deferred_until,
            attempts=m.attempts, decided_at=m.decided_at, sent_at=m.sent_at, delivered_at=m.delivered_at,
            opened_at=m.opened_at, clicked_at=m.clicked_at, open_count=m.open_count, click_count=m.click_count,
            created_at=m.created_at,
        )  # fmt: skip


class MessagePage(BaseModel):
    data: list[MessageRead]
    next_cursor: str | None


class NotificationCounts(BaseModel):
    milestone: str
    sent: int = Field(description="Accepted by the provider (including those later confirmed delivered).")
    delivered: int = Field(description="Confirmed delivered by the provider (SMS/WhatsApp receipts).")
    opened: int = Field(description="Sent messages opened at least once (pixel or click).")
    clicked: int = Field(description="Sent messages whose tracking link was clicked at least once.")
    suppressed: int
    failed: int

    @classmethod
    def of(cls, c: MilestoneCounts) -> "NotificationCounts":
        return cls(
            milestone=c.milestone, sent=c.sent, delivered=c.delivered, opened=c.opened, clicked=c.clicked,
            suppressed=c.suppressed, failed=c.failed,
        )  # fmt: skip


class NotificationAnalytics(BaseModel):
    data: list[NotificationCounts]
