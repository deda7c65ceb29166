"""FedEx: Track API v1 (JSON) and the legacy Web Services TrackReply (SOAP/XML).

Docs: https://developer.fedex.com/api/en-us/catalog/track/v1/docs.html; legacy: "FedEx Web Services Track
Service WSDL Guide" (its "Track Status Codes" and event types are the table below). Poll only:
``POST /track/v1/trackingnumbers`` with up to 30 numbers per request, after an OAuth 2 client-credentials
token from ``POST /oauth/token`` (form body with the project's API key and secret). FedEx does not push
to Doorstep (its webhooks are a separate product), so ``verify`` accepts nothing.

``STATUS_MAP`` keys:

- ``"<EVENT>"``: a scan's event type (JSON ``scanEvents[].eventType``, XML ``Events/EventType``);
- ``"<EVENT>|<EXCEPTION CODE>"``: the same event refined by its exception/ancillary code, where FedEx uses
  one event type for different outcomes (``DE`` "Delivery exception" covers both "customer not
  available" and "redirected to a FedEx location");
- ``"derived:<CODE>"``: FedEx's own coarse ``derivedStatusCode``, the fallback for an unknown event type.

An unknown event type falls back to its derived code (or, with none, to exception/other) and is listed in
``Parsed.unknown_codes``.
"""

import importlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK, parse_iso
from doorstep.integrations.tracking.protocol import Delivery, Fetched, Mapped, Parsed
from doorstep.shipments.commands import ApplyTracking, CheckpointInput
from doorstep.shipments.status import Status, Substatus

# defusedxml ships no type information; its parser is the stdlib's with entity expansion refused.
_defused: Any = importlib.import_module("defusedxml.ElementTree")

BATCH_SIZE = 30  # FedEx Track API: at most 30 tracking numbers per request


class Config(BaseModel):
    """A FedEx developer project's API key and secret (developer.fedex.com → My Projects)."""

    client_id: SecretStr = Field(..., description="API key of the FedEx project.")
    client_secret: SecretStr = Field(..., description="Secret key of the FedEx project.")
    base_url: str = Field(
        "https://apis.fedex.com", description="API host (sandbox: https://apis-sandbox.fedex.com)."
    )


STATUS_MAP: dict[str, Mapped] = {
    # Track status codes / event types (Track Service WSDL guide).
    "AA": (Status.in_transit, None),  # at airport
    "AC": (Status.in_transit, None),  # at Canada Post facility
    "AD": (Status.out_for_delivery, None),  # at delivery
    "AF": (Status.in_transit, None),  # at FedEx facility
    "AP": (Status.info_received, None),  # at pickup (not yet picked up)
    "AR": (Status.in_transit, None),  # arrived at
    "AX": (Status.in_transit, None),  # at USPS facility
    "BR": (Status.in_transit, None),  # broker
    "CA": (Status.exception, Substatus.other),  # shipment cancelled
    "CC": (Status.in_transit, None),  # cleared customs
    "CD": (Status.exception, Substatus.customs_hold),  # clearance delay
    "CH": (Status.in_transit, None),  # location changed
    "CP": (Status.in_transit, None),  # clearance in progress
    "CU": (Status.in_transit, None),  # customs
    "DD": (Status.in_transit, None),  # delivery delay: a delay is a flag, not a status
    "DE": (Status.exception, Substatus.other),  # delivery exception (see the refinements below)
    "DL": (Status.delivered, None),  # delivered
    "DP": (Status.in_transit, None),  # departed
    "DR": (Status.info_received, None),  # vehicle furnished but not used (pickup)
    "DS": (Status.info_received, None),  # vehicle dispatched (pickup)
    "DY": (Status.in_transit, None),  # delay: a flag, not a status
    "EA": (Status.in_transit, None),  # enroute to airport; also "export approved" in the customs list
    "ED": (Status.out_for_delivery, None),  # enroute to delivery
    "EO": (Status.in_transit, None),  # enroute to origin airport
    "EP": (Status.info_received, None),  # enroute to pickup
    "FD": (Status.in_transit, None),  # at FedEx destination
    "HL": (Status.available_for_pickup, None),  # hold at location
    "HP": (Status.available_for_pickup, None),  # ready for recipient pickup
    "IT": (Status.in_transit, None),  # in transit
    "IX": (Status.in_transit, None),  # in transit (see details)
    "LO": (Status.in_transit, None),  # left origin
    "OC": (Status.info_received, None),  # order created / shipment information sent to FedEx
    "OD": (Status.out_for_delivery, None),  # out for delivery / on FedEx vehicle for delivery
    "OF": (Status.in_transit, None),  # at FedEx origin facility
    "OX": (Status.in_transit, None),  # shipment information sent to USPS (final mile by USPS)
    "PD": (Status.info_received, None),  # pickup delay (not yet picked up)
    "PF": (Status.in_transit, None),  # plane in flight
    "PL": (Status.in_transit, None),  # plane landed
    "PM": (Status.in_transit, None),  # in progress
    "PU": (Status.in_transit, None),  # picked up
    "PX": (Status.in_transit, None),  # picked up (see details)
    "RR": (Status.in_transit, None),  # CDO (delivery option) requested
    "RM": (Status.in_transit, None),  # CDO modified
    "RC": (Status.in_transit, None),  # CDO cancelled
    "RS": (Status.exception, Substatus.returning_to_sender),  # return to shipper
    "SE": (Status.exception, Substatus.other),  # shipment exception
    "SF": (Status.in_transit, None),  # at sort facility
    "SP": (Status.in_transit, None),  # split status (pieces in several states)
    "TR": (Status.in_transit, None),  # transfer
    # Event types FedEx sends that the WSDL table does not list (descriptions as FedEx sends them).
    "AE": (Status.in_transit, None),  # "Shipment arriving early"
    "AO": (Status.in_transit, None),  # "Shipment arriving On-Time"
    "IP": (Status.in_transit, None),  # "In FedEx possession"
    # Refinements by exception code (event type | exception or ancillary reason code).
    "DE|007": (Status.attempt_failed, None),  # "Customer not available or business closed" (Ground)
    "DE|08": (Status.attempt_failed, None),  # "Customer not available or business closed" (Express)
    "DE|A13": (Status.in_transit, None),  # "Redirecting to FedEx Office"
    "DE|A47": (Status.in_transit, None),  # "FedEx redirected your package to a nearby FedEx location"
    "DL|014": (Status.delivered, Substatus.to_door),  # "Left at front door. Signature Service not requested."
    # Track API derivedStatusCode: the coarse category, used only for event types not listed above.
    "derived:IN": (Status.info_received, None),  # initiated / label created
    "derived:PU": (Status.in_transit, None),  # picked up
    "derived:IT": (Status.in_transit, None),  # in transit
    "derived:OD": (Status.out_for_delivery, None),  # out for delivery
    "derived:DL": (Status.delivered, None),  # delivered
    "derived:DE": (Status.exception, Substatus.other),  # delivery exception
    "derived:SE": (Status.exception, Substatus.other),  # shipment exception
    "derived:DY": (Status.in_transit, None),  # delay
    "derived:RL": (Status.in_transit, None),  # running late
    "derived:CA": (Status.exception, Substatus.other),  # cancelled
    "derived:RS": (Status.exception, Substatus.returning_to_sender),  # return to shipper
    "derived:HL": (Status.available_for_pickup, None),  # hold at location
    "derived:HP": (Status.available_for_pickup, None),  # ready for pickup
}

# Events about a return *label* (e-mailed, expiring, …), not about the parcel: never checkpoints.
IGNORED_EVENTS: dict[str, str] = {
    "RP": "return label link e-mailed to the return sender",
    "LP": "return label link cancelled by the shipment originator",
    "RG": "return label link expiring soon",
    "RD": "return label link expired",
}

_AUTH_PATH = "/oauth/token"
_TRACK_PATH = "/track/v1/trackingnumbers"


# --- payload models (JSON) ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class _Location(_Model):
    city: str | None = None
    state_or_province_code: str | None = None
    postal_code: str | None = None
    country_code: str | None = None


class _ScanEvent(_Model):
    date: str | None = None
    event_type: str | None = None
    event_description: str | None = None
    exception_code: str | None = None
    exception_description: str | None = None
    derived_status_code: str | None = None
    scan_location: _Location | None = None


class _DateAndTime(_Model):
    type: str | None = None
    date_time: str | None = None


class _Window(_Model):
    begins: str | None = None
    ends: str | None = None


class _TimeWindow(_Model):
    window: _Window | None = None


class _Error(_Model):
    code: str | None = None
    message: str | None = None


class _NumberInfo(_Model):
    tracking_number: str | None = None
    tracking_number_unique_id: str | None = None


class _DeliveryDetails(_Model):
    received_by_name: str | None = None


class _ServiceDetail(_Model):
    description: str | None = None


class _TrackResult(_Model):
    tracking_number_info: _NumberInfo | None = None
    scan_events: list[_ScanEvent] = []
    date_and_times: list[_DateAndTime] = []
    estimated_delivery_time_window: _TimeWindow | None = None
    delivery_details: _DeliveryDetails | None = None
    service_detail: _ServiceDetail | None = None
    error: _Error | None = None


class _CompleteTrackResult(_Model):
    tracking_number: str | None = None
    track_results: list[_TrackResult] = []


class _Output(_Model):
    complete_track_results: list[_CompleteTrackResult] = []


class _Body(_Model):
    output: _Output | None = None
    errors: list[_Error] = []


# --- parsing -------------------------------------------------------------------------------------------


def _clean(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    return text or None


def _country(value: str | None) -> str | None:
    code = (value or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() else None


def _signer(value: str | None) -> str | None:
    name = _clean(value)
    return None if not name or name.lower().startswith("signature not") else name


def _lookup(event: str | None, exception: str | None, derived: str | None) -> tuple[Mapped, str | None]:
    """The (status, substatus) of one scan, and the code to report as unknown (if any)."""
    if event:
        if exception and f"{event}|{exception}" in STATUS_MAP:
            return STATUS_MAP[f"{event}|{exception}"], None
        if event in STATUS_MAP:
            return STATUS_MAP[event], None
    if derived and f"derived:{derived}" in STATUS_MAP:
        return STATUS_MAP[f"derived:{derived}"], event
    return UNKNOWN_FALLBACK, event or (f"derived:{derived}" if derived else "(no code)")


class _Scan:
    def __init__(
        self,
        *,
        at: str | None,
        event: str | None,
        description: str | None,
        exception: str | None,
        exception_description: str | None,
        derived: str | None,
        city: str | None,
        region: str | None,
        postal_code: str | None,
        country: str | None,
    ) -> None:
        self.at, self.event, self.description = at, event, description
        self.exception, self.exception_description, self.derived = exception, exception_description, derived
        self.city, self.region, self.postal_code, self.country = city, region, postal_code, country


def _checkpoints(
    number: str, scans: Iterable[_Scan], signed_by: str | None, parsed: Parsed
) -> list[CheckpointInput]:
    checkpoints: list[CheckpointInput] = []
    for scan in scans:
        if scan.event in IGNORED_EVENTS:
            parsed.ignored.append(f"{number}: event {scan.event}: {IGNORED_EVENTS[scan.event]}")
            continue
        try:
            occurred_at = parse_iso(scan.at or "", country=scan.country, region=scan.region)
        except ValueError:
            parsed.ignored.append(f"{number}: event {scan.event} has no readable time ({scan.at!r})")
            continue
        (status, substatus), unknown = _lookup(scan.event, scan.exception, scan.derived)
        if unknown:
            parsed.unknown_codes.append(unknown)
        if status is Status.delivered and substatus is None and signed_by:
            substatus = Substatus.signed
        message = " — ".join(m for m in (scan.description, scan.exception_description) if m)
        checkpoints.append(
            CheckpointInput(
                occurred_at=occurred_at, status=status, substatus=substatus, raw_code=scan.event,
                message=message[:2000] or None, city=scan.city, region=scan.region,
                postal_code=scan.postal_code, country=scan.country,
            )
        )  # fmt: skip
    return checkpoints


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _json_scan(event: _ScanEvent) -> _Scan:
    place = event.scan_location or _Location()
    return _Scan(
        at=event.date, event=_clean(event.event_type), description=_clean(event.event_description),
        exception=_clean(event.exception_code), exception_description=_clean(event.exception_description),
        derived=_clean(event.derived_status_code), city=_clean(place.city),
        region=_clean(place.state_or_province_code), postal_code=_clean(place.postal_code),
        country=_country(place.country_code),
    )  # fmt: skip


def _latest(result: _TrackResult) -> datetime | None:
    times = []
    for event in result.scan_events:
        try:
            times.append(parse_iso(event.date or ""))
        except ValueError:
            continue
    return max(times, default=None)


def _parse_json(body: bytes) -> Parsed:
    try:
        data = _Body.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(f"not a FedEx Track API response: {exc.errors()[0]['msg']}") from exc
    parsed = Parsed()
    for error in data.errors:
        parsed.errors.append(f"FedEx error {error.code}: {error.message}")
    if data.output is None:
        if not data.errors:
            raise ValueError("not a FedEx Track API response: neither output nor errors")
        return parsed
    for complete in data.output.complete_track_results:
        results = [r for r in complete.track_results if r.error is None]
        for result in complete.track_results:
            if result.error is not None:
                failed = complete.tracking_number or "FedEx"
                parsed.errors.append(f"{failed}: FedEx error {result.error.code}: {result.error.message}")
        if not results:
            continue
        if len(results) > 1:
            # FedEx reuses numbers: one number can name several shipments. Keep the most recent one.
            results.sort(key=lambda r: _latest(r) or datetime.min.replace(tzinfo=UTC))
            kept = results[-1]
            for other in results[:-1]:
                unique = (
                    other.tracking_number_info.tracking_number_unique_id
                    if other.tracking_number_info
                    else None
                )
                parsed.ignored.append(
                    f"{complete.tracking_number}: older shipment under the same number ({unique}) left out"
                )
            results = [kept]
        result = results[0]
        info = result.tracking_number_info
        number = (info.tracking_number if info else None) or complete.tracking_number
        if not number:
            parsed.errors.append("FedEx returned a result without a tracking number")
            continue
        signed_by = _signer(result.delivery_details.received_by_name if result.delivery_details else None)
        checkpoints = _checkpoints(number, (_json_scan(e) for e in result.scan_events), signed_by, parsed)
        dates = {d.type: _day(d.date_time) for d in result.date_and_times}
        window = (
            result.estimated_delivery_time_window.window if result.estimated_delivery_time_window else None
        )
        estimate = dates.get("ESTIMATED_DELIVERY") or (_day(window.ends or window.begins) if window else None)
        delivered = dates.get("ACTUAL_DELIVERY") is not None
        parsed.updates.append(
            ApplyTracking(
                tracking_number=number, carrier="fedex",
                service=_clean(result.service_detail.description) if result.service_detail else None,
                checkpoints=tuple(checkpoints), estimated_delivery_on=None if delivered else estimate,
                signed_by=signed_by,
            )
        )  # fmt: skip
    return parsed


def _text(element: Element | None, path: str) -> str | None:
    if element is None:
        return None
    return _clean(element.findtext(path))


def _xml_scan(event: Element) -> _Scan:
    address = event.find("Address")
    return _Scan(
        at=_text(event, "Timestamp"), event=_text(event, "EventType"), description=_text(event, "EventDescription"),
        exception=_text(event, "StatusExceptionCode"), exception_description=_text(event, "StatusExceptionDescription"),
        derived=None, city=_text(address, "City"), region=_text(address, "StateOrProvinceCode"),
        postal_code=_text(address, "PostalCode"), country=_country(_text(address, "CountryCode")),
    )  # fmt: skip


def _failed(notification: Element | None) -> str | None:
    """The message of an ERROR/FAILURE notification, else None."""
    if notification is None or _text(notification, "Severity") not in ("ERROR", "FAILURE"):
        return None
    return f"FedEx notification {_text(notification, 'Code')}: {_text(notification, 'Message')}"


def _parse_xml(body: bytes) -> Parsed:
    try:
        root: Element = _defused.fromstring(body)
    except ParseError as exc:
        raise ValueError(f"not FedEx XML: {exc}") from exc
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]  # drop the namespaces (v5 … v19 differ)
    reply = root if root.tag == "TrackReply" else root.find(".//TrackReply")
    if reply is None:
        raise ValueError(f"not a FedEx TrackReply: root element is {root.tag}")
    parsed = Parsed()
    for notification in reply.findall("Notifications"):
        if message := _failed(notification):
            parsed.errors.append(message)
    groups = reply.findall("CompletedTrackDetails") or [reply]  # v5 has TrackDetails directly in the reply
    for group in groups:
        if group is not reply:
            for notification in group.findall("Notifications"):
                if message := _failed(notification):
                    parsed.errors.append(message)
        for details in group.findall("TrackDetails"):
            number = _text(details, "TrackingNumber") or "FedEx"
            if message := _failed(details.find("Notification")):
                parsed.errors.append(f"{number}: {message}")
                continue
            signed_by = _signer(_text(details, "DeliverySignatureName"))
            events = details.findall("Events")
            checkpoints = _checkpoints(number, (_xml_scan(e) for e in events), signed_by, parsed)
            if not events:
                parsed.ignored.append(f"{number}: FedEx has no scan for this package yet")
            dates = {
                _text(d, "Type"): _day(_text(d, "DateOrTimestamp")) for d in details.findall("DatesOrTimes")
            }
            estimate = dates.get("ESTIMATED_DELIVERY") or _day(_text(details, "EstimatedDeliveryTimestamp"))
            delivered = any(c.status is Status.delivered for c in checkpoints)
            service = _text(details, "Service/Description") or _text(details, "ServiceInfo")
            parsed.updates.append(
                ApplyTracking(
                    tracking_number=number, carrier="fedex", service=service, checkpoints=tuple(checkpoints),
                    estimated_delivery_on=None if delivered else estimate, signed_by=signed_by,
                )
            )  # fmt: skip
    return parsed


def parse(body: bytes) -> Parsed:
    """Pure: a Track API JSON or TrackReply XML body → one update per number, errors as values."""
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return _parse_json(text)
    if text.startswith(b"<"):
        return _parse_xml(text)
    raise ValueError("not a FedEx response: neither JSON nor XML")


# --- polling -------------------------------------------------------------------------------------------


def _token(client: httpx.Client, config: Config) -> str:
    response = client.post(
        f"{config.base_url.rstrip('/')}{_AUTH_PATH}",
        data={
            "grant_type": "client_credentials",
            "client_id": config.client_id.get_secret_value(),
            "client_secret": config.client_secret.get_secret_value(),
        },
    )
    response.raise_for_status()
    token = response.json().get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("FedEx token response has no access_token")
    return token


def fetch(client: httpx.Client, config: Config, numbers: list[str]) -> list[Fetched]:
    """Ask for the numbers in batches of 30; every answer raw, the token's never."""
    if not numbers:
        return []
    token = _token(client, config)
    fetched: list[Fetched] = []
    for start in range(0, len(numbers), BATCH_SIZE):
        batch = numbers[start : start + BATCH_SIZE]
        response = client.post(
            f"{config.base_url.rstrip('/')}{_TRACK_PATH}",
            json={
                "includeDetailedScans": True,
                "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in batch],
            },
            headers={"Authorization": f"Bearer {token}", "X-locale": "en_US"},
        )
        fetched.append(Fetched(tuple(batch), response.status_code, response.content))
    return fetched


def poll(client: httpx.Client, config: Config, numbers: list[str]) -> Parsed:
    """Fetch the numbers in batches of 30 and parse every answer."""
    result = Parsed()
    for answer in fetch(client, config, numbers):
        try:
            result.merge(parse(answer.body))
        except (ValueError, json.JSONDecodeError) as exc:
            result.errors.append(
                f"{', '.join(answer.numbers)}: FedEx answered HTTP {answer.status_code}: {exc}"
            )
    return result


class FedexSource:
    name = "fedex"
    title = "FedEx"
    delivery = Delivery.poll
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return False  # carriers are polled; FedEx never calls Doorstep

    def parse(self, body: bytes) -> Parsed:
        return parse(body)

    def poll(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> Parsed:
        if not isinstance(config, Config):
            raise TypeError(f"FedEx needs its own Config, got {type(config).__name__}")
        return poll(client, config, numbers)

    def fetch(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> list[Fetched]:
        if not isinstance(config, Config):
            raise TypeError(f"FedEx needs its own Config, got {type(config).__name__}")
        return fetch(client, config, numbers)


SOURCE = FedexSource()
