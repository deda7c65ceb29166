"""EasyPost trackers: tracker webhook Events and Tracker objects.

Provider: EasyPost, a multi-carrier aggregator. Docs: https://docs.easypost.com/docs/trackers (Tracker,
TrackingDetail, ``status`` and ``status_detail`` values), https://docs.easypost.com/docs/events (Event
types) and https://docs.easypost.com/guides/webhooks-guide (signing).

Push: EasyPost POSTs an ``Event`` to /hooks/tracking/easypost/{store}; ``tracker.created`` and
``tracker.updated`` carry the whole ``Tracker`` in ``result``. Tracker objects from the API (create,
retrieve, or a ``{"trackers": [...]}`` list page) parse the same way, for backfills.

Signature: ``X-Hmac-Signature: hmac-sha256-hex=<hex>``, the HMAC-SHA256 of the raw body keyed with the
webhook secret normalised to Unicode NFKD and encoded as UTF-8, as EasyPost's client libraries'
``validate_webhook`` compute it (checked against their shared test vector).

Codes: every scan has a coarse ``status`` and a finer ``status_detail``; the checkpoint keeps both as
``status/status_detail``. The status decides. A detail that names a problem or a place (``_REFINING``)
replaces it, except on a delivered scan (a delivered parcel stays delivered); the other documented details
(``_DESCRIPTIVE``) only describe. EasyPost documents no detail-per-status table, hence this rule.
"""

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK, parse_iso
from doorstep.integrations.tracking.countries import alpha2
from doorstep.integrations.tracking.protocol import Delivery, Mapped, Parsed, Unsupported
from doorstep.shipments.commands import ApplyTracking, CheckpointInput, Direction
from doorstep.shipments.status import Status, Substatus


class Config(BaseModel):
    """The secret set on the store's EasyPost webhook (EasyPost dashboard → Webhooks)."""

    model_config = ConfigDict(extra="forbid")

    webhook_secret: SecretStr = Field(
        ..., min_length=1, description="Webhook secret EasyPost signs each Event with (X-Hmac-Signature)."
    )


# The ten documented Tracker/TrackingDetail ``status`` values.
_STATUSES = frozenset(
    {"unknown", "pre_transit", "in_transit", "out_for_delivery", "available_for_pickup", "delivered",
     "return_to_sender", "failure", "cancelled", "error"}
)  # fmt: skip

# ``status_detail`` values that say more than the status and replace it.
_REFINING = frozenset(
    {"address_correction", "arrived_at_pickup_location", "cancelled", "damaged", "delivery_exception",
     "expired", "failure", "held", "lost", "refused", "return", "transit_exception", "weather_delay"}
)  # fmt: skip

# ``status_detail`` values that only describe the scan: the status decides.
_DESCRIPTIVE = frozenset(
    {"arrived_at_destination", "arrived_at_facility", "awaiting_information", "delayed", "departed_facility",
     "departed_origin_facility", "in_transit", "label_created", "missorted", "out_for_delivery",
     "received_at_destination_facility", "received_at_origin_facility", "status_update",
     "transferred_to_destination_carrier", "unknown"}
)  # fmt: skip

STATUS_MAP: dict[str, Mapped] = {
    # status
    "unknown": (Status.pending, None),  # the carrier has no information yet
    "pre_transit": (Status.info_received, None),
    "in_transit": (Status.in_transit, None),
    "out_for_delivery": (Status.out_for_delivery, None),
    "available_for_pickup": (Status.available_for_pickup, None),
    "delivered": (Status.delivered, None),
    "return_to_sender": (Status.exception, Substatus.returning_to_sender),
    "failure": (Status.exception, Substatus.other),  # also a detail, with the same meaning
    "cancelled": (Status.exception, Substatus.other),  # label voided or tracker cancelled; also a detail
    "error": (Status.exception, Substatus.other),
    # status_detail that refines
    "address_correction": (Status.exception, Substatus.address_issue),
    "arrived_at_pickup_location": (Status.available_for_pickup, None),
    "damaged": (Status.exception, Substatus.damaged),
    "delivery_exception": (Status.attempt_failed, None),  # the carriers' "delivery exception": not delivered
    "expired": (Status.expired, None),
    "held": (Status.exception, Substatus.other),  # held at a facility; EasyPost does not say why
    "lost": (Status.exception, Substatus.lost),
    "refused": (Status.exception, Substatus.refused),
    "return": (Status.exception, Substatus.returning_to_sender),
    "transit_exception": (Status.exception, Substatus.other),
    "weather_delay": (Status.exception, Substatus.weather),
}

TRACKER_EVENTS = frozenset({"tracker.created", "tracker.updated"})

# Every other documented Event type: an EasyPost webhook receives all of an account's events.
IGNORED_EVENTS = frozenset(
    {"batch.created", "batch.updated", "claims.submitted", "claims.cancelled", "claims.updated",
     "claims.rejected", "claims.approved", "insurance.purchased", "insurance.cancelled", "payment.created",
     "payment.completed", "payment.failed", "refund.successful", "report.new", "report.empty",
     "report.available", "report.failed", "scan_form.created", "scan_form.updated",
     "shipment.invoice.created", "shipment.invoice.updated"}
)  # fmt: skip


def map_code(raw_code: str) -> tuple[Mapped, bool]:
    """``status`` or ``status/status_detail`` → (status, substatus), and whether every part is documented."""
    status, _, detail = raw_code.partition("/")
    base = STATUS_MAP.get(status) if status in _STATUSES else None
    known = base is not None and (not detail or detail in _REFINING or detail in _DESCRIPTIVE)
    if detail in _REFINING and (base is None or base[0] is not Status.delivered):
        return STATUS_MAP[detail], known
    if base is not None:
        return base, known
    return UNKNOWN_FALLBACK, False


class _Location(BaseModel):
    city: str | None = None
    state: str | None = None
    country: str | None = None
    zip: str | None = None


class _Detail(BaseModel):
    message: str | None = None
    description: str | None = None
    status: str | None = None
    status_detail: str | None = None
    at: str | None = Field(None, alias="datetime")
    tracking_location: _Location | None = None


class _CarrierDetail(BaseModel):
    service: str | None = None
    est_delivery_date_local: str | None = None


class _Tracker(BaseModel):
    id: str | None = None
    tracking_code: str | None = None
    carrier: str | None = None
    signed_by: str | None = None
    est_delivery_date: str | None = None
    is_return: bool | None = None
    tracking_details: list[_Detail] | None = None
    carrier_detail: _CarrierDetail | None = None


class _Document(BaseModel):
    """What arrives: an Event, a Tracker, or a list page of Trackers."""

    object: str | None = None
    description: str | None = None
    result: dict[str, Any] | None = None
    trackers: list[dict[str, Any]] | None = None


def verify(headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
    if not isinstance(config, Config):
        raise TypeError(f"easypost needs its own Config, got {type(config).__name__}")
    received = headers.get("x-hmac-signature", "").strip()
    secret = unicodedata.normalize("NFKD", config.webhook_secret.get_secret_value())
    if not received or not secret:
        return False
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"hmac-sha256-hex={digest}".encode(), received.encode("utf-8", "replace"))


def parse(body: bytes) -> Parsed:
    try:
        payload = json.loads(body)
        document = _Document.model_validate(payload)
    except ValueError as exc:  # invalid JSON or UTF-8, or not an object
        raise ValueError(f"not an EasyPost Event or Tracker: {exc}") from exc
    if document.object == "Event":
        if document.description in IGNORED_EVENTS:
            return Parsed(ignored=[f"event {document.description}: not about tracking"])
        if document.description not in TRACKER_EVENTS:
            raise Unsupported(f"EasyPost event {document.description!r}")
        if document.result is None:
            raise ValueError(f"EasyPost event {document.description} has no result")
        trackers = [document.result]
    elif document.object == "Tracker":
        trackers = [payload]
    elif document.trackers is not None:
        trackers = document.trackers
    else:
        raise ValueError("not an EasyPost Event, Tracker or tracker list")
    parsed = Parsed()
    for raw in trackers:
        _add_tracker(parsed, raw)
    return parsed


def _add_tracker(parsed: Parsed, raw: dict[str, Any]) -> None:
    try:
        tracker = _Tracker.model_validate(raw)
    except ValidationError as exc:
        parsed.errors.append(f"tracker: not an EasyPost Tracker ({_reason(exc)})")
        return
    label = tracker.tracking_code or tracker.id or "(no tracking code)"
    checkpoints = [
        checkpoint
        for detail in tracker.tracking_details or []
        if (checkpoint := _checkpoint(parsed, label, detail)) is not None
    ]
    service = tracker.carrier_detail.service if tracker.carrier_detail else None
    try:
        update = ApplyTracking(
            tracking_number=(tracker.tracking_code or "").strip(),
            carrier=_text(tracker.carrier, 60),
            service=_text(service, 100),
            checkpoints=tuple(checkpoints),
            estimated_delivery_on=_estimated(tracker),
            direction=Direction.return_ if tracker.is_return else Direction.outbound,
            signed_by=_text(tracker.signed_by, 200),
        )
    except ValidationError as exc:
        parsed.errors.append(f"tracker {label}: {_reason(exc)}")
        return
    parsed.updates.append(update)


def _checkpoint(parsed: Parsed, label: str, detail: _Detail) -> CheckpointInput | None:
    status = (detail.status or "").strip()
    finer = (detail.status_detail or "").strip()
    raw_code = f"{status}/{finer}" if finer else status
    (mapped_status, substatus), known = map_code(raw_code)
    if not known and (raw_code or "(none)") not in parsed.unknown_codes:
        parsed.unknown_codes.append(raw_code or "(none)")
    place = detail.tracking_location or _Location()
    country, region = alpha2(place.country), _text(place.state, 200)
    if not detail.at:
        parsed.errors.append(f"{label}: scan {raw_code!r} has no datetime")
        return None
    try:
        return CheckpointInput(
            occurred_at=parse_iso(detail.at, country=country, region=region),
            status=mapped_status,
            substatus=substatus,
            raw_code=raw_code[:100] or None,
            message=_text(detail.message or detail.description, 2000),
            city=_text(place.city, 200),
            region=region,
            postal_code=_text(place.zip, 40),
            country=country,
        )
    except ValueError as exc:  # a bad time, or a field the command refuses (ValidationError)
        parsed.errors.append(f"{label}: scan {raw_code!r} at {detail.at!r}: {exc}")
        return None


def _estimated(tracker: _Tracker) -> date | None:
    local = tracker.carrier_detail.est_delivery_date_local if tracker.carrier_detail else None
    for value in (local, tracker.est_delivery_date):
        if not value:
            continue
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            continue
    return None


def _text(value: str | None, limit: int) -> str | None:
    return (value or "").strip()[:limit] or None


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())


class EasyPostSource:
    name = "easypost"
    title = "EasyPost"
    delivery = Delivery.push
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return verify(headers, body, config)

    def parse(self, body: bytes) -> Parsed:
        return parse(body)


SOURCE = EasyPostSource()
