"""USPS: Tracking API v3 (JSON) and the legacy Web Tools TrackV2 API (XML).

Docs: https://developers.usps.com/trackingv3 (``GET /tracking/v3/tracking/{number}?expand=DETAIL`` after an
OAuth 2 client-credentials token from ``POST /oauth2/v3/token``); legacy: "Web Tools Track and Confirm
API" (``GET /ShippingAPI.dll?API=TrackV2&XML=<TrackFieldRequest USERID=…>``, up to 10 numbers a request,
user id in the XML). Its appendix "Tracking event codes" is the table below. Poll only; USPS does not
push to Doorstep (its subscriptions are a separate product), so ``verify`` accepts nothing.

``STATUS_MAP`` keys:

- ``"<EVENT CODE>"``: USPS's two-character event code (``EventCode`` / ``eventCode``);
- ``"<EVENT CODE>|<EVENT>"``: the same code refined by USPS's event wording where it tells the delivery
  place ("Delivered, Parcel Locker");
- ``"category:<CATEGORY>"``: the v3 ``statusCategory`` (or XML ``StatusCategory``), the fallback for an
  unknown code.

Basic TrackV2 answers carry free text only ("Out for Delivery, October 12, 2013, 10:16 am, BROOKLYN, NY
11201"); ``EVENT_NAMES`` turns USPS's event names into their codes, so the text goes through the same map.
"""

import importlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import quoteattr

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK, local_time, zone_for
from doorstep.integrations.tracking.protocol import Delivery, Fetched, Mapped, Parsed
from doorstep.shipments.commands import ApplyTracking, CheckpointInput
from doorstep.shipments.status import Status, Substatus

# defusedxml ships no type information; its parser is the stdlib's with entity expansion refused.
_defused: Any = importlib.import_module("defusedxml.ElementTree")

WEB_TOOLS_BATCH_SIZE = 10  # TrackFieldRequest: at most 10 TrackID elements


class Config(BaseModel):
    """USPS credentials: a v3 app's consumer key and secret, or (legacy) a Web Tools user id."""

    client_id: SecretStr | None = Field(
        None, description="Consumer key of the USPS developer app (Tracking v3)."
    )
    client_secret: SecretStr | None = Field(None, description="Consumer secret of the USPS developer app.")
    user_id: SecretStr | None = Field(
        None, description="Legacy Web Tools USERID (TrackV2), used without a key."
    )
    base_url: str = Field(
        "https://apis.usps.com", description="v3 API host (legacy: https://secure.shippingapis.com)."
    )


_ATTEMPT = (Status.attempt_failed, None)
_RETURNING = (Status.exception, Substatus.returning_to_sender)
STATUS_MAP: dict[str, Mapped] = {
    "MA": (Status.info_received, None),  # manifest acknowledgement ("Electronic Shipping Info Received")
    "GX": (Status.info_received, None),  # "Shipping Label Created, USPS Awaiting Item"
    "TM": (Status.in_transit, None),  # truck manifest: shipment acceptance
    "PA": (Status.in_transit, None),  # passive acceptance
    "OA": (Status.in_transit, None),  # origin acceptance
    "03": (Status.in_transit, None),  # accept or pickup (by carrier) / "USPS in possession of item"
    "SF": (Status.in_transit, None),  # departed post office
    "10": (Status.in_transit, None),  # processed (at a facility)
    "EF": (Status.in_transit, None),  # departed sort facility
    "PC": (Status.in_transit, None),  # sorting / processing complete
    "A1": (Status.in_transit, None),  # "Arrived at USPS Regional Facility"
    "T1": (Status.in_transit, None),  # "Departed USPS Regional Facility"
    "TL": (Status.in_transit, None),  # "In Transit to Next Facility"
    "06": (Status.in_transit, None),  # forwarded
    "07": (Status.in_transit, None),  # arrival at unit ("Arrived at Post Office")
    "08": (Status.in_transit, None),  # missent
    "15": (Status.in_transit, None),  # mis-shipped
    "19": (Status.in_transit, None),  # DC/EVS arrive
    "41": (Status.in_transit, None),  # received at opening unit
    "42": (Status.in_transit, None),  # USPS handoff to shipping partner
    "80": (Status.in_transit, None),  # picked up by shipping partner
    "81": (Status.in_transit, None),  # arrived at shipping partner facility
    "82": (Status.in_transit, None),  # departed shipping partner facility
    "DX": (Status.in_transit, None),  # delivery status not updated
    "OF": (Status.out_for_delivery, None),  # out for delivery
    "02": _ATTEMPT,  # attempted / notice left
    "51": _ATTEMPT,  # business closed
    "52": _ATTEMPT,  # notice left
    "53": _ATTEMPT,  # receptacle blocked
    "54": _ATTEMPT,  # receptacle full / item oversized
    "55": _ATTEMPT,  # no secure location available
    "56": _ATTEMPT,  # no authorized recipient available
    "14": (Status.available_for_pickup, None),  # arrival at pickup point
    "16": (Status.available_for_pickup, None),  # available for pickup
    "01": (Status.delivered, None),  # delivered
    "01|DELIVERED, PARCEL LOCKER": (Status.delivered, Substatus.to_locker),
    "01|DELIVERED, FRONT DOOR/PORCH": (Status.delivered, Substatus.to_door),
    "17": (Status.delivered, None),  # picked up by agent
    "43": (Status.delivered, None),  # picked up (by the addressee, at the Post Office)
    "04": (Status.exception, Substatus.refused),  # refused
    "05": (Status.exception, Substatus.address_issue),  # undeliverable as addressed
    "11": (Status.exception, Substatus.lost),  # dead letter
    "09": _RETURNING,  # return to sender
    "21": _RETURNING,  # return to sender: no such number
    "22": _RETURNING,  # return to sender: insufficient address
    "23": _RETURNING,  # return to sender: moved, left no address
    "24": _RETURNING,  # return to sender: forward expired
    "25": _RETURNING,  # return to sender: addressee unknown
    "26": _RETURNING,  # return to sender: vacant
    "27": _RETURNING,  # return to sender: unclaimed
    "28": _RETURNING,  # return to sender: deceased
    "29": _RETURNING,  # return to sender: other
    "31": _RETURNING,  # return to sender: not picked up
    "44": _RETURNING,  # customer recall (the sender asked for it back)
    # statusCategory (v3) / StatusCategory (TrackV2): the coarse fallback.
    "category:PRE-SHIPMENT": (Status.info_received, None),
    "category:ACCEPTED": (Status.in_transit, None),
    "category:IN TRANSIT": (Status.in_transit, None),
    "category:OUT FOR DELIVERY": (Status.out_for_delivery, None),
    "category:DELIVERY ATTEMPT": (Status.attempt_failed, None),
    "category:AVAILABLE FOR PICKUP": (Status.available_for_pickup, None),
    "category:DELIVERED": (Status.delivered, None),
    "category:ALERT": (Status.exception, Substatus.other),
    "category:RETURN TO SENDER": _RETURNING,
}

# USPS event names (the "Event" text of TrackV2 basic answers) → event code.
EVENT_NAMES: dict[str, str] = {
    "ELECTRONIC SHIPPING INFO RECEIVED": "MA",
    "PRE-SHIPMENT INFO SENT TO USPS": "MA",
    "SHIPPING LABEL CREATED, USPS AWAITING ITEM": "GX",
    "ACCEPTANCE": "03",
    "ACCEPTED AT USPS ORIGIN FACILITY": "03",
    "USPS IN POSSESSION OF ITEM": "03",
    "PICKED UP": "03",
    "DEPARTED POST OFFICE": "SF",
    "PROCESSED THROUGH SORT FACILITY": "10",
    "ARRIVED AT USPS FACILITY": "10",
    "ARRIVED AT USPS ORIGIN FACILITY": "10",
    "ARRIVED AT USPS DESTINATION FACILITY": "10",
    "DEPART USPS SORT FACILITY": "EF",
    "DEPARTED USPS FACILITY": "EF",
    "SORTING COMPLETE": "PC",
    "ARRIVAL AT POST OFFICE": "07",
    "ARRIVED AT POST OFFICE": "07",
    "ARRIVAL AT UNIT": "07",
    "ARRIVAL AT HUB": "07",
    "OUT FOR DELIVERY": "OF",
    "NOTICE LEFT": "02",
    "AVAILABLE FOR PICKUP": "16",
    "DELIVERED": "01",
    "REFUSED": "04",
    "UNDELIVERABLE AS ADDRESSED": "05",
    "FORWARDED": "06",
    "RETURN TO SENDER": "09",
}

_AUTH_PATH = "/oauth2/v3/token"
_TRACK_PATH = "/tracking/v3/tracking/"
_WEB_TOOLS_PATH = "/ShippingAPI.dll"

_DETAIL_LINE = re.compile(
    r"^(?P<event>.+?), (?P<date>[A-Z][a-z]+ \d{1,2}, \d{4})(?:, (?P<time>\d{1,2}:\d{2} ?[ap]m))?(?:, (?P<place>.+))?$"
)
_SUMMARY_DELIVERED = re.compile(
    r"^Your item was delivered.*? at (?P<time>\d{1,2}:\d{2} ?[ap]m) on (?P<date>[A-Z][a-z]+ \d{1,2}, \d{4})"
    r"(?: in (?P<place>.+?))?\.?$"
)
_PLACE = re.compile(r"^(?P<city>.+?),? (?P<state>[A-Z]{2})(?: (?P<zip>\d{5}(?:-\d{4})?))?$")


# --- payload models (v3 JSON) ------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Event(_Model):
    event_type: str | None = Field(None, alias="eventType")
    event_timestamp: str | None = Field(None, alias="eventTimestamp")
    gmt_offset: str | None = Field(None, alias="GMTOffset")
    event_code: str | None = Field(None, alias="eventCode")
    event_city: str | None = Field(None, alias="eventCity")
    event_state: str | None = Field(None, alias="eventState")
    event_zip: str | None = Field(None, alias="eventZIP")
    event_country: str | None = Field(None, alias="eventCountry")
    name: str | None = None


class _ErrorDetail(_Model):
    code: str | None = None
    title: str | None = None
    detail: str | None = None


class _Error(_Model):
    code: str | None = None
    message: str | None = None
    errors: list[_ErrorDetail] = []


class _Body(_Model):
    tracking_number: str | None = Field(None, alias="trackingNumber")
    mail_class: str | None = Field(None, alias="mailClass")
    destination_state: str | None = Field(None, alias="destinationState")
    status_category: str | None = Field(None, alias="statusCategory")
    expected_delivery_date: str | None = Field(None, alias="expectedDeliveryDate")
    tracking_events: list[_Event] = Field([], alias="trackingEvents")
    error: _Error | None = None


# --- parsing -------------------------------------------------------------------------------------------


def _clean(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    return text or None


def _country(value: str | None) -> str | None:
    code = (value or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() else None


def _service(value: str | None) -> str | None:
    """Mail class without USPS's embedded markup (``USPS Ground Advantage<SUP>&#153;</SUP>``)."""
    text = _clean(re.sub(r"<[^>]*>|&#?\w+;", "", value or ""))
    return text[:100] if text else None


def _long_date(value: str | None) -> date | None:
    """USPS dates: ``April 28, 2015``."""
    match = re.fullmatch(r"([A-Za-z]+) (\d{1,2}), (\d{4})", (value or "").strip())
    if not match:
        return None
    months = "january february march april may june july august september october november december".split()
    name = match.group(1).lower()
    if name not in months:
        return None
    try:
        return date(int(match.group(3)), months.index(name) + 1, int(match.group(2)))
    except ValueError:
        return None


def _clock(value: str | None) -> time | None:
    """USPS times: ``9:01 am``."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2}) ?([ap])\.?m\.?", (value or "").strip().lower())
    if not match:
        return None
    hour, minute = int(match.group(1)) % 12, int(match.group(2))
    if match.group(3) == "p":
        hour += 12
    return time(hour, minute) if minute < 60 else None


def _offset(value: str | None) -> timezone | None:
    text = (value or "").strip()
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        delta = timedelta(hours=int(text[1:3]), minutes=int(text[4:]))
    except ValueError:
        return None
    return timezone(-delta if text[0] == "-" else delta)


def _lookup(code: str | None, event: str | None, category: str | None) -> tuple[Mapped, str | None]:
    """The (status, substatus) of one event, and the code to report as unknown (if any)."""
    if code:
        refined = f"{code}|{(event or '').upper()}"
        if refined in STATUS_MAP:
            return STATUS_MAP[refined], None
        if code in STATUS_MAP:
            return STATUS_MAP[code], None
    category_key = f"category:{category.upper()}" if category else None
    unknown = code or (f"event:{event}" if event else "(no code)")
    if category_key and category_key in STATUS_MAP:
        return STATUS_MAP[category_key], unknown
    return UNKNOWN_FALLBACK, unknown


class _Scan:
    def __init__(
        self,
        *,
        day: date | None,
        at: time | None,
        exact: datetime | None,
        code: str | None,
        event: str | None,
        city: str | None,
        region: str | None,
        postal_code: str | None,
        country: str | None,
    ) -> None:
        self.day, self.at, self.exact, self.code, self.event = day, at, exact, code, event
        self.city, self.region, self.postal_code, self.country = city, region, postal_code, country


def _checkpoints(
    number: str,
    scans: Iterable[_Scan],
    category: str | None,
    parsed: Parsed,
    *,
    destination: str | None = None,
) -> list[CheckpointInput]:
    # A scan without a place (e.g. "Electronic Shipping Info Received") gets the destination state's zone.
    fallback = zone_for("US", destination) or zone_for("US", None)
    checkpoints: list[CheckpointInput] = []
    scans = list(scans)
    for index, scan in enumerate(scans):
        if scan.exact is None and scan.day is None:
            parsed.ignored.append(f"{number}: event {scan.code or scan.event!r} has no readable date")
            continue
        # The shipment's category describes its latest event only; older ones must carry their own code.
        (status, substatus), unknown = _lookup(scan.code, scan.event, category if index == 0 else None)
        if unknown:
            parsed.unknown_codes.append(unknown)
        country = scan.country or ("US" if scan.region else None)
        occurred_at = scan.exact or local_time(
            scan.day or date.min, scan.at, country=country, region=scan.region, fallback=fallback
        )
        checkpoints.append(
            CheckpointInput(
                occurred_at=occurred_at, status=status, substatus=substatus, raw_code=scan.code,
                message=(scan.event or "")[:2000] or None, city=scan.city, region=scan.region,
                postal_code=scan.postal_code, country=scan.country,
            )
        )  # fmt: skip
    return checkpoints


def _v3_scan(event: _Event) -> _Scan:
    exact = None
    stamp, zone = (event.event_timestamp or "").strip(), _offset(event.gmt_offset)
    try:
        naive = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        naive = None
    if naive is not None and naive.tzinfo is not None:
        exact = naive
    elif naive is not None and zone is not None:
        exact = naive.replace(tzinfo=zone)
    return _Scan(
        day=naive.date() if naive else None, at=naive.time() if naive else None, exact=exact,
        code=_clean(event.event_code), event=_clean(event.event_type), city=_clean(event.event_city),
        region=_clean(event.event_state), postal_code=_clean(event.event_zip), country=_country(event.event_country),
    )  # fmt: skip


def _parse_json(body: bytes, number: str | None) -> Parsed:
    try:
        data = _Body.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(f"not a USPS Tracking v3 response: {exc.errors()[0]['msg']}") from exc
    parsed = Parsed()
    if data.error is not None:
        details = "; ".join(_clean(f"{e.title or ''} {e.detail or ''}") or "" for e in data.error.errors)
        parsed.errors.append(
            f"{number or 'USPS'}: USPS error {data.error.code}: {details or data.error.message}"
        )
        return parsed
    if not data.tracking_number:
        raise ValueError("not a USPS Tracking v3 response: no trackingNumber")
    checkpoints = _checkpoints(
        data.tracking_number, (_v3_scan(e) for e in data.tracking_events), data.status_category, parsed,
        destination=_clean(data.destination_state),
    )  # fmt: skip
    delivered = any(c.status is Status.delivered for c in checkpoints)
    expected = None
    if data.expected_delivery_date:
        try:
            expected = date.fromisoformat(data.expected_delivery_date.strip()[:10])
        except ValueError:
            parsed.ignored.append(f"{data.tracking_number}: unreadable expectedDeliveryDate")
    parsed.updates.append(
        ApplyTracking(
            tracking_number=data.tracking_number, carrier="usps", service=_service(data.mail_class),
            checkpoints=tuple(checkpoints), estimated_delivery_on=None if delivered else expected,
        )
    )  # fmt: skip
    return parsed


def _text(element: Element | None, path: str) -> str | None:
    if element is None:
        return None
    return _clean(element.findtext(path))


def _place(text: str | None) -> tuple[str | None, str | None, str | None]:
    match = _PLACE.match(text or "")
    if not match:
        return _clean(text), None, None
    return match.group("city"), match.group("state"), match.group("zip")


def _field_scan(event: Element) -> _Scan:
    name = _text(event, "Event")
    code = _text(event, "EventCode") or EVENT_NAMES.get((name or "").upper())
    return _Scan(
        day=_long_date(_text(event, "EventDate")), at=_clock(_text(event, "EventTime")), exact=None, code=code,
        event=name, city=_text(event, "EventCity"), region=_text(event, "EventState"),
        postal_code=_text(event, "EventZIPCode"), country=_country(_text(event, "EventCountry")),
    )  # fmt: skip


def _text_scan(line: str) -> _Scan | None:
    """A basic TrackV2 line: ``Event, Month D, YYYY[, h:mm am][, CITY, ST ZIP]``, or a delivered summary."""
    if match := _SUMMARY_DELIVERED.match(line):
        event = "Delivered"
    elif match := _DETAIL_LINE.match(line):
        event = match.group("event")
    else:
        return None
    city, state, zip_code = _place(match.group("place"))
    return _Scan(
        day=_long_date(match.group("date")), at=_clock(match.group("time")), exact=None,
        code=EVENT_NAMES.get(event.upper()), event=line, city=city,
        region=state, postal_code=zip_code, country=None,
    )  # fmt: skip


def _parse_xml(body: bytes, number: str | None) -> Parsed:
    try:
        root: Element = _defused.fromstring(body)
    except ParseError as exc:
        raise ValueError(f"not USPS XML: {exc}") from exc
    parsed = Parsed()
    if root.tag == "Error":
        parsed.errors.append(
            f"{number or 'USPS'}: USPS error {_text(root, 'Number')}: {_text(root, 'Description')}"
        )
        return parsed
    if root.tag != "TrackResponse":
        raise ValueError(f"not a USPS TrackResponse: root element is {root.tag}")
    for info in root.findall("TrackInfo"):
        tracking_number = _clean(info.get("ID")) or number or "USPS"
        if (error := info.find("Error")) is not None:
            parsed.errors.append(
                f"{tracking_number}: USPS error {_text(error, 'Number')}: {_text(error, 'Description')}"
            )
            continue
        events = [info.find("TrackSummary"), *info.findall("TrackDetail")]
        scans: list[_Scan] = []
        for event in events:
            if event is None:
                continue
            if len(event):  # TrackFieldRequest: structured fields
                scans.append(_field_scan(event))
            elif line := _clean(event.text):
                if (scan := _text_scan(line)) is None:
                    parsed.ignored.append(f"{tracking_number}: unreadable event text {line[:80]!r}")
                else:
                    scans.append(scan)
        checkpoints = _checkpoints(
            tracking_number,
            scans,
            _text(info, "StatusCategory"),
            parsed,
            destination=_text(info, "DestinationState"),
        )
        if not checkpoints:
            parsed.ignored.append(f"{tracking_number}: USPS has no event for this item yet")
        delivered = any(c.status is Status.delivered for c in checkpoints)
        expected = _long_date(_text(info, "PredictedDeliveryDate") or _text(info, "ExpectedDeliveryDate"))
        parsed.updates.append(
            ApplyTracking(
                tracking_number=tracking_number, carrier="usps", service=_service(_text(info, "Class")),
                checkpoints=tuple(checkpoints), estimated_delivery_on=None if delivered else expected,
            )
        )  # fmt: skip
    return parsed


def _parse(body: bytes, number: str | None = None) -> Parsed:
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return _parse_json(text, number)
    if text.startswith(b"<"):
        return _parse_xml(text, number)
    raise ValueError("not a USPS response: neither JSON nor XML")


def parse(body: bytes) -> Parsed:
    """Pure: a Tracking v3 JSON or TrackV2 XML body → one update per item, errors as values."""
    return _parse(body)


# --- polling -------------------------------------------------------------------------------------------


def _token(client: httpx.Client, config: Config, client_id: SecretStr, client_secret: SecretStr) -> str:
    response = client.post(
        f"{config.base_url.rstrip('/')}{_AUTH_PATH}",
        json={
            "grant_type": "client_credentials",
            "client_id": client_id.get_secret_value(),
            "client_secret": client_secret.get_secret_value(),
        },
    )
    response.raise_for_status()
    token = response.json().get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("USPS token response has no access_token")
    return token


def _fetch_v3(client: httpx.Client, config: Config, numbers: list[str], token: str) -> list[Fetched]:
    fetched: list[Fetched] = []
    for number in numbers:
        response = client.get(
            f"{config.base_url.rstrip('/')}{_TRACK_PATH}{number}",
            params={"expand": "DETAIL"},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        fetched.append(Fetched((number,), response.status_code, response.content))
    return fetched


def _fetch_web_tools(
    client: httpx.Client, config: Config, numbers: list[str], user_id: SecretStr
) -> list[Fetched]:
    fetched: list[Fetched] = []
    for start in range(0, len(numbers), WEB_TOOLS_BATCH_SIZE):
        batch = numbers[start : start + WEB_TOOLS_BATCH_SIZE]
        ids = "".join(f"<TrackID ID={quoteattr(n)}/>" for n in batch)
        request = (
            f"<TrackFieldRequest USERID={quoteattr(user_id.get_secret_value())}><Revision>1</Revision>"
            f"<ClientIp>127.0.0.1</ClientIp><SourceId>doorstep</SourceId>{ids}</TrackFieldRequest>"
        )
        response = client.get(
            f"{config.base_url.rstrip('/')}{_WEB_TOOLS_PATH}", params={"API": "TrackV2", "XML": request}
        )
        fetched.append(Fetched(tuple(batch), response.status_code, response.content))
    return fetched


def fetch(client: httpx.Client, config: Config, numbers: list[str]) -> list[Fetched]:
    """Ask Tracking v3 (with a key and secret: one number a request) or Web Tools (with a user id: up to
    10 a request); every answer raw, the token's never."""
    if not numbers:
        return []
    if config.client_id is not None and config.client_secret is not None:
        token = _token(client, config, config.client_id, config.client_secret)
        return _fetch_v3(client, config, numbers, token)
    if config.user_id is not None:
        return _fetch_web_tools(client, config, numbers, config.user_id)
    raise ValueError("USPS needs a client id and secret (Tracking v3) or a Web Tools user id")


def poll(client: httpx.Client, config: Config, numbers: list[str]) -> Parsed:
    """Fetch the numbers from Tracking v3 (with a key and secret) or Web Tools (with a user id)."""
    result = Parsed()
    for answer in fetch(client, config, numbers):
        label = ", ".join(answer.numbers)  # a Web Tools error names the whole batch
        try:
            result.merge(_parse(answer.body, label))
        except (ValueError, json.JSONDecodeError) as exc:
            result.errors.append(f"{label}: USPS answered HTTP {answer.status_code}: {exc}")
    return result


class UspsSource:
    name = "usps"
    title = "USPS"
    delivery = Delivery.poll
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        return False  # carriers are polled; USPS never calls Doorstep

    def parse(self, body: bytes) -> Parsed:
        return parse(body)

    def poll(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> Parsed:
        if not isinstance(config, Config):
            raise TypeError(f"USPS needs its own Config, got {type(config).__name__}")
        return poll(client, config, numbers)

    def fetch(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> list[Fetched]:
        if not isinstance(config, Config):
            raise TypeError(f"USPS needs its own Config, got {type(config).__name__}")
        return fetch(client, config, numbers)


SOURCE = UspsSource()
