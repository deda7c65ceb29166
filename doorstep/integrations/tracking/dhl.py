"""DHL: Shipment Tracking - Unified API (JSON), MyDHL API tracking (JSON) and DHL Express XML-PI
(TrackingResponse XML).

Docs: https://developer.dhl.com/api-reference/shipment-tracking (``GET /track/shipments?trackingNumber=…``
with the ``DHL-API-Key`` header, one number per request); MyDHL API: https://developer.dhl.com/api-reference
/dhl-express-mydhl-api (``GET /shipments/{number}/tracking``); XML-PI: "DHL XML Services Toolkit, Tracking".
Poll only (through the Unified API); DHL does not push to Doorstep, so ``verify`` accepts nothing.

``STATUS_MAP`` keys:

- ``"<CODE>"``: DHL Express checkpoint codes (XML-PI ``ServiceEvent/EventCode``, MyDHL ``typeCode``);
- ``"unified:<statusCode>"``: the Unified API's coarse ``statusCode`` (pre-transit, transit, delivered,
  failure), also the fallback for an unknown checkpoint code.

An unknown checkpoint code falls back to the shipment's coarse status where DHL gave one (else to
exception/other) and is listed in ``Parsed.unknown_codes``.
"""

import importlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK, local_time, parse_iso
from doorstep.integrations.tracking.protocol import Delivery, Fetched, Mapped, Parsed
from doorstep.shipments.commands import ApplyTracking, CheckpointInput
from doorstep.shipments.status import Status, Substatus

# defusedxml ships no type information; its parser is the stdlib's with entity expansion refused.
_defused: Any = importlib.import_module("defusedxml.ElementTree")


class Config(BaseModel):
    """A DHL developer portal app's API key (developer.dhl.com → My Apps, product Shipment Tracking)."""

    api_key: SecretStr = Field(..., description="API key of the DHL app (Shipment Tracking - Unified).")
    base_url: str = Field("https://api-eu.dhl.com", description="API host of the Unified tracking API.")


STATUS_MAP: dict[str, Mapped] = {
    # Express checkpoint codes.
    "SA": (Status.in_transit, None),  # shipment acceptance
    "PU": (Status.in_transit, None),  # shipment picked up
    "PL": (Status.in_transit, None),  # processed at location
    "DF": (Status.in_transit, None),  # departed facility
    "AF": (Status.in_transit, None),  # arrived at sort facility
    "AR": (Status.in_transit, None),  # arrived at delivery facility
    "CI": (Status.in_transit, None),  # facility check-in
    "TR": (Status.in_transit, None),  # transferred through
    "HN": (Status.in_transit, None),  # handover
    "SM": (Status.in_transit, None),  # scheduled movement
    "CU": (Status.in_transit, None),  # confirm uplift
    "FD": (Status.in_transit, None),  # forwarded for delivery
    "TP": (Status.in_transit, None),  # forwarded to a third party
    "SC": (Status.in_transit, None),  # service changed
    "MC": (Status.in_transit, None),  # miscode (rerouted)
    "MS": (Status.in_transit, None),  # mis-sort (rerouted)
    "AD": (Status.in_transit, None),  # agreed delivery (a date was arranged)
    "TD": (Status.in_transit, None),  # transport delay: a delay is a flag, not a status
    "MD": (Status.in_transit, None),  # missed delivery cycle (a delay)
    "NA": (Status.in_transit, None),  # national holiday / non-working day (a delay)
    "PD": (Status.in_transit, None),  # partial delivery: not every piece is there yet
    "IC": (Status.in_transit, None),  # in clearance processing
    "RR": (Status.in_transit, None),  # response received ("Customs status updated")
    "BN": (Status.in_transit, None),  # customer broker notified
    "BR": (Status.in_transit, None),  # broker release
    "CR": (Status.in_transit, None),  # clearance release ("Clearance processing complete")
    "CD": (Status.exception, Substatus.customs_hold),  # controllable clearance delay
    "UD": (Status.exception, Substatus.customs_hold),  # uncontrollable clearance delay
    "HP": (Status.exception, Substatus.customs_hold),  # held for payment (duties and taxes)
    "HI": (Status.exception, Substatus.other),  # held for inspection
    "OH": (Status.exception, Substatus.other),  # shipment on hold
    "SS": (Status.exception, Substatus.other),  # shipment stopped
    "CS": (Status.exception, Substatus.other),  # closed shipment
    "BA": (Status.exception, Substatus.address_issue),  # bad address
    "CM": (Status.exception, Substatus.address_issue),  # customer moved
    "RD": (Status.exception, Substatus.refused),  # refused delivery
    "DM": (Status.exception, Substatus.damaged),  # damaged
    "DS": (Status.exception, Substatus.other),  # destroyed / disposal
    "WC": (Status.out_for_delivery, None),  # with delivery courier
    "CA": (Status.attempt_failed, None),  # closed on arrival
    "NH": (Status.attempt_failed, None),  # not home
    "ND": (Status.attempt_failed, None),  # not delivered
    "CC": (Status.available_for_pickup, None),  # awaiting consignee collection
    "OK": (Status.delivered, None),  # delivered
    "DD": (Status.delivered, None),  # delivered damaged
    "RT": (Status.returned, None),  # returned to consignor
    # Unified API statusCode.
    "unified:pre-transit": (Status.info_received, None),
    "unified:transit": (Status.in_transit, None),
    "unified:delivered": (Status.delivered, None),
    "unified:failure": (Status.exception, Substatus.other),
}

# Checkpoints that carry no news about the parcel.
IGNORED_CODES: dict[str, str] = {
    "IA": "image of the proof of delivery available",
    "unified:unknown": "DHL has no status for this event",
}

_TRACK_PATH = "/track/shipments"

# XML-PI service areas read "CITY - COUNTRY NAME" or "CITY,ST-USA"; the country name gives the time zone.
_COUNTRY_NAMES: dict[str, str] = {
    "UNITED KINGDOM": "GB", "GREAT BRITAIN": "GB", "IRELAND": "IE", "GERMANY": "DE", "FRANCE": "FR",
    "NETHERLANDS": "NL", "THE NETHERLANDS": "NL", "BELGIUM": "BE", "SPAIN": "ES", "PORTUGAL": "PT",
    "ITALY": "IT", "AUSTRIA": "AT", "SWITZERLAND": "CH", "POLAND": "PL", "SWEDEN": "SE", "DENMARK": "DK",
    "NORWAY": "NO", "FINLAND": "FI", "CZECH REPUBLIC": "CZ", "CZECHIA": "CZ", "USA": "US",
    "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US", "CANADA": "CA", "MEXICO": "MX", "BRAZIL": "BR",
    "CHINA": "CN", "CHINA MAINLAND": "CN", "HONG KONG": "HK", "HONG KONG SAR, CHINA": "HK", "JAPAN": "JP",
    "KOREA, REPUBLIC OF": "KR", "SOUTH KOREA": "KR", "SINGAPORE": "SG", "INDIA": "IN", "AUSTRALIA": "AU",
    "NEW ZEALAND": "NZ", "UNITED ARAB EMIRATES": "AE", "SOUTH AFRICA": "ZA",
}  # fmt: skip
_US_AREA = re.compile(r",\s*(?P<state>[A-Z]{2})\s*-\s*USA$")


# --- payload models (JSON) ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class _Address(_Model):
    address_locality: str | None = None
    country_code: str | None = None
    postal_code: str | None = None


class _Place(_Model):
    address: _Address | None = None


class _UnifiedEvent(_Model):
    timestamp: str | None = None
    location: _Place | None = None
    status_code: str | None = None
    status: str | None = None
    description: str | None = None


class _Person(_Model):
    name: str | None = None


class _ProofOfDelivery(_Model):
    signed: _Person | None = None


class _Details(_Model):
    proof_of_delivery: _ProofOfDelivery | None = None
    product: dict[str, Any] | None = None


class _ServiceArea(_Model):
    code: str | None = None
    description: str | None = None


class _MydhlEvent(_Model):
    date: str | None = None
    time: str | None = None
    gmt_offset: str | None = Field(None, alias="GMTOffset")
    type_code: str | None = None
    description: str | None = None
    service_area: list[_ServiceArea] = []
    signed_by: str | None = None


class _Shipment(_Model):
    # Unified API
    id: str | int | None = None
    service: str | None = None
    status: _UnifiedEvent | str | None = None
    events: list[dict[str, Any]] = []
    estimated_time_of_delivery: str | None = None
    details: _Details | None = None
    destination: _Place | None = None
    # MyDHL API
    shipment_tracking_number: str | None = None
    description: str | None = None


class _Body(_Model):
    shipments: list[_Shipment] | None = None
    # RFC 7807 problem (Unified API errors, e.g. 404 "No result found")
    title: str | None = None
    status: int | None = None
    detail: str | None = None


# --- parsing -------------------------------------------------------------------------------------------


def _clean(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    return text or None


def _country(value: str | None) -> str | None:
    code = (value or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() else None


def _offset(value: str | None) -> timezone | None:
    text = (value or "").strip()
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        delta = timedelta(hours=int(text[1:3]), minutes=int(text[4:]))
    except ValueError:
        return None
    return timezone(-delta if text[0] == "-" else delta)


def _lookup(code: str | None, coarse: str | None) -> tuple[Mapped, str | None]:
    """The (status, substatus) of one checkpoint, and the code to report as unknown (if any)."""
    if code and code in STATUS_MAP:
        return STATUS_MAP[code], None
    coarse_key = f"unified:{coarse}" if coarse else None
    if coarse_key and coarse_key in STATUS_MAP:
        return STATUS_MAP[coarse_key], code
    return UNKNOWN_FALLBACK, code or coarse_key or "(no code)"


class _Scan:
    def __init__(
        self,
        *,
        occurred_at: datetime | None,
        code: str | None,
        coarse: str | None,
        description: str | None,
        city: str | None,
        region: str | None,
        postal_code: str | None,
        country: str | None,
        signed_by: str | None = None,
    ) -> None:
        self.occurred_at, self.code, self.coarse, self.description = occurred_at, code, coarse, description
        self.city, self.region, self.postal_code, self.country = city, region, postal_code, country
        self.signed_by = signed_by


def _checkpoints(number: str, scans: Iterable[_Scan], parsed: Parsed) -> list[CheckpointInput]:
    checkpoints: list[CheckpointInput] = []
    for scan in scans:
        reason = IGNORED_CODES.get(scan.code or "") or (
            IGNORED_CODES.get(f"unified:{scan.coarse}") if not scan.code else None
        )
        if reason:
            parsed.ignored.append(f"{number}: checkpoint {scan.code or scan.coarse}: {reason}")
            continue
        if scan.occurred_at is None:
            parsed.ignored.append(f"{number}: checkpoint {scan.code or scan.coarse} has no readable time")
            continue
        (status, substatus), unknown = _lookup(scan.code, scan.coarse)
        if unknown:
            parsed.unknown_codes.append(unknown)
        if status is Status.delivered and substatus is None and scan.signed_by:
            substatus = Substatus.signed
        checkpoints.append(
            CheckpointInput(
                occurred_at=scan.occurred_at, status=status, substatus=substatus,
                raw_code=scan.code or (f"unified:{scan.coarse}" if scan.coarse else None),
                message=(scan.description or "")[:2000] or None, city=scan.city, region=scan.region,
                postal_code=scan.postal_code, country=scan.country,
            )
        )  # fmt: skip
    return checkpoints


def _signer(scans: list[_Scan]) -> str | None:
    return next(
        (s.signed_by for s in scans if s.signed_by and _lookup(s.code, s.coarse)[0][0] is Status.delivered),
        None,
    )


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip()[:10]) if value else None
    except ValueError:
        return None


def _unified_scan(raw: dict[str, Any], parsed: Parsed, number: str) -> _Scan | None:
    try:
        event = _UnifiedEvent.model_validate(raw)
    except ValidationError:
        parsed.ignored.append(f"{number}: unreadable event {str(raw)[:80]}")
        return None
    address = event.location.address if event.location and event.location.address else _Address()
    country = _country(address.country_code)
    try:
        occurred_at = parse_iso(event.timestamp or "", country=country, region=None)
    except ValueError:
        occurred_at = None
    description = " — ".join(t for t in (_clean(event.status), _clean(event.description)) if t)
    return _Scan(
        occurred_at=occurred_at, code=None, coarse=_clean(event.status_code), description=description or None,
        city=_clean(address.address_locality), region=None, postal_code=_clean(address.postal_code), country=country,
    )  # fmt: skip


def _mydhl_scan(event: _MydhlEvent, fallback_country: str | None) -> _Scan:
    area = event.service_area[0] if event.service_area else _ServiceArea()
    country, region = _area_country(area.description)
    country = country or fallback_country
    occurred_at = None
    try:
        day = date.fromisoformat((event.date or "").strip())
        at = time.fromisoformat((event.time or "00:00:00").strip())
    except ValueError:
        day = None
    if day is not None:
        zone = _offset(event.gmt_offset)
        occurred_at = (
            datetime.combine(day, at, tzinfo=zone)
            if zone
            else local_time(day, at, country=country, region=region)
        )
    return _Scan(
        occurred_at=occurred_at, code=_clean(event.type_code), coarse=None, description=_clean(event.description),
        city=_clean(area.description), region=region, postal_code=None, country=country,
        signed_by=_clean(event.signed_by),
    )  # fmt: skip


def _parse_json(body: bytes, number: str | None) -> Parsed:
    try:
        data = _Body.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(f"not a DHL tracking response: {exc.errors()[0]['msg']}") from exc
    parsed = Parsed()
    if data.shipments is None:
        if data.title is None and data.detail is None:
            raise ValueError("not a DHL tracking response: neither shipments nor a problem")
        parsed.errors.append(f"{number or 'DHL'}: DHL says {data.title}: {data.detail}")
        return parsed
    if not data.shipments:
        parsed.errors.append(f"{number or 'DHL'}: DHL returned no shipment")
    for shipment in data.shipments:
        tracking_number = (
            shipment.shipment_tracking_number or (str(shipment.id) if shipment.id else None) or number
        )
        if not tracking_number:
            parsed.errors.append("DHL returned a shipment without a tracking number")
            continue
        if shipment.shipment_tracking_number:  # MyDHL: Express checkpoint codes
            service = _clean(shipment.description)
            mydhl_events = []
            for raw in shipment.events:
                try:
                    mydhl_events.append(_MydhlEvent.model_validate(raw))
                except ValidationError:
                    parsed.ignored.append(f"{tracking_number}: unreadable event {str(raw)[:80]}")
            scans = [_mydhl_scan(e, None) for e in mydhl_events]
            signed_by = _signer(scans)
        else:  # Unified API: coarse statusCode per event
            product = shipment.details.product if shipment.details and shipment.details.product else {}
            service = _clean(str(product.get("productName") or "")) or _clean(shipment.service)
            scans = [s for raw in shipment.events if (s := _unified_scan(raw, parsed, tracking_number))]
            proof = shipment.details.proof_of_delivery if shipment.details else None
            signed_by = _clean(proof.signed.name) if proof and proof.signed else None
            for scan in scans:
                scan.signed_by = signed_by
        checkpoints = _checkpoints(tracking_number, scans, parsed)
        delivered = any(c.status is Status.delivered for c in checkpoints)
        parsed.updates.append(
            ApplyTracking(
                tracking_number=tracking_number, carrier="dhl", service=service[:100] if service else None,
                checkpoints=tuple(checkpoints),
                estimated_delivery_on=None if delivered else _day(shipment.estimated_time_of_delivery),
                signed_by=signed_by if delivered else None,
            )
        )  # fmt: skip
    return parsed


def _text(element: Element | None, path: str) -> str | None:
    if element is None:
        return None
    return _clean(element.findtext(path))


def _area_country(description: str | None) -> tuple[str | None, str | None]:
    """(country, region) of an Express service area description, when it names them."""
    text = (description or "").upper()
    if match := _US_AREA.search(text):
        return "US", match.group("state")
    if " - " in text:
        return _COUNTRY_NAMES.get(text.rsplit(" - ", 1)[1].strip()), None
    if "-" in text:
        tail = text.rsplit("-", 1)[1].strip()
        if tail in _COUNTRY_NAMES:
            return _COUNTRY_NAMES[tail], None
        if len(tail) == 2 and tail.isalpha():  # MyDHL: "Tokyo-JP"
            return tail, None
    return None, None


def _xml_scan(event: Element, areas: Mapping[str, str | None]) -> _Scan:
    area_code = _text(event, "ServiceArea/ServiceAreaCode")
    area = _text(event, "ServiceArea/Description")
    country, region = _area_country(area)
    country = country or areas.get(area_code or "")
    occurred_at = None
    try:
        day = date.fromisoformat(_text(event, "Date") or "")
        at = time.fromisoformat(_text(event, "Time") or "00:00:00")
        occurred_at = local_time(day, at, country=country, region=region)
    except ValueError:
        occurred_at = None
    code = _text(event, "ServiceEvent/EventCode")
    return _Scan(
        occurred_at=occurred_at, code=code, coarse=None, description=_text(event, "ServiceEvent/Description"),
        city=area, region=region, postal_code=None, country=country,
        signed_by=_text(event, "Signatory") if code == "OK" else None,
    )  # fmt: skip


def _parse_xml(body: bytes, number: str | None) -> Parsed:
    try:
        root: Element = _defused.fromstring(body)
    except ParseError as exc:
        raise ValueError(f"not DHL XML: {exc}") from exc
    if root.tag.rsplit("}", 1)[-1] != "TrackingResponse":
        raise ValueError(f"not a DHL TrackingResponse: root element is {root.tag}")
    parsed = Parsed()
    for awb in root.findall("AWBInfo"):
        tracking_number = _text(awb, "AWBNumber") or number
        action = _text(awb, "Status/ActionStatus")
        if (action or "").lower() != "success":
            conditions = "; ".join(
                f"{_text(c, 'ConditionCode')}: {_text(c, 'ConditionData')}"
                for c in awb.findall("Status/Condition")
            )
            parsed.errors.append(
                f"{tracking_number or 'DHL'}: DHL says {action}" + (f" ({conditions})" if conditions else "")
            )
            continue
        if not tracking_number:
            parsed.errors.append("DHL returned a shipment without an AWB number")
            continue
        info = awb.find("ShipmentInfo")
        areas = {
            _text(info, "OriginServiceArea/ServiceAreaCode") or "": _country(
                _text(info, "Shipper/CountryCode")
            ),
            _text(info, "DestinationServiceArea/ServiceAreaCode") or "": _country(
                _text(info, "Consignee/CountryCode")
            ),
        }
        scans = [_xml_scan(e, areas) for e in (info.findall("ShipmentEvent") if info is not None else [])]
        checkpoints = _checkpoints(tracking_number, scans, parsed)
        if not checkpoints:
            parsed.ignored.append(f"{tracking_number}: DHL has no checkpoint for this shipment yet")
        delivered = any(c.status is Status.delivered for c in checkpoints)
        estimate = _day(_text(info, "EstDlvyDate"))
        parsed.updates.append(
            ApplyTracking(
                tracking_number=tracking_number, carrier="dhl", service=None,
                checkpoints=tuple(checkpoints), estimated_delivery_on=None if delivered else estimate,
                signed_by=_signer(scans) if delivered else None,
            )
        )  # fmt: skip
    return parsed


def _parse(body: bytes, number: str | None = None) -> Parsed:
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return _parse_json(text, number)
    if text.startswith(b"<"):
        return _parse_xml(text, number)
    raise ValueError("not a DHL response: neither JSON nor XML")


def parse(body: bytes) -> Parsed:
    """Pure: a Unified/MyDHL JSON or XML-PI body → one update per shipment, errors as values."""
    return _parse(body)


# --- polling -------------------------------------------------------------------------------------------


def fetch(client: httpx.Client, config: Config, numbers: list[str]) -> list[Fetched]:
    """Ask the Unified API for each number (one per request); every answer raw."""
    fetched: list[Fetched] = []
    for number in numbers:
        response = client.get(
            f"{config.base_url.rstrip('/')}{_TRACK_PATH}",
            params={"trackingNumber": number},
            headers={"DHL-API-Key": config.api_key.get_secret_value(), "Accept": "application/json"},
        )
        fetched.append(Fetched((number,), response.status_code, response.content))
    return fetched


def poll(client: httpx.Client, config: Config, numbers: list[str]) -> Parsed:
    """Fetch each number from the Unified API (one per request) and parse every answer."""
    result = Parsed()
    for answer in fetch(client, config, numbers):
        label = ", ".join(answer.numbers)
        try:
            result.merge(_parse(answer.body, answer.numbers[0] if len(answer.numbers) == 1 else None))
        except (ValueError, json.JSONDecodeError) as exc:
            result.errors.append(f"{label}: DHL answered HTTP {answer.status_code}: {exc}")
    return result


class DhlSource:
    name = "dhl"
    title = "DHL"
    delivery = Delivery.poll
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return False  # carriers are polled; DHL never calls Doorstep

    def parse(self, body: bytes) -> Parsed:
        return parse(body)

    def poll(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> Parsed:
        if not isinstance(config, Config):
            raise TypeError(f"DHL needs its own Config, got {type(config).__name__}")
        return poll(client, config, numbers)

    def fetch(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> list[Fetched]:
        if not isinstance(config, Config):
            raise TypeError(f"DHL needs its own Config, got {type(config).__name__}")
        return fetch(client, config, numbers)


SOURCE = DhlSource()
