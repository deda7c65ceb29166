"""Outbound webhook endpoints and their delivery log: the only writer of ``webhook_endpoints`` and
``webhook_deliveries``. Signing and sending are :mod:`doorstep.integrations.channels.webhook`'s; the job
that ties them together is :func:`doorstep.messaging.publish.deliver_webhook`.
"""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep.core import clock, crypto, ids
from doorstep.core.errors import Invalid, NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.flows.models import MilestoneEvent
from doorstep.integrations.channels import webhook as webhook_channel
from doorstep.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from doorstep.webhooks.schemas import EndpointCreate, EndpointUpdate


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def _seal(signing_secret: str, server_secret: str) -> str:
    return crypto.seal({"secret": signing_secret}, server_secret)


def check_reachable(url: str, *, allow_local: bool) -> None:
    """Refuse, outside dev and test, URLs that point into the server's own network: plain http, localhost,
    and literal private, loopback, link-local or reserved addresses (a cloud metadata service, say)."""
    if allow_local:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    fix = "use a public https:// URL of the receiving service"
    if parts.scheme != "https":
        raise Invalid.field("url", "must use https://", fix)
    if host == "localhost" or host.endswith(".localhost"):
        raise Invalid.field("url", "points at this server", fix)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return  # a host name: resolved by the HTTP client at delivery time
    if not address.is_global:
        raise Invalid.field("url", f"{address} is not a public address", fix)


def create_endpoint(
    session: Session, *, store_id: int, cmd: EndpointCreate, server_secret: str, allow_local: bool = True
) -> IssuedEndpoint:
    check_reachable(cmd.url, allow_local=allow_local)
    signing_secret = webhook_channel.new_secret()
    now = clock.now()
    row = WebhookEndpoint(
        public_id=ids.new_id("whe"),
        store_id=store_id,
        url=cmd.url,
        description=cmd.description,
        milestones=list(cmd.milestones),
        sealed_secret=_seal(signing_secret, server_secret),
        is_enabled=cmd.is_enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedEndpoint(row, signing_secret)


def get_endpoint(session: Session, *, store_id: int, endpoint_id: str) -> WebhookEndpoint:
    stmt = scoped(select(WebhookEndpoint), WebhookEndpoint, store_id).where(
        WebhookEndpoint.public_id == endpoint_id
    )
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return row


def list_endpoints(
    session: Session, *, store_id: int, limit: int, cursor: str | None
) -> tuple[list[WebhookEndpoint], str | None]:
    stmt = scoped(select(WebhookEndpoint), WebhookEndpoint, store_id)
    return paginate(session, stmt, WebhookEndpoint, limit=limit, cursor=cursor)


def update_endpoint(
    session: Session, *, store_id: int, endpoint_id: str, cmd: EndpointUpdate, allow_local: bool = True
) -> WebhookEndpoint:
    row = get_endpoint(session, store_id=store_id, endpoint_id=endpoint_id)
    if cmd.url is not None:
        check_reachable(cmd.url, allow_local=allow_local)
        row.url = cmd.url
    if "description" in cmd.model_fields_set:
        row.description = cmd.description
    if cmd.milestones is not None:
        row.milestones = list(cmd.milestones)
    if cmd.is_enabled is not None:
        row.is_enabled = cmd.is_enabled
    row.updated_at = clock.now()
    session.flush()
    return row


def rotate_secret(session: Session, *, store_id: int, endpoint_id: str, server_secret: str) -> IssuedEndpoint:
    """A new signing secret (shown once); the old one stops working at once."""
    row = get_endpoint(session, store_id=store_id, endpoint_id=endpoint_id)
    signing_secret = webhook_channel.new_secret()
    row.sealed_secret = _seal(signing_secret, server_secret)
    row.updated_at = clock.now()
    session.flush()
    return IssuedEndpoint(row, signing_secret)


def delete_endpoint(session: Session, *, store_id: int, endpoint_id: str) -> None:
    session.delete(get_endpoint(session, store_id=store_id, endpoint_id=endpoint_id))
    session.flush()


def subscribed(session: Session, *, store_id: int, milestone: str) -> list[WebhookEndpoint]:
    """Enabled endpoints that want this milestone (an empty subscription list means all)."""
    stmt = scoped(select(WebhookEndpoint), WebhookEndpoint, store_id).where(
        WebhookEndpoint.is_enabled.is_(True)
    )
    rows = session.scalars(stmt.order_by(WebhookEndpoint.id))
    return [row for row in rows if not row.milestones or milestone in row.milestones]


def get_milestone_event(session: Session, *, store_id: int, event_id: str) -> MilestoneEvent:
    stmt = scoped(select(MilestoneEvent), MilestoneEvent, store_id).where(
        MilestoneEvent.public_id == event_id
    )
    event = session.scalars(stmt).one_or_none()
    if event is None:
        raise NotFound(f"milestone event {event_id} not found")
    return event


@dataclass(frozen=True)
class Prepared:
    """One delivery ready to send, detached from the session."""

    delivery_id: str  # the webhook-id header
    url: str
    signing_secret: str


def prepare_delivery(
    session: Session, *, store_id: int, event: MilestoneEvent, endpoint_id: str, server_secret: str
) -> Prepared | None:
    """The delivery of ``event`` to the endpoint, created on first use; None when there is nothing to do
    (the endpoint is disabled or gone, or the delivery already succeeded)."""
    stmt = scoped(select(WebhookEndpoint), WebhookEndpoint, store_id).where(
        WebhookEndpoint.public_id == endpoint_id
    )
    endpoint = session.scalars(stmt).one_or_none()
    if endpoint is None or not endpoint.is_enabled:
        return None
    delivery = _delivery(session, store_id, endpoint.id, event.id)
    if delivery is None:
        now = clock.now()
        delivery = WebhookDelivery(
            public_id=ids.new_id("whd"),
            store_id=store_id,
            endpoint_id=endpoint.id,
            milestone_event_id=event.id,
            milestone=event.name,
            status=DeliveryStatus.pending.value,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            delivery = _delivery(session, store_id, endpoint.id, event.id)
            if delivery is None:
                raise
    if delivery.status == DeliveryStatus.delivered:
        return None
    secret = str(crypto.unseal(endpoint.sealed_secret, server_secret)["secret"])
    return Prepared(delivery.public_id, endpoint.url, secret)


def _delivery(session: Session, store_id: int, endpoint_id: int, event_id: int) -> WebhookDelivery | None:
    stmt = scoped(select(WebhookDelivery), WebhookDelivery, store_id).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.milestone_event_id == event_id
    )
    return session.scalars(stmt).one_or_none()


def record_attempt(
    session: Session,
    *,
    store_id: int,
    delivery_id: str,
    status_code: int | None,
    error: str | None,
    will_retry: bool,
    disable_endpoint: bool = False,
) -> WebhookDelivery:
    """Log one attempt's outcome on the delivery (and disable the endpoint if the receiver said 410 Gone)."""
    stmt = scoped(select(WebhookDelivery), WebhookDelivery, store_id).where(
        WebhookDelivery.public_id == delivery_id
    )
    delivery = session.scalars(stmt).one()
    now = clock.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    delivery.last_error = error[:1000] if error else None
    if error is None:
        delivery.status = DeliveryStatus.delivered.value
        delivery.delivered_at = now
    else:
        delivery.status = (DeliveryStatus.retrying if will_retry else DeliveryStatus.failed).value
    delivery.updated_at = now
    if disable_endpoint:
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is not None and endpoint.store_id == store_id:
            endpoint.is_enabled = False
            endpoint.updated_at = now
    session.flush()
    return delivery


def list_deliveries(
    session: Session, *, store_id: int, endpoint_id: str, limit: int, cursor: str | None
) -> tuple[list[WebhookDelivery], str | None]:
    endpoint = get_endpoint(session, store_id=store_id, endpoint_id=endpoint_id)
    stmt = scoped(select(WebhookDelivery), WebhookDelivery, store_id).where(
        WebhookDelivery.endpoint_id == endpoint.id
    )
    return paginate(session, stmt, WebhookDelivery, limit=limit, cursor=cursor)
