"""Shippo tracking: ``track_updated`` webhooks and Track objects.

Provider: Shippo, a multi-carrier aggregator. Docs: https://docs.goshippo.com/docs/tracking/tracking
(Track object, ``status`` values and the status/substatus table), https://docs.goshippo.com/docs/tracking/webhooks
(payload) and https://docs.goshippo.com/docs/Tracking/WebhookSecurity (securing the endpoint).

Push: Shippo POSTs ``{"event": "track_updated", "test", "data": <Track>}`` to
/hooks/tracking/shippo/{store}. Track objects from the API (``POST /tracks/``, ``GET /tracks/{carrier}/{number}``)
parse the same way, for backfills.

Signature: none by default (Shippo's HMAC signing is opt-in through an account manager and not supported
here). Shippo's documented alternative is a shared secret token the store puts in the webhook URL
(``…/hooks/tracking/shippo/{store}?token=<token>``). ``verify`` only sees headers, so it requires the token in
``x-doorstep-token`` (the webhook route, or a proxy in front of it, copies the ``token`` query parameter
there) or as ``Authorization: Bearer <token>``, compared in constant time with ``Config.webhook_token``.

Codes: every event has a ``status`` (PRE_TRANSIT, TRANSIT, DELIVERED, RETURNED, FAILURE, UNKNOWN) and, on
newer events, a ``substatus.code`` documented per status; the checkpoint keeps ``STATUS/substatus`` (or the
status alone). An undocumented pair falls back to its status and is listed in ``Parsed.unknown_codes``.
"""

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
    """The shared token in the store's Shippo webhook URL (Shippo portal → Settings → Webhooks)."""

    model_config = ConfigDict(extra="forbid")

    webhook_token: SecretStr = Field(
        ...,
        min_length=16,
        description="Random token put in the webhook URL as ?token=…; requests without it are refused.",
    )


STATUS_MAP: dict[str, Mapped] = {
    # status alone (events without a substatus)
    "PRE_TRANSIT": (Status.info_received, None),
    "TRANSIT": (Status.in_transit, None),
    "DELIVERED": (Status.delivered, None),
    "RETURNED": (Status.exception, Substatus.returning_to_sender),  # on its way back, or back
    "FAILURE": (Status.exception, Substatus.other),
    "UNKNOWN": (Status.pending, None),  # the carrier does not know the parcel yet
    # status/substatus, as documented
    "PRE_TRANSIT/information_received": (Status.info_received, None),
    "TRANSIT/address_issue": (Status.exception, Substatus.address_issue),
    "TRANSIT/contact_carrier": (Status.exception, Substatus.other),
    "TRANSIT/delayed": (Status.in_transit, None),  # a delay is a flag, not a status
    "TRANSIT/delivery_attempted": (Status.attempt_failed, None),
    "TRANSIT/delivery_rescheduled": (Status.in_transit, None),
    "TRANSIT/delivery_scheduled": (Status.in_transit, None),
    "TRANSIT/location_inaccessible": (Status.attempt_failed, None),
    "TRANSIT/notice_left": (Status.attempt_failed, None),
    "TRANSIT/out_for_delivery": (Status.out_for_delivery, None),
    "TRANSIT/package_accepted": (Status.in_transit, None),
    "TRANSIT/package_arrived": (Status.in_transit, None),
    "TRANSIT/package_damaged": (Status.exception, Substatus.damaged),
    "TRANSIT/package_departed": (Status.in_transit, None),
    "TRANSIT/package_forwarded": (Status.in_transit, None),
    "TRANSIT/package_held": (Status.exception, Substatus.other),  # held at a carrier location
    "TRANSIT/package_processed": (Status.in_transit, None),
    "TRANSIT/package_processing": (Status.in_transit, None),
    "TRANSIT/pickup_available": (Status.available_for_pickup, None),
    "TRANSIT/reschedule_delivery": (Status.attempt_failed, None),  # the recipient must rebook a delivery
    "DELIVERED/delivered": (Status.delivered, None),
    "RETURNED/return_to_sender": (Status.exception, Substatus.returning_to_sender),
    "RETURNED/package_unclaimed": (Status.exception, Substatus.returning_to_sender),  # not collected
    "FAILURE/package_undeliverable": (Status.exception, Substatus.other),
    "FAILURE/package_disposed": (Status.exception, Substatus.lost),  # destroyed: it will not arrive
    "FAILURE/package_lost": (Status.exception, Substatus.lost),
    "UNKNOWN/other": UNKNOWN_FALLBACK,  # "unrecognized carrier status"
}

TRACK_EVENTS = frozenset({"track_updated"})
IGNORED_EVENTS = frozenset({"transaction_created", "transaction_updated", "batch_created", "batch_purchased"})


def map_code(raw_code: str) -> tuple[Mapped, bool]:
    """``STATUS`` or ``STATUS/substatus`` → (status, substatus), and whether it is documented."""
    status, _, substatus = raw_code.partition("/")
    key = f"{status.upper()}/{substatus.lower()}" if substatus else status.upper()
    if key in STATUS_MAP:
        return STATUS_MAP[key], True
    if status.upper() in STATUS_MAP:
        return STATUS_MAP[status.upper()], False
    return UNKNOWN_FALLBACK, False


class _Location(BaseModel):
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class _Substatus(BaseModel):
    code: str | None = None


class _Event(BaseModel):
    status: str | None = None
    substatus: _Substatus | str | None = None
    status_details: str | None = None
    status_date: str | None = None
    location: _Location | None = None

    def raw_code(self) -> str:
        status = (self.status or "").strip()
        code = self.substatus.code if isinstance(self.substatus, _Substatus) else self.substatus
        code = (code or "").strip()
        return f"{status}/{code}" if code else status


class _ServiceLevel(BaseModel):
    name: str | None = None


class _Track(BaseModel):
    carrier: str | None = None
    tracking_number: str | None = None
    eta: str | None = None
    servicelevel: _ServiceLevel | None = None
    tracking_status: dict[str, Any] | None = None
    tracking_history: list[dict[str, Any]] | None = None


class _Document(BaseModel):
    event: str | None = None
    data: dict[str, Any] | None = None
    tracking_number: str | None = None


def verify(headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
    if not isinstance(config, Config):
        raise TypeError(f"shippo needs its own Config, got {type(config).__name__}")
    token = config.webhook_token.get_secret_value().encode()
    authorization = headers.get("authorization", "").strip()
    bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
    candidates = [headers.get("x-doorstep-token", "").strip(), bearer]
    matches = [hmac.compare_digest(c.encode("utf-8", "replace"), token) for c in candidates if c]
    return bool(token) and any(matches)


def parse(body: bytes) -> Parsed:
    try:
        payload = json.loads(body)
        document = _Document.model_validate(payload)
    except ValueError as exc:  # invalid JSON or UTF-8, or not an object
        raise ValueError(f"not a Shippo webhook or Track: {exc}") from exc
    if document.event is not None:
        if document.event in IGNORED_EVENTS:
            return Parsed(ignored=[f"event {document.event}: not about tracking"])
        if document.event not in TRACK_EVENTS:
            raise Unsupported(f"Shippo event {document.event!r}")
        if document.data is None:
            raise ValueError(f"Shippo event {document.event} has no data")
        raw = document.data
    elif document.tracking_number is not None:
        raw = payload
    else:
        raise ValueError("not a Shippo webhook or Track")
    parsed = Parsed()
    _add_track(parsed, raw)
    return parsed


def _add_track(parsed: Parsed, raw: dict[str, Any]) -> None:
    try:
        track = _Track.model_validate(raw)
    except ValidationError as exc:
        parsed.errors.append(f"track: not a Shippo Track ({_reason(exc)})")
        return
    label = f"{track.carrier or '?'} {track.tracking_number or '?'}"
    events = list(track.tracking_history or [])
    # The current status repeats the newest history entry; keep it only when the history lacks it.
    if track.tracking_status is not None:
        events.append(track.tracking_status)
    checkpoints: list[CheckpointInput] = []
    for item in events:
        checkpoint = _checkpoint(parsed, label, item)
        if checkpoint is not None and checkpoint not in checkpoints:
            checkpoints.append(checkpoint)
    try:
        update = ApplyTracking(
            tracking_number=(track.tracking_number or "").strip(),
            carrier=_text(track.carrier, 60),
            service=_text(track.servicelevel.name if track.servicelevel else None, 100),
            checkpoints=tuple(checkpoints),
            estimated_delivery_on=_estimated(track.eta),
        )
    except ValidationError as exc:
        parsed.errors.append(f"{label}: {_reason(exc)}")
        return
    parsed.updates.append(update)


def _checkpoint(parsed: Parsed, label: str, raw: dict[str, Any]) -> CheckpointInput | None:
    try:
        event = _Event.model_validate(raw)
    except ValidationError as exc:
        parsed.errors.append(f"{label}: event not readable ({_reason(exc)})")
        return None
    raw_code = event.raw_code()
    (status, substatus), known = map_code(raw_code)
    if not known and (raw_code or "(none)") not in parsed.unknown_codes:
        parsed.unknown_codes.append(raw_code or "(none)")
    place = event.location or _Location()
    country, region = alpha2(place.country), _text(place.state, 200)
    if not event.status_date:
        parsed.errors.append(f"{label}: event {raw_code!r} has no status_date")
        return None
    try:
        return CheckpointInput(
            occurred_at=parse_iso(event.status_date, country=country, region=region),
            status=status,
            substatus=substatus,
            raw_code=raw_code[:100] or None,
            message=_text(event.status_details, 2000),
            city=_text(place.city, 200),
            region=region,
            postal_code=_text(place.zip, 40),
            country=country,
        )
    except ValueError as exc:  # a bad time, or a field the command refuses (ValidationError)
        parsed.errors.append(f"{label}: event {raw_code!r} at {event.status_date!r}: {exc}")
        return None


def _estimated(eta: str | None) -> date | None:
    try:
        return date.fromisoformat(eta[:10]) if eta else None
    except ValueError:
        return None


def _text(value: str | None, limit: int) -> str | None:
    return (value or "").strip()[:limit] or None


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())


class ShippoSource:
    name = "shippo"
    title = "Shippo"
    delivery = Delivery.push
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return verify(headers, body, config)

    def parse(self, body: bytes) -> Parsed:
        return parse(body)


SOURCE = ShippoSource()
