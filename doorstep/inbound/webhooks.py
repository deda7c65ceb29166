"""Webhooks from platforms and tracking providers: verify → record raw → apply through the adapter.

``receive`` is the one entry for ``/hooks/...``. A request whose signature fails is still recorded (as
rejected, with the reason) and answered 401; a signed payload that cannot be applied is kept as rejected
and answered 202 so the provider stops retrying, and ``doorstep events replay`` applies it after a fix.
"""

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import metrics
from doorstep.core.errors import Invalid, NotFound, Unauthorized
from doorstep.db import transaction
from doorstep.inbound import service as inbound_service
from doorstep.inbound.commerce import apply as apply_commerce
from doorstep.inbound.models import InboundEvent
from doorstep.inbound.topics import Handler, Result
from doorstep.integrations.commerce import registry as commerce_registry
from doorstep.integrations.commerce.protocol import CommerceSource
from doorstep.integrations.tracking import registry as tracking_registry
from doorstep.integrations.tracking.protocol import Parsed, TrackingSource, Unsupported
from doorstep.shipments import service as shipment_service
from doorstep.stores import service as store_service


def _adapter(source: str) -> CommerceSource | TrackingSource:
    adapter = commerce_registry.SOURCES.get(source) or tracking_registry.get(source)
    if adapter is None:
        raise NotFound(f"unknown webhook source {source!r}")
    return adapter


def receive(
    factory: sessionmaker[Session],
    *,
    secret: str,
    source: str,
    store_slug: str,
    headers: Mapping[str, str],
    body: bytes,
) -> inbound_service.Outcome:
    """Verify, record and apply one webhook delivery. Raises NotFound (404) or Unauthorized (401)."""
    adapter = _adapter(source)
    lowered = {k.lower(): v for k, v in headers.items()}
    with transaction(factory) as session:
        store = store_service.get_store_by_slug(session, slug=store_slug)
        stored = store_service.get_connection(session, store_id=store.id, provider=source, secret=secret)
    topic = _topic(adapter, lowered)
    reason = _verify(adapter, stored, lowered, body)
    sub = inbound_service.Submission(
        store_id=store.id,
        source=source,
        topic=topic,
        body=body,
        headers=dict(lowered),
        idempotency_key=_key(adapter, lowered),
        dedupe_by_hash=True,
    )
    if reason is not None:
        inbound_service.record_rejected(factory, sub, reason)
        raise Unauthorized(f"webhook signature check failed for {source}")
    return inbound_service.submit(factory, sub)


def _topic(adapter: CommerceSource | TrackingSource, headers: Mapping[str, str]) -> str:
    if isinstance(adapter, CommerceSource):
        return adapter.topic(headers) or "unknown"
    return "tracking"


def _key(adapter: CommerceSource | TrackingSource, headers: Mapping[str, str]) -> str | None:
    return adapter.idempotency_key(headers) if isinstance(adapter, CommerceSource) else None


def _verify(
    adapter: CommerceSource | TrackingSource,
    stored: dict[str, Any] | None,
    headers: Mapping[str, str],
    body: bytes,
) -> str | None:
    """None when the request is authentic, else the reason it is not."""
    if stored is None:
        return f"the store has no {adapter.name} connection configured, so the request cannot be verified"
    try:
        config: BaseModel = adapter.config_model.model_validate(stored)
    except ValidationError as exc:
        return f"the store's {adapter.name} connection is invalid: {exc.errors()[0]['msg']}"
    if not adapter.verify(headers, body, config):
        return "signature missing or does not match the payload"
    return None


def resolve(event: InboundEvent) -> Handler:
    """The handler that applies a recorded event, by its source."""
    if event.topic == "channel.status":  # delivery receipts from message channels (Twilio)
        from doorstep.inbound import channel_status

        return channel_status.resolve(event)
    adapter = _adapter(event.source)
    if isinstance(adapter, CommerceSource):
        return _commerce_handler(adapter, event.topic)
    return _tracking_handler(adapter)


def _commerce_handler(adapter: CommerceSource, topic: str) -> Handler:
    def handle(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        try:
            parsed = adapter.parse(topic, body)
        except Unsupported as exc:
            raise Invalid.field(
                "topic", f"{topic!r} is not supported: {exc}", "subscribe only to supported topics"
            ) from exc
        except (ValueError, ValidationError) as exc:
            raise Invalid.field(
                "body",
                f"not a valid {adapter.name} {topic} payload: {exc}",
                "send the provider's payload unchanged",
            ) from exc
        for code in parsed.unknown_codes:
            metrics.UNKNOWN_CODES.labels(adapter.name, code).inc()
        return apply_commerce(session, store_id, parsed, source=adapter.name)

    return handle


def _tracking_handler(adapter: TrackingSource) -> Handler:
    def handle(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        try:
            parsed: Parsed = adapter.parse(body)
        except Unsupported as exc:
            raise Invalid.field(
                "event", f"unsupported {adapter.name} event: {exc}", "subscribe only to tracking events"
            ) from exc
        except (ValueError, ValidationError) as exc:
            raise Invalid.field(
                "body", f"not a valid {adapter.name} payload: {exc}", "send the provider's payload unchanged"
            ) from exc
        return apply_parsed(session, store_id, adapter.name, parsed)

    return handle


def apply_parsed(session: Session, store_id: int, source: str, parsed: Parsed) -> Result:
    """Apply every update a tracking source produced (also used by pollers)."""
    for code in parsed.unknown_codes:
        metrics.UNKNOWN_CODES.labels(source, code).inc()
    milestones: list[str] = []
    subjects: list[str] = []
    for update in parsed.updates:
        applied = shipment_service.apply_tracking(session, store_id=store_id, cmd=update, source=source)
        milestones.extend(applied.milestones)
        subjects.append(applied.shipment.public_id)
    body = {
        "shipments": subjects,
        "milestones": milestones,
        "ignored": parsed.ignored,
        "errors": parsed.errors,
        "unknown_codes": parsed.unknown_codes,
    }
    return Result(subjects[0] if subjects else None, 200, body, milestones)
