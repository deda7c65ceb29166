"""17TRACK Tracking API v2.x: push notifications and gettrackinfo responses.

Provider: 17TRACK, a multi-carrier aggregator. Docs: https://api.17track.net/en/doc?version=v2.4 (main
statuses and sub-statuses, the track_info object, webhook payloads and signing).

Push: 17TRACK POSTs ``{"event": "TRACKING_UPDATED" | "TRACKING_STOPPED", "data": {...}}`` to
/hooks/tracking/seventeentrack/{store}; ``data`` of TRACKING_UPDATED has the same shape as an accepted
``gettrackinfo`` item (``number``, ``carrier``, ``track_info``). A ``gettrackinfo`` response
(``{"code", "data": {"accepted": [...], "rejected": [...]}}``) parses the same way, for backfills.

Signature: header ``sign`` = hex SHA-256 of the raw body, then ``/``, then the account's security key
(``sha256(body + "/" + key)``; a plain hash, not an HMAC).

Codes: events carry a ``sub_status`` named after its main status (``InTransit_PickedUp``; ``InfoReceived``
has no breakdown), which the checkpoint keeps. An undocumented sub-status falls back to its main status and
is listed in ``Parsed.unknown_codes``. Times: ``time_iso`` (the carrier's local time with its offset), else
``time_utc``, else ``time_raw`` (date, time and offset as the carrier gave them; the place's zone when the
offset is missing).
"""

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
    """The 17TRACK API account's security key (17TRACK API console → Settings → Security)."""

    model_config = ConfigDict(extra="forbid")

    security_key: SecretStr = Field(
        ..., min_length=1, description="Security (access) key; 17TRACK signs each push with it."
    )


STATUS_MAP: dict[str, Mapped] = {
    # main statuses
    "NotFound": (Status.pending, None),
    "InfoReceived": (Status.info_received, None),  # also the sub-status of InfoReceived
    "InTransit": (Status.in_transit, None),
    "Expired": (Status.expired, None),
    "AvailableForPickup": (Status.available_for_pickup, None),
    "OutForDelivery": (Status.out_for_delivery, None),
    "DeliveryFailure": (Status.attempt_failed, None),
    "Delivered": (Status.delivered, None),
    "Exception": (Status.exception, Substatus.other),
    # sub-statuses
    "NotFound_Other": (Status.pending, None),
    "NotFound_InvalidCode": (Status.pending, None),  # reported in Parsed.errors too
    "InTransit_PickedUp": (Status.in_transit, None),
    "InTransit_Other": (Status.in_transit, None),
    "InTransit_Departure": (Status.in_transit, None),
    "InTransit_Arrival": (Status.in_transit, None),
    "InTransit_CustomsProcessing": (Status.in_transit, None),
    "InTransit_CustomsReleased": (Status.in_transit, None),
    "InTransit_CustomsRequiringInformation": (Status.exception, Substatus.customs_hold),
    "Expired_Other": (Status.expired, None),
    "AvailableForPickup_Other": (Status.available_for_pickup, None),
    "OutForDelivery_Other": (Status.out_for_delivery, None),
    "DeliveryFailure_Other": (Status.attempt_failed, None),
    "DeliveryFailure_NoBody": (Status.attempt_failed, None),  # nobody to receive it
    "DeliveryFailure_Security": (Status.attempt_failed, None),  # not handed over for security reasons
    "DeliveryFailure_Rejected": (Status.exception, Substatus.refused),
    "DeliveryFailure_InvalidAddress": (Status.exception, Substatus.address_issue),
    "Delivered_Other": (Status.delivered, None),
    "Exception_Other": (Status.exception, Substatus.other),
    "Exception_Returning": (Status.exception, Substatus.returning_to_sender),
    "Exception_Returned": (Status.returned, None),
    "Exception_NoBody": (Status.exception, Substatus.other),  # recipient cannot be found or reached
    "Exception_Security": (Status.exception, Substatus.customs_hold),  # held: prohibited goods, unpaid duties
    "Exception_Damage": (Status.exception, Substatus.damaged),
    "Exception_Rejected": (Status.exception, Substatus.refused),
    "Exception_Delayed": (Status.exception, Substatus.other),
    "Exception_Lost": (Status.exception, Substatus.lost),
    "Exception_Destroyed": (Status.exception, Substatus.lost),  # destroyed: it will not arrive
    "Exception_Cancel": (Status.exception, Substatus.other),  # the carrier order was cancelled
}

UPDATE_EVENTS = frozenset({"TRACKING_UPDATED"})
IGNORED_EVENTS = frozenset({"TRACKING_STOPPED"})  # 17TRACK stopped tracking the number: no new scan


def map_code(raw_code: str) -> tuple[Mapped, bool]:
    """A sub-status or main status → (status, substatus), and whether it is documented."""
    if raw_code in STATUS_MAP:
        return STATUS_MAP[raw_code], True
    main = raw_code.split("_", 1)[0]
    if main in STATUS_MAP:
        return STATUS_MAP[main], False
    return UNKNOWN_FALLBACK, False


class _Address(BaseModel):
    country: str | None = None
    state: str | None = None
    city: str | None = None
    postal_code: str | None = None


class _TimeRaw(BaseModel):
    date: str | None = None
    time: str | None = None
    timezone: str | None = None


class _Event(BaseModel):
    time_iso: str | None = None
    time_utc: str | None = None
    time_raw: _TimeRaw | None = None
    description: str | None = None
    location: str | None = None
    sub_status: str | None = None
    address: _Address | None = None


class _Provider(BaseModel):
    key: int | str | None = None
    name: str | None = None


class _ProviderEvents(BaseModel):
    provider: _Provider | None = None
    service_type: str | None = None
    events: list[dict[str, Any]] | None = None


class _Tracking(BaseModel):
    providers: list[_ProviderEvents] | None = None


class _LatestStatus(BaseModel):
    status: str | None = None
    sub_status: str | None = None


class _Estimate(BaseModel):
    source: str | None = None
    start: str | None = Field(None, alias="from")
    end: str | None = Field(None, alias="to")


class _TimeMetrics(BaseModel):
    estimated_delivery_date: _Estimate | None = None


class _TrackInfo(BaseModel):
    latest_status: _LatestStatus | None = None
    time_metrics: _TimeMetrics | None = None
    tracking: _Tracking | None = None


class _Item(BaseModel):
    number: str | None = None
    carrier: int | str | None = None
    track_info: _TrackInfo | None = None


class _Rejected(BaseModel):
    number: str | None = None
    error: dict[str, Any] | None = None


class _Data(BaseModel):
    accepted: list[dict[str, Any]] | None = None
    rejected: list[_Rejected] | None = None


class _Document(BaseModel):
    event: str | None = None
    code: int | None = None
    data: dict[str, Any] | None = None


def verify(headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
    if not isinstance(config, Config):
        raise TypeError(f"seventeentrack needs its own Config, got {type(config).__name__}")
    received = headers.get("sign", "").strip().lower()
    key = config.security_key.get_secret_value()
    if not received or not key:
        return False
    expected = hashlib.sha256(body + b"/" + key.encode()).hexdigest()
    return hmac.compare_digest(expected.encode(), received.encode("utf-8", "replace"))


def parse(body: bytes) -> Parsed:
    try:
        document = _Document.model_validate(json.loads(body))
    except ValueError as exc:  # invalid JSON or UTF-8, or not an object
        raise ValueError(f"not a 17TRACK push or gettrackinfo response: {exc}") from exc
    if document.data is None:
        raise ValueError("not a 17TRACK push or gettrackinfo response: no data")
    parsed = Parsed()
    if document.event is not None:
        if document.event in IGNORED_EVENTS:
            try:
                number = _Item.model_validate(document.data).number
            except ValidationError:
                number = None
            parsed.ignored.append(f"event {document.event} for {number}: 17TRACK stopped tracking it")
            return parsed
        if document.event not in UPDATE_EVENTS:
            raise Unsupported(f"17TRACK event {document.event!r}")
        _add_item(parsed, document.data)
        return parsed
    try:
        data = _Data.model_validate(document.data)
    except ValidationError as exc:
        raise ValueError(f"not a 17TRACK gettrackinfo response: {_reason(exc)}") from exc
    for raw in data.accepted or []:
        _add_item(parsed, raw)
    for rejected in data.rejected or []:
        error = rejected.error or {}
        parsed.errors.append(f"{rejected.number}: 17TRACK error {error.get('code')}: {error.get('message')}")
    return parsed


def _add_item(parsed: Parsed, raw: dict[str, Any]) -> None:
    try:
        item = _Item.model_validate(raw)
    except ValidationError as exc:
        parsed.errors.append(f"item: not a 17TRACK tracking ({_reason(exc)})")
        return
    number = (item.number or "").strip()
    info = item.track_info or _TrackInfo()
    latest = info.latest_status or _LatestStatus()
    if latest.sub_status == "NotFound_InvalidCode":
        parsed.errors.append(f"{number}: 17TRACK says the tracking number is invalid (NotFound_InvalidCode)")
    providers = info.tracking.providers if info.tracking and info.tracking.providers else []
    checkpoints = [
        checkpoint
        for provider in providers
        for event in provider.events or []
        if (checkpoint := _checkpoint(parsed, number, event)) is not None
    ]
    try:
        update = ApplyTracking(
            tracking_number=number,
            carrier=_text(_carrier(item, providers), 60),
            service=_text(next((p.service_type for p in providers if p.service_type), None), 100),
            checkpoints=tuple(checkpoints),
            estimated_delivery_on=_estimated(info),
        )
    except ValidationError as exc:
        parsed.errors.append(f"{number or 'item'}: {_reason(exc)}")
        return
    parsed.updates.append(update)


def _checkpoint(parsed: Parsed, number: str, raw: dict[str, Any]) -> CheckpointInput | None:
    try:
        event = _Event.model_validate(raw)
    except ValidationError as exc:
        parsed.errors.append(f"{number}: event not readable ({_reason(exc)})")
        return None
    raw_code = (event.sub_status or "").strip()
    (status, substatus), known = map_code(raw_code)
    if not known and (raw_code or "(none)") not in parsed.unknown_codes:
        parsed.unknown_codes.append(raw_code or "(none)")
    place = event.address or _Address()
    country, region = alpha2(place.country), _text(place.state, 200)
    when = event.time_iso or event.time_utc or _raw_time(event.time_raw)
    if not when:
        parsed.errors.append(f"{number}: event {raw_code!r} has no time")
        return None
    try:
        return CheckpointInput(
            occurred_at=parse_iso(when, country=country, region=region),
            status=status,
            substatus=substatus,
            raw_code=raw_code[:100] or None,
            message=_text(event.description, 2000),
            city=_text(place.city, 200) or _text(event.location, 200),
            region=region,
            postal_code=_text(place.postal_code, 40),
            country=country,
        )
    except ValueError as exc:  # a bad time, or a field the command refuses (ValidationError)
        parsed.errors.append(f"{number}: event {raw_code!r} at {when!r}: {exc}")
        return None


def _raw_time(raw: _TimeRaw | None) -> str | None:
    """The carrier's own date, time and offset as one ISO string (no offset: the place decides the zone)."""
    if raw is None or not raw.date:
        return None
    clock = (raw.time or "00:00:00").strip()
    return f"{raw.date.strip()}T{clock}{(raw.timezone or '').strip()}"


def _carrier(item: _Item, providers: list[_ProviderEvents]) -> str | None:
    """The carrier's name as 17TRACK gives it (its provider entry), else 17TRACK's numeric carrier code."""
    names = {str(p.provider.key): p.provider.name for p in providers if p.provider and p.provider.name}
    if item.carrier is not None and str(item.carrier) in names:
        return names[str(item.carrier)]
    if names:
        return next(iter(names.values()))
    return str(item.carrier) if item.carrier not in (None, 0, "", "0") else None  # 0: not detected


def _estimated(info: _TrackInfo) -> date | None:
    """The carrier's expected date; 17TRACK's own prediction (source "17TRACK") is not the carrier's."""
    estimate = info.time_metrics.estimated_delivery_date if info.time_metrics else None
    if estimate is None or (estimate.source or "").strip().lower() == "17track":
        return None
    for value in (estimate.end, estimate.start):
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


class SeventeenTrackSource:
    name = "seventeentrack"
    title = "17TRACK"
    delivery = Delivery.push
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return verify(headers, body, config)

    def parse(self, body: bytes) -> Parsed:
        return parse(body)


SOURCE = SeventeenTrackSource()
