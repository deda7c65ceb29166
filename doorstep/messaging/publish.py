"""Milestones pushed out of Doorstep: to Klaviyo (as events) and to the store's signed webhook endpoints.

Two jobs, each: read fresh state in a short transaction, do the I/O outside it, record the outcome.

- ``milestone.published`` (args ``milestone_event_id``, the ``ms_…`` id; notify-flows enqueues one per
  new live milestone): fans out one ``webhook.deliver`` job per subscribed endpoint (unique keys, so a
  rerun adds nothing), then pushes the milestone to Klaviyo when the store connected it. Klaviyo dedupes
  on the milestone id, so a retried job never doubles a metric.
- ``webhook.deliver`` (args ``milestone_event_id``, ``endpoint_id``; also enqueued by flows' webhook
  step): one signed POST, logged on the delivery row; a retryable failure raises
  :class:`~doorstep.jobs.retry.Retryable` so the queue backs off, a permanent one fails the delivery
  and the job with the reason.
"""

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core import ids
from doorstep.db import transaction
from doorstep.flows.models import MilestoneEvent
from doorstep.integrations.channels import registry
from doorstep.integrations.channels import webhook as webhook_channel
from doorstep.integrations.channels.protocol import Profile, Published, SendFailed
from doorstep.jobs import queue
from doorstep.jobs.retry import Retryable
from doorstep.messaging.context import carrier_name
from doorstep.orders import service as order_service
from doorstep.orders.models import Order
from doorstep.shipments import service as shipment_service
from doorstep.shipments.models import Shipment
from doorstep.stores import service as store_service
from doorstep.webhooks import service as webhook_service

log = logging.getLogger(__name__)

WEBHOOK_MAX_ATTEMPTS = 8  # 10 s, 20 s, 40 s … about 20 minutes of retries before giving up


class PublishFailed(Exception):
    """A permanent refusal (not retryable): the job ends dead with this reason."""


def _order_and_shipment(session: Session, event: MilestoneEvent) -> tuple[Order | None, Shipment | None]:
    shipment = None
    if ids.has_prefix(event.subject_id, "shp"):
        shipment = shipment_service.get_shipment(
            session, store_id=event.store_id, shipment_id=event.subject_id
        )
    order = None
    if event.order_id:
        order = order_service.get_order(session, store_id=event.store_id, order_id=event.order_id)
    elif shipment is not None:
        order = shipment.order
    return order, shipment


def published_for(session: Session, *, event: MilestoneEvent, base_url: str) -> Published:
    """The milestone as the outside world sees it: ids, order, parcel and a tracking link; no secrets."""
    order, shipment = _order_and_shipment(session, event)
    properties: dict[str, Any] = {"subject_id": event.subject_id, **dict(event.data)}
    profile = Profile()
    if order is not None:
        properties.update(
            order_id=order.public_id,
            order_number=order.number,
            currency=order.currency,
            total_minor=order.total_minor,
            tracking_page=f"{base_url.rstrip('/')}/t/{order.status_token}",
            items=[
                {
                    "title": line.title,
                    "variant": line.variant_title,
                    "quantity": line.quantity,
                    "sku": line.sku,
                    "image_url": line.image_url,
                    "price_minor": line.unit_price_minor * line.quantity - line.discount_minor,
                }
                for line in order.line_items
            ],
        )
        customer = order.customer
        if customer is not None:
            profile = Profile(
                email=customer.email,
                phone=customer.phone,
                first_name=customer.first_name,
                last_name=customer.last_name,
                external_id=customer.public_id,
            )
    if shipment is not None:
        expected = shipment.expected_on or shipment.promised_on
        properties.update(
            shipment_id=shipment.public_id,
            carrier=shipment.carrier,
            carrier_name=carrier_name(shipment.carrier),
            tracking_number=shipment.tracking_number,
            carrier_tracking_url=shipment.tracking_url,
            status=shipment.status,
            substatus=shipment.substatus,
            expected_delivery=expected.isoformat() if expected else None,
            is_delayed=shipment.is_delayed,
            delay_reason=shipment.delay_reason,
        )
    return Published(
        event_id=event.public_id,
        name=event.name,
        occurred_at=event.occurred_at,
        store_id=event.store_id,
        profile=profile,
        properties=properties,
    )


def webhook_job_key(milestone_event_id: str, endpoint_id: str) -> str:
    return f"webhook.deliver:{milestone_event_id}:{endpoint_id}"


def enqueue_webhook(session: Session, *, store_id: int, milestone_event_id: str, endpoint_id: str) -> bool:
    """Schedule one delivery, in the caller's transaction (also what flows' webhook step calls)."""
    return queue.enqueue(
        session,
        kind="webhook.deliver",
        key=webhook_job_key(milestone_event_id, endpoint_id),
        store_id=store_id,
        args={"milestone_event_id": milestone_event_id, "endpoint_id": endpoint_id},
        max_attempts=WEBHOOK_MAX_ATTEMPTS,
    )


@dataclass(frozen=True)
class PublishReport:
    webhooks_enqueued: int
    klaviyo: str  # "sent", "not connected", "no profile"


def publish_milestone(
    factory: sessionmaker[Session],
    *,
    http: httpx.Client,
    settings: Settings,
    store_id: int,
    milestone_event_id: str,
) -> PublishReport:
    """Fan out webhook deliveries, then push to Klaviyo if connected. Raises Retryable or PublishFailed."""
    server_secret = settings.security.secret_key.get_secret_value()
    with transaction(factory) as session:
        event = webhook_service.get_milestone_event(session, store_id=store_id, event_id=milestone_event_id)
        enqueued = sum(
            enqueue_webhook(
                session, store_id=store_id, milestone_event_id=event.public_id, endpoint_id=e.public_id
            )
            for e in webhook_service.subscribed(session, store_id=store_id, milestone=event.name)
        )
        raw = store_service.get_connection(
            session, store_id=store_id, provider="klaviyo", secret=server_secret
        )
        published = (
            published_for(session, event=event, base_url=settings.base_url) if raw is not None else None
        )
    if raw is None or published is None:
        return PublishReport(enqueued, "not connected")
    publisher = registry.PUBLISHERS["klaviyo"]
    try:
        config = publisher.Config.model_validate(raw)
    except ValidationError as exc:
        raise PublishFailed(f"the store's klaviyo connection is invalid: {exc.errors()[0]['msg']}") from exc
    if not (published.profile.email or published.profile.phone):
        log.info("klaviyo: %s has no customer email or phone; nothing to push", milestone_event_id)
        return PublishReport(enqueued, "no profile")
    try:
        publisher.publish(published, config, client=http)
    except SendFailed as exc:
        if exc.retryable:
            raise Retryable(f"klaviyo: {exc.reason}") from exc
        raise PublishFailed(f"klaviyo: {exc.reason}") from exc
    return PublishReport(enqueued, "sent")


def deliver_webhook(
    factory: sessionmaker[Session],
    *,
    http: httpx.Client,
    settings: Settings,
    store_id: int,
    milestone_event_id: str,
    endpoint_id: str,
    attempt: int,
    max_attempts: int,
) -> str:
    """Send one signed delivery and log it; returns the delivery id (or "skipped")."""
    server_secret = settings.security.secret_key.get_secret_value()
    with transaction(factory) as session:
        event = webhook_service.get_milestone_event(session, store_id=store_id, event_id=milestone_event_id)
        prepared = webhook_service.prepare_delivery(
            session, store_id=store_id, event=event, endpoint_id=endpoint_id, server_secret=server_secret
        )
        body = webhook_channel.body_of(published_for(session, event=event, base_url=settings.base_url))
    if prepared is None:
        return "skipped"
    try:
        delivered = webhook_channel.deliver(
            http, url=prepared.url, secret=prepared.signing_secret, msg_id=prepared.delivery_id, body=body
        )
    except SendFailed as exc:
        will_retry = exc.retryable and attempt < max_attempts
        status_code = exc.status_code if isinstance(exc, webhook_channel.Refused) else None
        with transaction(factory) as session:
            webhook_service.record_attempt(
                session, store_id=store_id, delivery_id=prepared.delivery_id, status_code=status_code,
                error=exc.reason, will_retry=will_retry, disable_endpoint=isinstance(exc, webhook_channel.Gone),
            )  # fmt: skip
        if will_retry:
            raise Retryable(f"webhook {prepared.delivery_id}: {exc.reason}") from exc
        raise PublishFailed(f"webhook {prepared.delivery_id}: {exc.reason}") from exc
    with transaction(factory) as session:
        webhook_service.record_attempt(
            session, store_id=store_id, delivery_id=prepared.delivery_id,
            status_code=delivered.status_code, error=None, will_retry=False,
        )  # fmt: skip
    return prepared.delivery_id
