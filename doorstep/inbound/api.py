"""/api/v1/events: the merchant's view of everything received, and replay of rejected payloads."""

from typing import Annotated

from fastapi import APIRouter, Query

from doorstep.db import transaction
from doorstep.inbound import service as inbound_service
from doorstep.inbound.models import EventStatus
from doorstep.inbound.schemas import InboundEventPage, InboundEventRead, ReplayResult
from doorstep.web.deps import CurrentStore, Cursor, Db, Limit

router = APIRouter(prefix="/events", tags=["events"])


@router.get("")
def list_events(
    db: Db,
    store: CurrentStore,
    limit: Limit,
    cursor: Cursor = None,
    status: Annotated[EventStatus | None, Query()] = None,
    source: Annotated[str | None, Query()] = None,
) -> InboundEventPage:
    with transaction(db) as session:
        rows, next_cursor = inbound_service.list_events(
            session, store_id=store.id, status=status, source=source, limit=limit, cursor=cursor
        )
        return InboundEventPage(data=[InboundEventRead.of(e) for e in rows], next_cursor=next_cursor)


@router.get("/{event_id}")
def get_event(event_id: str, db: Db, store: CurrentStore) -> InboundEventRead:
    with transaction(db) as session:
        event = inbound_service.get_event(session, event_id=event_id, store_id=store.id)
        return InboundEventRead.of(event, with_body=True)


@router.post("/{event_id}/replay")
def replay_event(event_id: str, db: Db, store: CurrentStore) -> ReplayResult:
    """Apply a rejected payload again (after fixing what it referred to)."""
    outcome = inbound_service.replay(db, event_id, store_id=store.id)
    return ReplayResult(
        id=outcome.event_id,
        status=outcome.status.value,
        reason=outcome.reason,
        response=outcome.response_body,
    )
