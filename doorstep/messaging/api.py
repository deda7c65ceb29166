"""/api/v1/messages (every send decision, with its reason) and /api/v1/analytics/notifications."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from doorstep.db import transaction
from doorstep.messaging import service as message_service
from doorstep.messaging.models import MessageStatus
from doorstep.messaging.schemas import MessagePage, MessageRead, NotificationAnalytics, NotificationCounts
from doorstep.web.deps import CurrentStore, Cursor, Db, Limit

router = APIRouter(tags=["messages"])


@router.get("/messages")
def list_messages(
    db: Db,
    store: CurrentStore,
    limit: Limit,
    cursor: Cursor = None,
    status: Annotated[MessageStatus | None, Query()] = None,
    subject_id: Annotated[str | None, Query(max_length=40, description="A shipment or order id.")] = None,
) -> MessagePage:
    """The store's messages, newest first: what was sent, suppressed or deferred, and why."""
    with transaction(db) as session:
        rows, next_cursor = message_service.list_messages(
            session, store_id=store.id, status=status, subject_id=subject_id, limit=limit, cursor=cursor
        )
        return MessagePage(data=[MessageRead.of(m) for m in rows], next_cursor=next_cursor)


@router.get("/analytics/notifications")
def notification_analytics(
    db: Db,
    store: CurrentStore,
    since: Annotated[
        AwareDatetime | None, Query(description="Messages created at or after (ISO 8601).")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(description="Messages created before (ISO 8601).")] = None,
) -> NotificationAnalytics:
    """Per milestone: messages sent, delivered, opened, clicked, suppressed and failed."""
    with transaction(db) as session:
        counts = message_service.notification_counts(session, store_id=store.id, since=since, until=until)
        return NotificationAnalytics(data=[NotificationCounts.of(c) for c in counts])
