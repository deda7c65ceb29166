from datetime import datetime
from typing import Any

from pydantic import BaseModel

from doorstep.inbound.models import InboundEvent


class InboundEventRead(BaseModel):
    id: str
    source: str
    topic: str
    idempotency_key: str
    payload_hash: str
    status: str
    reason: str | None
    errors: list[dict[str, str]]
    attempts: int
    received_at: datetime
    applied_at: datetime | None
    subject: str | None
    milestones: list[str]
    body: str | None = None

    @classmethod
    def of(cls, event: InboundEvent, *, with_body: bool = False) -> "InboundEventRead":
        return cls(
            id=event.public_id,
            source=event.source,
            topic=event.topic,
            idempotency_key=event.idempotency_key,
            payload_hash=event.payload_hash,
            status=event.status,
            reason=event.reason,
            errors=list(event.problems),
            attempts=event.attempts,
            received_at=event.received_at,
            applied_at=event.applied_at,
            subject=event.subject,
            milestones=list(event.milestones),
            body=event.body.decode("utf-8", errors="replace") if with_body else None,
        )


class InboundEventPage(BaseModel):
    data: list[InboundEventRead]
    next_cursor: str | None


class ReplayResult(BaseModel):
    id: str
    status: str
    reason: str | None
    response: dict[str, Any] | None
