"""Doorstep's simulated carrier: realistic scan sequences for demos and tests.

Not a real provider. Given a tracking number, a service level, the time the parcel was handed over and
"now", it deterministically produces the scans a real network would have made so far, including the
failure modes real parcels hit: a failed attempt, a weather delay, an address problem, a lost parcel, a
return to sender, a customs hold and a pickup-point delivery. The payload format is its own JSON
(``{"tracking_number", "service", "events": [{"at", "code", "message", "city", ...}]}``), parsed by the same
``parse`` as every source. Poll; no signature (``verify`` accepts nothing: it is never pushed).
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict, ValidationError

from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK, parse_iso
from doorstep.integrations.tracking.protocol import Delivery, Mapped, NoConfig, Parsed
from doorstep.shipments.commands import ApplyTracking, CheckpointInput
from doorstep.shipments.status import Status, Substatus

Config = NoConfig

STATUS_MAP: dict[str, Mapped] = {
    "LABEL": (Status.info_received, None),
    "PICKUP": (Status.in_transit, None),
    "DEPART": (Status.in_transit, None),
    "ARRIVE": (Status.in_transit, None),
    "CUSTOMS_CLEARED": (Status.in_transit, None),
    "OUT": (Status.out_for_delivery, None),
    "ATTEMPT": (Status.attempt_failed, None),
    "PICKUP_POINT": (Status.available_for_pickup, None),
    "DELIVERED": (Status.delivered, Substatus.to_door),
    "DELIVERED_SIGNED": (Status.delivered, Substatus.signed),
    "DELIVERED_NEIGHBOUR": (Status.delivered, Substatus.to_neighbour),
    "COLLECTED": (Status.delivered, Substatus.to_locker),
    "WEATHER": (Status.exception, Substatus.weather),
    "ADDRESS": (Status.exception, Substatus.address_issue),
    "CUSTOMS_HOLD": (Status.exception, Substatus.customs_hold),
    "LOST": (Status.exception, Substatus.lost),
    "RTS": (Status.exception, Substatus.returning_to_sender),
    "RETURNED": (Status.returned, None),
}

# Hours of transit per service level, door to door in the happy path.
SERVICE_HOURS = {"express": 30, "priority": 54, "ground": 96, "economy": 150}

Step = tuple[
    float, str, str, int
]  # (fraction of transit time, code, message, place: 0 origin, 1 hub, 2 dest)

_HAPPY: list[Step] = [
    (0.0, "LABEL", "Shipping label created", 0),
    (0.08, "PICKUP", "Picked up by carrier", 0),
    (0.2, "DEPART", "Departed origin facility", 0),
    (0.45, "ARRIVE", "Arrived at regional hub", 1),
    (0.6, "DEPART", "Departed regional hub", 1),
    (0.85, "ARRIVE", "Arrived at destination facility", 2),
    (0.92, "OUT", "Out for delivery", 2),
]

SCENARIOS: dict[str, list[Step]] = {
    "delivered": [*_HAPPY, (1.0, "DELIVERED", "Delivered, left at front door", 2)],
    "signed": [*_HAPPY, (1.0, "DELIVERED_SIGNED", "Delivered, signed for by recipient", 2)],
    "attempt_failed": [
        *_HAPPY,
        (0.98, "ATTEMPT", "Delivery attempted, no one available to sign", 2),
        (1.3, "OUT", "Out for delivery", 2),
        (1.4, "DELIVERED_NEIGHBOUR", "Delivered to neighbour", 2),
    ],
    "weather": [
        *_HAPPY[:4],
        (0.5, "WEATHER", "Delayed by severe weather in the area", 1),
        (1.2, "DEPART", "Departed regional hub", 1),
        (1.5, "ARRIVE", "Arrived at destination facility", 2),
        (1.6, "OUT", "Out for delivery", 2),
        (1.7, "DELIVERED", "Delivered, left at front door", 2),
    ],
    "address_issue": [
        *_HAPPY[:6],
        (0.95, "ADDRESS", "Address incomplete, carrier contacting recipient", 2),
        (1.4, "OUT", "Out for delivery", 2),
        (1.5, "DELIVERED", "Delivered, left at front door", 2),
    ],
    "lost": [*_HAPPY[:4], (2.5, "LOST", "Package could not be located, investigation opened", 1)],
    "returned": [
        *_HAPPY,
        (0.98, "ATTEMPT", "Delivery attempted, business closed", 2),
        (1.3, "RTS", "Undeliverable, returning to sender", 2),
        (2.2, "RETURNED", "Delivered to sender", 0),
    ],
    "customs": [
        *_HAPPY[:4],
        (0.5, "CUSTOMS_HOLD", "Held by customs, awaiting documents", 1),
        (1.3, "CUSTOMS_CLEARED", "Cleared customs", 1),
        (1.5, "ARRIVE", "Arrived at destination facility", 2),
        (1.6, "OUT", "Out for delivery", 2),
        (1.7, "DELIVERED", "Delivered, left at front door", 2),
    ],
    "pickup_point": [
        *_HAPPY[:6],
        (0.95, "PICKUP_POINT", "Available for pickup at parcel locker", 2),
        (1.4, "COLLECTED", "Collected from parcel locker", 2),
    ],
}

# Out of 100 parcels: how many take each path (roughly what real networks see).
_WEIGHTS = (
    ("delivered", 58), ("signed", 10), ("attempt_failed", 7), ("weather", 5), ("address_issue", 4),
    ("lost", 2), ("returned", 3), ("customs", 4), ("pickup_point", 7),
)  # fmt: skip


def scenario_for(number: str) -> str:
    """A parcel's path, fixed by its number so every poll tells the same story."""
    bucket = int(hashlib.sha256(number.encode()).hexdigest(), 16) % 100
    for name, weight in _WEIGHTS:
        if bucket < weight:
            return name
        bucket -= weight
    return "delivered"


@dataclass(frozen=True)
class Place:
    city: str
    region: str
    postal_code: str
    country: str
    utc_offset_hours: int


def generate(
    number: str,
    *,
    service: str,
    shipped_at: datetime,
    now: datetime,
    route: tuple[Place, Place, Place],
    scenario: str | None = None,
) -> bytes:
    """The simulated carrier's API response for ``number`` as of ``now``: scans that have happened."""
    hours = SERVICE_HOURS.get(service.lower(), SERVICE_HOURS["ground"])
    path = SCENARIOS[scenario or scenario_for(number)]
    events = []
    for fraction, code, message, place_index in path:
        at = shipped_at + timedelta(hours=hours * fraction)
        if at > now:
            break
        place = route[place_index]
        local = at.astimezone(_zone(place.utc_offset_hours))
        events.append(
            {
                "at": local.isoformat(), "code": code, "message": message, "city": place.city,
                "region": place.region, "postal_code": place.postal_code, "country": place.country,
            }
        )  # fmt: skip
    expected = (
        shipped_at + timedelta(hours=hours * (1.7 if scenario in ("weather", "customs") else 1.0))
    ).date()
    payload = {
        "tracking_number": number,
        "service": service,
        "expected_on": expected.isoformat(),
        "events": events,
    }
    return json.dumps(payload).encode()


def _zone(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    at: str
    code: str
    message: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tracking_number: str
    service: str | None = None
    expected_on: str | None = None
    events: list[_Event] = []


class SimulatedCarrier:
    name = "simulated"
    title = "Doorstep simulated carrier"
    delivery = Delivery.poll
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return False  # never pushed: only polled (generated) in-process

    def parse(self, body: bytes) -> Parsed:
        try:
            response = _Response.model_validate_json(body)
        except ValidationError as exc:
            raise ValueError(f"not a simulated-carrier response: {exc.errors()[0]['msg']}") from exc
        parsed = Parsed()
        checkpoints = []
        for event in response.events:
            status, substatus = STATUS_MAP.get(event.code, UNKNOWN_FALLBACK)
            if event.code not in STATUS_MAP:
                parsed.unknown_codes.append(event.code)
            checkpoints.append(
                CheckpointInput(
                    occurred_at=parse_iso(event.at), status=status, substatus=substatus, raw_code=event.code,
                    message=event.message, city=event.city, region=event.region, postal_code=event.postal_code,
                    country=event.country,
                )
            )  # fmt: skip
        parsed.updates.append(
            ApplyTracking(
                tracking_number=response.tracking_number,
                carrier="simulated",
                service=response.service,
                checkpoints=tuple(checkpoints),
                estimated_delivery_on=date.fromisoformat(response.expected_on)
                if response.expected_on
                else None,
            )
        )
        return parsed


SOURCE = SimulatedCarrier()
