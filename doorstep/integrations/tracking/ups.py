"""UPS: Track API v1 (JSON) and the legacy Tracking XML API (TrackResponse).

Docs: https://developer.ups.com/api/reference/tracking/business-rules (OpenAPI: github.com/UPS-API,
``Tracking.yaml``); legacy: "Tracking XML Developer Guide". Poll only: ``GET /api/track/v1/details/{number}``,
one number per request, after an OAuth 2 client-credentials token from ``POST /security/v1/oauth/token``
(HTTP Basic with the app's client id and secret). UPS never pushes to Doorstep (Track Alert webhooks are
a separate product), so ``verify`` accepts nothing.

Every activity carries a status *type* (I, P, M, D, X, …: documented) and a two-character activity
*code* (UPS publishes no complete public table of these). ``STATUS_MAP`` keys:

- ``"type:<T>"``: the documented status type, the coarse fallback for any activity code;
- ``"<CODE>"``: activity codes whose meaning is clear from UPS's own descriptions;
- ``"<CODE>|<DESCRIPTION>"``: a code whose meaning UPS changed over time, told apart by the description
  UPS sent with it (older responses used ``DS`` for both "DESTINATION SCAN" and "OUT FOR DELIVERY").

An activity code not in the map keeps the status of its type and is listed in ``Parsed.unknown_codes``.
"""

import importlib
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK, local_time
from doorstep.integrations.tracking.protocol import Delivery, Fetched, Mapped, Parsed
from doorstep.shipments.commands import ApplyTracking, CheckpointInput
from doorstep.shipments.status import Status, Substatus

# defusedxml ships no type information; its parser is the stdlib's with entity expansion refused.
_defused: Any = importlib.import_module("defusedxml.ElementTree")


class Config(BaseModel):
    """A UPS developer app's credentials (developer.ups.com → My Apps)."""

    client_id: SecretStr = Field(..., description="OAuth client id of the UPS app.")
    client_secret: SecretStr = Field(..., description="OAuth client secret of the UPS app.")
    merchant_id: str | None = Field(None, description="UPS account number, sent as x-merchant-id.")
    base_url: str = Field(
        "https://onlinetools.ups.com", description="API host (CIE: https://wwwcie.ups.com)."
    )


STATUS_MAP: dict[str, Mapped] = {
    # Status types (Tracking XML guide "StatusType/Code"; Track API ``status.type``).
    "type:M": (Status.info_received, None),  # manifest pickup: billing information received, label created
    "type:P": (Status.in_transit, None),  # pickup
    "type:I": (Status.in_transit, None),  # in transit
    "type:O": (Status.out_for_delivery, None),  # out for delivery
    "type:D": (Status.delivered, None),  # delivered
    "type:X": (Status.exception, Substatus.other),  # exception
    "type:RS": (Status.returned, None),  # returned to shipper
    "type:DO": (Status.in_transit, None),  # delivered to origin CFS (freight station), not the consignee
    "type:DD": (Status.in_transit, None),  # delivered to destination CFS (freight station), not the consignee
    "type:W": (Status.in_transit, None),  # warehousing
    # Activity codes, with the description UPS sends for them.
    "MP": (Status.info_received, None),  # "Shipper created a label" / "BILLING INFORMATION RECEIVED"
    "PU": (Status.in_transit, None),  # "Package picked up" / "PICKUP SCAN"
    "OR": (Status.in_transit, None),  # "ORIGIN SCAN"
    "DP": (Status.in_transit, None),  # "DEPARTURE SCAN"
    "AR": (Status.in_transit, None),  # "ARRIVAL SCAN"
    "LC": (Status.in_transit, None),  # "LOCATION SCAN"
    "IP": (Status.in_transit, None),  # "IMPORT SCAN"
    "EP": (Status.in_transit, None),  # "EXPORT SCAN"
    "DS": (Status.in_transit, None),  # "DESTINATION SCAN"
    "DS|OUT FOR DELIVERY": (Status.out_for_delivery, None),  # older responses: DS sent as out for delivery
    "OF": (Status.out_for_delivery, None),  # "OUT FOR DELIVERY"
    "OT": (Status.out_for_delivery, None),  # "Out For Delivery Today"
    "FS": (Status.delivered, None),  # "DELIVERED"
    "KB": (Status.delivered, None),  # "DELIVERED" (location: front desk, reception, …)
    "KM": (Status.delivered, None),  # "DELIVERED" (location: reception, back door, …)
    "48": (
        Status.attempt_failed,
        None,
    ),  # "THE RECEIVER WAS NOT AVAILABLE AT THE TIME OF THE FIRST DELIVERY ATTEMPT"
    "2Y": (Status.in_transit, None),  # "YOUR PACKAGE ENCOUNTERED A DELAY": a delay is a flag, not a status
}

# Activities that are not scans of the parcel: kept out of the checkpoints, each with its reason.
IGNORED_CODES: dict[str, str] = {
    "DM": "a guaranteed-service refund was submitted (billing, not a scan)",
    "type:NA": "UPS says the status is not available",
}

_AUTH_PATH = "/security/v1/oauth/token"
_TRACK_PATH = "/api/track/v1/details/"


# --- payload models (JSON) ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class _Address(_Model):
    city: str | None = None
    state_province: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    country: str | None = None


class _Location(_Model):
    address: _Address | None = None


class _Status(_Model):
    type: str | None = None
    code: str | None = None
    description: str | None = None
    status_code: str | None = None


class _Activity(_Model):
    date: str | None = None
    time: str | None = None
    gmt_date: str | None = None
    gmt_time: str | None = None
    gmt_offset: str | None = None
    location: _Location | None = None
    status: _Status | None = None


class _DeliveryDate(_Model):
    type: str | None = None
    date: str | None = None


class _DeliveryInformation(_Model):
    received_by: str | None = None
    location: str | None = None


class _Service(_Model):
    code: str | None = None
    description: str | None = None


class _Package(_Model):
    tracking_number: str | None = None
    activity: list[_Activity] = []
    delivery_date: list[_DeliveryDate] = []
    delivery_information: _DeliveryInformation | None = None
    service: _Service | None = None


class _Message(_Model):
    code: str | None = None
    message: str | None = None


class _Shipment(_Model):
    inquiry_number: str | None = None
    package: list[_Package] = []
    warnings: list[_Message] = []


class _TrackResponse(_Model):
    shipment: list[_Shipment] = []


class _ErrorResponse(_Model):
    errors: list[_Message] = []


class _Body(_Model):
    track_response: _TrackResponse | None = None
    response: _ErrorResponse | None = None


# --- parsing -------------------------------------------------------------------------------------------


def _clean(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    return text or None


def _country(value: str | None) -> str | None:
    code = (value or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() else None


def _ymd(value: str | None) -> date | None:
    text = (value or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _hms(value: str | None) -> time | None:
    text = (value or "").strip()
    if not text.isdigit() or len(text) > 6:
        return None
    text = text.zfill(6)
    try:
        return time(int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        return None


def _offset(value: str | None) -> timezone | None:
    text = (value or "").strip()
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        delta = timedelta(hours=int(text[1:3]), minutes=int(text[4:]))
    except ValueError:
        return None
    return timezone(-delta if text[0] == "-" else delta)


def _lookup(kind: str | None, code: str | None, description: str | None) -> tuple[Mapped, str | None]:
    """The (status, substatus) of one activity, and the code to report as unknown (if any)."""
    if code:
        refined = f"{code}|{(description or '').upper()}"
        if refined in STATUS_MAP:
            return STATUS_MAP[refined], None
        if code in STATUS_MAP:
            return STATUS_MAP[code], None
    type_key = f"type:{kind}" if kind else None
    if type_key and type_key in STATUS_MAP:
        return STATUS_MAP[type_key], code
    return UNKNOWN_FALLBACK, code or type_key or "(no code)"


class _Scan:
    """One activity, whichever format it came in."""

    def __init__(
        self,
        *,
        day: date | None,
        at: time | None,
        exact: datetime | None,
        kind: str | None,
        code: str | None,
        description: str | None,
        city: str | None,
        region: str | None,
        postal_code: str | None,
        country: str | None,
    ) -> None:
        self.day, self.at, self.exact = day, at, exact
        self.kind, self.code, self.description = kind, code, description
        self.city, self.region, self.postal_code, self.country = city, region, postal_code, country


def _checkpoints(
    number: str, scans: Iterable[_Scan], signed_by: str | None, parsed: Parsed
) -> list[CheckpointInput]:
    checkpoints: list[CheckpointInput] = []
    for scan in scans:
        reason = IGNORED_CODES.get(scan.code or "") or IGNORED_CODES.get(f"type:{scan.kind}")
        if reason:
            parsed.ignored.append(f"{number}: activity {scan.code or scan.kind}: {reason}")
            continue
        if scan.exact is None and scan.day is None:
            parsed.ignored.append(f"{number}: activity {scan.code or scan.kind} has no readable date")
            continue
        (status, substatus), unknown = _lookup(scan.kind, scan.code, scan.description)
        if unknown:
            parsed.unknown_codes.append(unknown)
        if status is Status.delivered and substatus is None and signed_by:
            substatus = Substatus.signed
        occurred_at = scan.exact or local_time(
            scan.day or date.min, scan.at, country=scan.country, region=scan.region
        )
        checkpoints.append(
            CheckpointInput(
                occurred_at=occurred_at, status=status, substatus=substatus,
                raw_code=scan.code or (f"type:{scan.kind}" if scan.kind else None),
                message=(scan.description or "")[:2000] or None, city=scan.city, region=scan.region,
                postal_code=scan.postal_code, country=scan.country,
            )
        )  # fmt: skip
    return checkpoints


def _json_scan(activity: _Activity) -> _Scan:
    address = activity.location.address if activity.location and activity.location.address else _Address()
    status = activity.status or _Status()
    exact = None
    gmt_day, gmt_at, zone = _ymd(activity.gmt_date), _hms(activity.gmt_time), _offset(activity.gmt_offset)
    if gmt_day and gmt_at and zone:
        exact = datetime.combine(gmt_day, gmt_at, tzinfo=UTC).astimezone(zone)
    return _Scan(
        day=_ymd(activity.date), at=_hms(activity.time), exact=exact, kind=_clean(status.type),
        code=_clean(status.code), description=_clean(status.description), city=_clean(address.city),
        region=_clean(address.state_province), postal_code=_clean(address.postal_code),
        country=_country(address.country_code or address.country),
    )  # fmt: skip


def _estimate(dates: Mapping[str, date | None]) -> date | None:
    if dates.get("DEL"):
        return None
    return dates.get("RDD") or dates.get("SDD")


def _parse_json(body: bytes, number: str | None) -> Parsed:
    try:
        data = _Body.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(f"not a UPS Track API response: {exc.errors()[0]['msg']}") from exc
    parsed = Parsed()
    if data.response is not None:
        for error in data.response.errors:
            parsed.errors.append(f"{number or 'UPS'}: UPS error {error.code}: {error.message}")
        if not data.response.errors:
            parsed.errors.append(f"{number or 'UPS'}: UPS answered with an empty error response")
    if data.track_response is None:
        if data.response is None:
            raise ValueError("not a UPS Track API response: neither trackResponse nor response")
        return parsed
    for shipment in data.track_response.shipment:
        inquiry = shipment.inquiry_number or number or "UPS"
        if not shipment.package:
            details = "; ".join(f"{w.code}: {w.message}" for w in shipment.warnings) or "no package returned"
            parsed.errors.append(f"{inquiry}: UPS says {details}")
            continue
        for package in shipment.package:
            tracking_number = package.tracking_number or inquiry
            info = package.delivery_information
            signed_by = _clean(info.received_by) if info else None
            checkpoints = _checkpoints(
                tracking_number, (_json_scan(a) for a in package.activity), signed_by, parsed
            )
            dates = {d.type or "": _ymd(d.date) for d in package.delivery_date}
            parsed.updates.append(
                ApplyTracking(
                    tracking_number=tracking_number, carrier="ups",
                    service=_clean(package.service.description) if package.service else None,
                    checkpoints=tuple(checkpoints), estimated_delivery_on=_estimate(dates), signed_by=signed_by,
                )
            )  # fmt: skip
    return parsed


def _text(element: Element | None, path: str) -> str | None:
    if element is None:
        return None
    return _clean(element.findtext(path))


def _xml_scan(activity: Element) -> _Scan:
    address = activity.find("ActivityLocation/Address")
    return _Scan(
        day=_ymd(_text(activity, "Date")), at=_hms(_text(activity, "Time")), exact=None,
        kind=_text(activity, "Status/StatusType/Code"), code=_text(activity, "Status/StatusCode/Code"),
        description=_text(activity, "Status/StatusType/Description"), city=_text(address, "City"),
        region=_text(address, "StateProvinceCode"), postal_code=_text(address, "PostalCode"),
        country=_country(_text(address, "CountryCode")),
    )  # fmt: skip


def _parse_xml(body: bytes, number: str | None) -> Parsed:
    try:
        root: Element = _defused.fromstring(body)
    except ParseError as exc:
        raise ValueError(f"not UPS XML: {exc}") from exc
    if root.tag != "TrackResponse":
        raise ValueError(f"not a UPS TrackResponse: root element is {root.tag}")
    parsed = Parsed()
    if _text(root, "Response/ResponseStatusCode") != "1":
        for error in root.findall("Response/Error"):
            parsed.errors.append(
                f"{number or 'UPS'}: UPS error {_text(error, 'ErrorCode')}: {_text(error, 'ErrorDescription')}"
            )
        if not parsed.errors:
            parsed.errors.append(
                f"{number or 'UPS'}: UPS answered {_text(root, 'Response/ResponseStatusDescription')}"
            )
        return parsed
    for shipment in root.findall("Shipment"):
        service = _text(shipment, "Service/Description")
        scheduled = _ymd(_text(shipment, "ScheduledDeliveryDate"))
        shipment_number = _text(shipment, "ShipmentIdentificationNumber") or number or "UPS"
        packages = shipment.findall("Package")
        if not packages:
            parsed.errors.append(f"{shipment_number}: UPS returned the shipment without packages")
        for package in packages:
            tracking_number = _text(package, "TrackingNumber") or shipment_number
            activities = package.findall("Activity")
            signers = [s for a in activities if (s := _text(a, "ActivityLocation/SignedForByName"))]
            signed_by = signers[0] if signers else None
            checkpoints = _checkpoints(tracking_number, (_xml_scan(a) for a in activities), signed_by, parsed)
            if not activities:
                parsed.ignored.append(f"{tracking_number}: UPS has no activity for this package yet")
            delivered = any(c.status is Status.delivered for c in checkpoints)
            rescheduled = _ymd(_text(package, "RescheduledDeliveryDate"))
            parsed.updates.append(
                ApplyTracking(
                    tracking_number=tracking_number, carrier="ups", service=service,
                    checkpoints=tuple(checkpoints),
                    estimated_delivery_on=None if delivered else (rescheduled or scheduled), signed_by=signed_by,
                )
            )  # fmt: skip
    return parsed


def _parse(body: bytes, number: str | None = None) -> Parsed:
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return _parse_json(text, number)
    if text.startswith(b"<"):
        return _parse_xml(text, number)
    raise ValueError("not a UPS response: neither JSON nor XML")


def parse(body: bytes) -> Parsed:
    """Pure: a Track API JSON or Tracking XML body → one update per package, errors as values."""
    return _parse(body)


# --- polling -------------------------------------------------------------------------------------------


def _token(client: httpx.Client, config: Config) -> str:
    response = client.post(
        f"{config.base_url.rstrip('/')}{_AUTH_PATH}",
        data={"grant_type": "client_credentials"},
        auth=(config.client_id.get_secret_value(), config.client_secret.get_secret_value()),
        headers={"x-merchant-id": config.merchant_id} if config.merchant_id else None,
    )
    response.raise_for_status()
    token = response.json().get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("UPS token response has no access_token")
    return token


def fetch(client: httpx.Client, config: Config, numbers: list[str]) -> list[Fetched]:
    """Ask for each number (the Track API takes one per request); every answer raw, the token's never."""
    if not numbers:
        return []
    token = _token(client, config)
    fetched: list[Fetched] = []
    for number in numbers:
        response = client.get(
            f"{config.base_url.rstrip('/')}{_TRACK_PATH}{number}",
            params={"locale": "en_US", "returnSignature": "false"},
            headers={
                "Authorization": f"Bearer {token}", "transId": uuid.uuid4().hex, "transactionSrc": "doorstep",
            },
        )  # fmt: skip
        fetched.append(Fetched((number,), response.status_code, response.content))
    return fetched


def poll(client: httpx.Client, config: Config, numbers: list[str]) -> Parsed:
    """Fetch each number and parse every answer."""
    result = Parsed()
    for answer in fetch(client, config, numbers):
        label = ", ".join(answer.numbers)
        try:
            result.merge(_parse(answer.body, answer.numbers[0] if len(answer.numbers) == 1 else None))
        except (ValueError, json.JSONDecodeError) as exc:
            result.errors.append(f"{label}: UPS answered HTTP {answer.status_code}: {exc}")
    return result


class UpsSource:
    name = "ups"
    title = "UPS"
    delivery = Delivery.poll
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return False  # carriers are polled; UPS never calls Doorstep

    def parse(self, body: bytes) -> Parsed:
        return parse(body)

    def poll(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> Parsed:
        if not isinstance(config, Config):
            raise TypeError(f"UPS needs its own Config, got {type(config).__name__}")
        return poll(client, config, numbers)

    def fetch(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> list[Fetched]:
        if not isinstance(config, Config):
            raise TypeError(f"UPS needs its own Config, got {type(config).__name__}")
        return fetch(client, config, numbers)


SOURCE = UpsSource()
