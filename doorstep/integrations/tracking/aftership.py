"""AfterShip Tracking: tracking webhooks and tracking API responses.

Provider: AfterShip, a multi-carrier aggregator. Docs: https://www.aftership.com/docs/tracking (Tracking
and Checkpoint models), https://www.aftership.com/docs/tracking/enum/delivery-statuses (tags),
https://www.aftership.com/docs/tracking/enum/delivery-sub-statuses (subtags; the 2026-07 version adds
Delivered_005, and the March 2026 support note adds Exception_016..018),
https://www.aftership.com/docs/tracking/webhook/webhook-signature (signing).

Push: AfterShip POSTs ``{"event", "event_id", "ts", "msg": <tracking>}`` to /hooks/tracking/aftership/{store}.
API responses parse the same way, for backfills: ``data.tracking`` (create, get), ``data.trackings`` (list),
``data`` as the tracking itself (newer API versions) and ``data.checkpoint`` (last checkpoint).

Signature: ``aftership-hmac-sha256``, the base64 HMAC-SHA256 of the raw body keyed with the webhook secret.

Codes: each checkpoint has a ``tag`` (delivery status) and a ``subtag`` (``<Tag>_<NNN>``, so it names its tag
too); the checkpoint keeps the subtag, or the tag when there is none. An undocumented subtag falls back to its
tag and is listed in ``Parsed.unknown_codes``.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK, parse_iso
from doorstep.integrations.tracking.countries import alpha2
from doorstep.integrations.tracking.protocol import Delivery, Mapped, Parsed, Unsupported
from doorstep.shipments.commands import ApplyTracking, CheckpointInput
from doorstep.shipments.status import Status, Substatus


class Config(BaseModel):
    """The store's AfterShip webhook secret (AfterShip admin → Settings → Webhooks)."""

    model_config = ConfigDict(extra="forbid")

    webhook_secret: SecretStr = Field(
        ...,
        min_length=1,
        description="Webhook secret AfterShip signs each webhook with (aftership-hmac-sha256).",
    )


STATUS_MAP: dict[str, Mapped] = {
    # tags (delivery statuses)
    "Pending": (Status.pending, None),
    "InfoReceived": (Status.info_received, None),
    "InTransit": (Status.in_transit, None),
    "OutForDelivery": (Status.out_for_delivery, None),
    "AttemptFail": (Status.attempt_failed, None),
    "Delivered": (Status.delivered, None),
    "AvailableForPickup": (Status.available_for_pickup, None),
    "Exception": (Status.exception, Substatus.other),
    "Expired": (Status.expired, None),
    # subtags (delivery sub-statuses)
    "Delivered_001": (Status.delivered, None),  # delivered
    "Delivered_002": (Status.delivered, None),  # picked up by the customer
    "Delivered_003": (Status.delivered, Substatus.signed),  # signed by the customer
    "Delivered_004": (Status.delivered, None),  # delivered, cash on delivery collected
    "Delivered_005": (Status.delivered, Substatus.to_neighbour),
    "AvailableForPickup_001": (Status.available_for_pickup, None),
    "Exception_001": (Status.exception, Substatus.other),
    "Exception_002": (Status.exception, Substatus.address_issue),  # customer moved
    "Exception_003": (Status.exception, Substatus.refused),
    "Exception_004": (Status.exception, Substatus.customs_hold),  # delayed in customs clearance
    "Exception_005": (Status.exception, Substatus.other),  # delayed by external factors
    "Exception_006": (Status.exception, Substatus.customs_hold),  # held for payment (duties and taxes)
    "Exception_007": (Status.exception, Substatus.address_issue),  # incorrect address
    "Exception_008": (Status.exception, Substatus.other),  # not collected from the pickup point
    "Exception_009": (Status.exception, Substatus.other),  # rejected by the carrier (non-compliant)
    "Exception_010": (Status.exception, Substatus.returning_to_sender),
    "Exception_011": (Status.returned, None),  # received back by the sender
    "Exception_012": (Status.exception, Substatus.damaged),
    "Exception_013": (Status.exception, Substatus.lost),
    "Exception_016": (Status.exception, Substatus.other),  # delayed: processing issue, misroute
    "Exception_017": (Status.exception, Substatus.weather),  # delayed: extreme weather
    "Exception_018": (Status.exception, Substatus.customs_hold),  # held: incorrect or missing documents
    "AttemptFail_001": (Status.attempt_failed, None),
    "AttemptFail_002": (Status.attempt_failed, None),  # addressee not available
    "AttemptFail_003": (Status.attempt_failed, None),  # business closed
    "InTransit_001": (Status.in_transit, None),
    "InTransit_002": (Status.in_transit, None),  # acceptance scan
    "InTransit_003": (Status.in_transit, None),  # arrival scan
    "InTransit_004": (Status.in_transit, None),  # arrived at destination country
    "InTransit_005": (Status.in_transit, None),  # customs clearance completed
    "InTransit_006": (Status.in_transit, None),  # handed over to customs
    "InTransit_007": (Status.in_transit, None),  # departure scan
    "InTransit_008": (Status.in_transit, None),  # problem resolved
    "InTransit_009": (Status.in_transit, None),  # forwarded to a different address
    "InfoReceived_001": (Status.info_received, None),
    "OutForDelivery_001": (Status.out_for_delivery, None),
    "OutForDelivery_003": (Status.out_for_delivery, None),  # customer contacted before the final delivery
    "OutForDelivery_004": (Status.in_transit, None),  # appointment scheduled: not on the vehicle yet
    "Pending_001": (Status.pending, None),
    "Expired_001": (Status.expired, None),
}

TRACKING_EVENTS = frozenset({"tracking_update", "edd_revise"})  # both carry the tracking in ``msg``
IGNORED_EVENTS = frozenset({"tracking_pending_time"})  # a reminder that a tracking is still pending


def map_code(raw_code: str, tag: str | None = None) -> tuple[Mapped, bool]:
    """A subtag or tag → (status, substatus), and whether it is documented; else its tag's, else the fallback."""
    if raw_code in STATUS_MAP:
        return STATUS_MAP[raw_code], True
    for coarse in (tag, raw_code.split("_", 1)[0]):
        if coarse and coarse in STATUS_MAP:
            return STATUS_MAP[coarse], False
    return UNKNOWN_FALLBACK, False


class _Checkpoint(BaseModel):
    checkpoint_time: str | None = None
    tag: str | None = None
    subtag: str | None = None
    subtag_message: str | None = None
    message: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    postal_code: str | None = None
    country_iso3: str | None = None  # API versions up to 2023
    country_region: str | None = None  # later API versions (still ISO 3166-1 alpha-3)


class _Estimate(BaseModel):
    estimated_delivery_date: str | None = None


class _Tracking(BaseModel):
    tracking_number: str | None = None
    slug: str | None = None
    tag: str | None = None
    subtag: str | None = None
    shipment_type: str | None = None
    signed_by: str | None = None
    order_id: str | None = None
    expected_delivery: str | None = None
    courier_estimated_delivery_date: _Estimate | None = None
    checkpoints: list[dict[str, Any]] | None = None
    checkpoint: dict[str, Any] | None = None  # the last-checkpoint endpoint's single checkpoint


class _Meta(BaseModel):
    code: int | None = None
    message: str | None = None


class _Document(BaseModel):
    event: str | None = None
    msg: dict[str, Any] | None = None
    meta: _Meta | None = None
    data: dict[str, Any] | None = None


def verify(headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
    if not isinstance(config, Config):
        raise TypeError(f"aftership needs its own Config, got {type(config).__name__}")
    received = headers.get("aftership-hmac-sha256", "").strip()
    secret = config.webhook_secret.get_secret_value()
    if not received or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, received.encode("utf-8", "replace"))


def parse(body: bytes) -> Parsed:
    try:
        document = _Document.model_validate(json.loads(body))
    except ValueError as exc:  # invalid JSON or UTF-8, or not an object
        raise ValueError(f"not an AfterShip webhook or API response: {exc}") from exc
    if document.event is not None:
        if document.event in IGNORED_EVENTS:
            return Parsed(ignored=[f"event {document.event}: no tracking change"])
        if document.event not in TRACKING_EVENTS:
            raise Unsupported(f"AfterShip event {document.event!r}")
        if document.msg is None:
            raise ValueError(f"AfterShip event {document.event} has no msg")
        trackings = [document.msg]
    elif document.data is not None:
        if document.meta and document.meta.code not in (None, 200, 201):
            return Parsed(errors=[f"AfterShip error {document.meta.code}: {document.meta.message}"])
        trackings = _trackings(document.data)
    else:
        raise ValueError("not an AfterShip webhook or API response")
    parsed = Parsed()
    for raw in trackings:
        _add_tracking(parsed, raw)
    return parsed


def _trackings(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The tracking objects of an API response's ``data``, whichever endpoint it came from."""
    listed = data.get("trackings")
    if isinstance(listed, list):
        return [item for item in listed if isinstance(item, dict)]
    single = data.get("tracking")
    if isinstance(single, dict):
        return [single]
    if "tracking_number" in data:
        return [data]
    raise ValueError("AfterShip response data holds no tracking")


def _add_tracking(parsed: Parsed, raw: dict[str, Any]) -> None:
    try:
        tracking = _Tracking.model_validate(raw)
    except ValidationError as exc:
        parsed.errors.append(f"tracking: not an AfterShip tracking ({_reason(exc)})")
        return
    label = f"{tracking.slug or '?'} {tracking.tracking_number or '?'}"
    raws = list(tracking.checkpoints or [])
    if tracking.checkpoint is not None:
        raws.append(tracking.checkpoint)
    checkpoints = [cp for item in raws if (cp := _checkpoint(parsed, label, item)) is not None]
    if not raws and tracking.tag not in (None, "Pending"):
        parsed.ignored.append(
            f"{label}: {tracking.tag}/{tracking.subtag} without checkpoints: no scan to apply"
        )
    try:
        update = ApplyTracking(
            tracking_number=(tracking.tracking_number or "").strip(),
            carrier=_text(tracking.slug, 60),
            service=_text(tracking.shipment_type, 100),
            checkpoints=tuple(checkpoints),
            estimated_delivery_on=_estimated(tracking),
            order_ref=_text(tracking.order_id, 100),
            signed_by=_signer(tracking.signed_by),
        )
    except ValidationError as exc:
        parsed.errors.append(f"{label}: {_reason(exc)}")
        return
    parsed.updates.append(update)


def _checkpoint(parsed: Parsed, label: str, raw: dict[str, Any]) -> CheckpointInput | None:
    try:
        item = _Checkpoint.model_validate(raw)
    except ValidationError as exc:
        parsed.errors.append(f"{label}: checkpoint not readable ({_reason(exc)})")
        return None
    raw_code = (item.subtag or item.tag or "").strip()
    (status, substatus), known = map_code(raw_code, item.tag)
    if not known and (raw_code or "(none)") not in parsed.unknown_codes:
        parsed.unknown_codes.append(raw_code or "(none)")
    country, region = alpha2(item.country_region or item.country_iso3), _text(item.state, 200)
    if not item.checkpoint_time:
        parsed.errors.append(f"{label}: checkpoint {raw_code!r} has no checkpoint_time")
        return None
    try:
        return CheckpointInput(
            occurred_at=parse_iso(item.checkpoint_time, country=country, region=region),
            status=status,
            substatus=substatus,
            raw_code=raw_code[:100] or None,
            message=_text(item.message or item.subtag_message, 2000),
            city=_text(item.city, 200),
            region=region,
            postal_code=_text(item.zip or item.postal_code, 40),
            country=country,
        )
    except ValueError as exc:  # a bad time, or a field the command refuses (ValidationError)
        parsed.errors.append(f"{label}: checkpoint {raw_code!r} at {item.checkpoint_time!r}: {exc}")
        return None


def _estimated(tracking: _Tracking) -> date | None:
    courier = tracking.courier_estimated_delivery_date
    for value in (courier.estimated_delivery_date if courier else None, tracking.expected_delivery):
        if not value:
            continue
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            continue
    return None


def _signer(value: str | None) -> str | None:
    """Who signed; carriers fill the field with "Signature not required" when nobody did."""
    name = _text(value, 200)
    return None if name is None or name.lower().startswith("signature not required") else name


def _text(value: str | None, limit: int) -> str | None:
    return (value or "").strip()[:limit] or None


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())


class AfterShipSource:
    name = "aftership"
    title = "AfterShip"
    delivery = Delivery.push
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return verify(headers, body, config)

    def parse(self, body: bytes) -> Parsed:
        return parse(body)


SOURCE = AfterShipSource()
