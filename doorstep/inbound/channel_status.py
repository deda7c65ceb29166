"""Delivery receipts from message channels (Twilio SMS and WhatsApp status callbacks), through the same
record-first door as every webhook: verify → record raw (committed) → apply → replayable.

The signature covers the URL Doorstep gave the provider as ``StatusCallback``, which is rebuilt here from
``DOORSTEP_BASE_URL`` exactly as routing built it (never from the request's Host header, which a proxy may
change and an attacker controls). A receipt whose signature fails is recorded as rejected and answered 401.
A re-delivery (same ``I-Twilio-Idempotency-Token``, or the same body) is acknowledged and never applied
twice. Applying calls ``messaging.service.record_provider_status``.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import clock
from doorstep.core.errors import Invalid, NotFound, Unauthorized
from doorstep.db import transaction
from doorstep.inbound import service as inbound_service
from doorstep.inbound.topics import Handler, Result
from doorstep.integrations.channels import registry, twilio_sms
from doorstep.messaging import service as message_service
from doorstep.stores import service as store_service

TOPIC = "channel.status"


def callback_url(base_url: str, channel: str, store_slug: str) -> str:
    """The StatusCallback URL for a store's channel (routing hands it to the provider; verify rebuilds it)."""
    return f"{base_url.rstrip('/')}/hooks/channels/{channel}/{store_slug}"


def receive(
    factory: sessionmaker[Session],
    *,
    secret: str,
    base_url: str,
    channel: str,
    store_slug: str,
    headers: Mapping[str, str],
    body: bytes,
) -> inbound_service.Outcome:
    if channel not in registry.STATUS_CALLBACKS:
        raise NotFound(f"{channel!r} sends no delivery receipts")
    lowered = {k.lower(): v for k, v in headers.items()}
    with transaction(factory) as session:
        store = store_service.get_store_by_slug(session, slug=store_slug)
        stored = store_service.get_connection(session, store_id=store.id, provider=channel, secret=secret)
    sub = inbound_service.Submission(
        store_id=store.id,
        source=channel,
        topic=TOPIC,
        body=body,
        headers=lowered,
        params={"received_at": clock.now().isoformat()},
        idempotency_key=lowered.get("i-twilio-idempotency-token"),
        dedupe_by_hash=True,
    )
    reason = _verify(stored, callback_url(base_url, channel, store_slug), lowered, body)
    if reason is not None:
        inbound_service.record_rejected(factory, sub, reason)
        raise Unauthorized(f"the {channel} status callback failed signature verification")
    return inbound_service.submit(factory, sub, resolve=resolve)


def _verify(stored: dict[str, Any] | None, url: str, headers: Mapping[str, str], body: bytes) -> str | None:
    if stored is None:
        return "the store has not connected this channel, so the callback cannot be verified"
    token = stored.get("auth_token")
    if not isinstance(token, str) or not token:
        return "the store's connection has no auth token"
    if not twilio_sms.verify(url, body, headers, token):
        return "X-Twilio-Signature missing or does not match the URL and parameters"
    return None


def resolve(event: Any) -> Handler:
    """The handler for a recorded receipt (also used by replay, through ``inbound.webhooks.resolve``)."""
    return apply_receipt


def apply_receipt(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    try:
        update = twilio_sms.parse_status(body)
    except (twilio_sms.Unsupported, UnicodeDecodeError) as exc:
        raise Invalid.field("MessageStatus", str(exc), "send Twilio's status callback unchanged") from exc
    if update is None:
        return Result(None, 200, {"applied": False, "reason": "interim status"}, [])
    received = params.get("received_at")
    occurred_at = clock.as_utc(datetime.fromisoformat(received)) if isinstance(received, str) else clock.now()
    message = message_service.record_provider_status(
        session, store_id=store_id, provider_message_id=update.provider_message_id, status=update.status,
        occurred_at=occurred_at, error=update.error,
    )  # fmt: skip
    body_out = {"applied": message is not None, "status": update.status}
    return Result(message.public_id if message is not None else None, 200, body_out, [])
