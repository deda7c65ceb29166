"""/api/v1/events: the merchant's view of everything received, and replay of rejected payloads."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from doorstep.db import transaction
from doorstep.inbound import channel_status, webhooks
from doorstep.inbound import service as inbound_service
from doorstep.inbound.models import EventStatus
from doorstep.inbound.schemas import InboundEventPage, InboundEventRead, ReplayResult
from doorstep.web.deps import AppSettings, CurrentStore, Cursor, Db, Limit

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


hooks = APIRouter(prefix="/hooks", tags=["webhooks"])


async def _raw(request: Request) -> bytes:
    return await request.body()


RawWebhook = Annotated[bytes, Depends(_raw)]


def _answer(outcome: inbound_service.Outcome) -> JSONResponse:
    body = {"event": outcome.event_id, "status": outcome.status.value}
    if outcome.status is EventStatus.rejected:
        # Signed but not applicable: 202 so the provider stops retrying; kept for replay.
        return JSONResponse({**body, "reason": outcome.reason}, status_code=202)
    return JSONResponse({**body, "milestones": outcome.milestones}, status_code=200)


@hooks.post("/shopify/{store_slug}", status_code=200)
def shopify_webhook(
    store_slug: str, request: Request, db: Db, settings: AppSettings, body: RawWebhook
) -> JSONResponse:
    """Shopify webhooks (orders, fulfillments, fulfillment events, refunds, customers), HMAC-verified."""
    outcome = webhooks.receive(
        db, secret=settings.security.secret_key.get_secret_value(), source="shopify", store_slug=store_slug,
        headers=dict(request.headers), body=body,
    )  # fmt: skip
    return _answer(outcome)


@hooks.post("/channels/{channel}/{store_slug}", status_code=200)
def channel_status_webhook(
    channel: str, store_slug: str, request: Request, db: Db, settings: AppSettings, body: RawWebhook
) -> JSONResponse:
    """Delivery receipts from message channels (twilio_sms, whatsapp), verified by X-Twilio-Signature."""
    outcome = channel_status.receive(
        db, secret=settings.security.secret_key.get_secret_value(), base_url=settings.base_url,
        channel=channel, store_slug=store_slug, headers=dict(request.headers), body=body,
    )  # fmt: skip
    return _answer(outcome)


@hooks.post("/tracking/{source}/{store_slug}", status_code=200)
def tracking_webhook(
    source: str, store_slug: str, request: Request, db: Db, settings: AppSettings, body: RawWebhook
) -> JSONResponse:
    """Tracking pushes from aggregators (easypost, aftership, shippo, seventeentrack), each verified its own way."""
    outcome = webhooks.receive(
        db, secret=settings.security.secret_key.get_secret_value(), source=source, store_slug=store_slug,
        headers=dict(request.headers), body=body,
    )  # fmt: skip
    return _answer(outcome)
