"""USPS adapter: event code table, real payloads (Tracking v3 JSON, TrackV2 XML with fields and as free
text), carrier times, unknown codes, and polls against a local server that answers as USPS's Tracking v3
(OAuth + track) and legacy Web Tools APIs do."""

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import fromstring

import httpx
import pytest
from pydantic import SecretStr

from doorstep.integrations.tracking import usps
from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Scan, Status, Substatus, derive_fingerprint, derive_state, is_valid_pair

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "data" / "carrier-tracking" / "usps"
PAYLOADS = ROOT / "tests" / "payloads" / "tracking" / "usps"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared carrier payloads not found at {SHARED}"
)


def final(update: ApplyTracking) -> tuple[Status, Substatus | None]:
    """The shipment status Doorstep derives from this update's checkpoints."""
    state = derive_state(
        Scan(c.occurred_at, c.status, c.substatus, derive_fingerprint(c.occurred_at, c.raw_code or "", c.message, c.city, c.postal_code, c.country))
        for c in update.checkpoints
    )  # fmt: skip
    return state.status, state.substatus


def event(code: str, text: str) -> bytes:
    body = {
        "trackingNumber": "9400109104250532908587",
        "trackingEvents": [
            {"eventType": text, "eventTimestamp": "2024-11-22T13:58:00", "GMTOffset": "-05:00", "eventCity": "HERNANDO", "eventState": "FL", "eventZIP": "34442", "eventCode": code}
        ],
    }  # fmt: skip
    return json.dumps(body).encode()


# --- the code table -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("MA", "Pre-Shipment Info Sent to USPS", (Status.info_received, None)),
        ("GX", "Shipping Label Created, USPS Awaiting Item", (Status.info_received, None)),
        ("03", "USPS in possession of item", (Status.in_transit, None)),
        ("10", "Processed at USPS Facility", (Status.in_transit, None)),
        ("07", "Arrived at Post Office", (Status.in_transit, None)),
        ("OF", "Out for Delivery", (Status.out_for_delivery, None)),
        ("02", "Notice Left (No Authorized Recipient Available)", (Status.attempt_failed, None)),
        ("53", "Receptacle Blocked", (Status.attempt_failed, None)),
        ("16", "Available for Pickup", (Status.available_for_pickup, None)),
        ("01", "Delivered", (Status.delivered, None)),
        ("01", "Delivered, Parcel Locker", (Status.delivered, Substatus.to_locker)),
        ("01", "Delivered, Front Door/Porch", (Status.delivered, Substatus.to_door)),
        ("17", "Picked Up by Agent", (Status.delivered, None)),
        ("04", "Refused", (Status.exception, Substatus.refused)),
        ("05", "Undeliverable as Addressed", (Status.exception, Substatus.address_issue)),
        ("09", "Return to Sender", (Status.exception, Substatus.returning_to_sender)),
        ("21", "No Such Number", (Status.exception, Substatus.returning_to_sender)),
        ("11", "Dead Letter", (Status.exception, Substatus.lost)),
    ],
)
def test_an_event_code_maps_to_its_status(
    code: str, text: str, expected: tuple[Status, Substatus | None]
) -> None:
    parsed = usps.parse(event(code, text))

    (checkpoint,) = parsed.updates[0].checkpoints
    assert (checkpoint.status, checkpoint.substatus) == expected
    assert parsed.unknown_codes == []


def test_every_mapped_pair_is_valid() -> None:
    assert all(is_valid_pair(status, substatus) for status, substatus in usps.STATUS_MAP.values())


def test_every_event_name_names_a_mapped_code() -> None:
    assert set(usps.EVENT_NAMES.values()) <= set(usps.STATUS_MAP)


def test_unknown_codes_fall_back_to_the_status_category_and_are_reported() -> None:
    parsed = usps.parse((PAYLOADS / "in_transit__unknown_event_code.json").read_bytes())

    update = parsed.updates[0]
    statuses = {c.raw_code: (c.status, c.substatus) for c in update.checkpoints}
    assert statuses == {
        "Z9": (Status.in_transit, None),  # the latest event: statusCategory "In Transit"
        "Z8": (Status.exception, Substatus.other),  # an older one: the category says nothing about it
        "GX": (Status.info_received, None),
    }
    assert parsed.unknown_codes == ["Z9", "Z8"]
    assert update.estimated_delivery_on == date(2024, 11, 23)
    assert update.service == "USPS Ground Advantage"


def test_a_time_without_offset_takes_the_zone_of_its_state() -> None:
    parsed = usps.parse((PAYLOADS / "in_transit__unknown_event_code.json").read_bytes())

    by_code = {c.raw_code: c.occurred_at.isoformat() for c in parsed.updates[0].checkpoints}
    assert by_code["Z9"] == "2024-11-20T01:13:00-05:00"  # GMTOffset
    assert by_code["Z8"] == "2024-11-19T06:16:00-05:00"  # no offset: NY is Eastern


def test_a_number_usps_cannot_find_is_an_error_value() -> None:
    parsed = usps.parse((PAYLOADS / "error__not_found.json").read_bytes())

    assert parsed.updates == []
    assert parsed.errors == [
        "USPS: USPS error 404: Tracking number not found The tracking number may be incorrect or the status "
        "update is not yet available."
    ]


def test_a_body_that_is_not_usps_is_refused() -> None:
    with pytest.raises(ValueError, match="not a USPS"):
        usps.parse(b"plain text")
    with pytest.raises(ValueError, match="not a USPS TrackResponse"):
        usps.parse(b"<TrackReply/>")


def test_verify_accepts_nothing_because_usps_never_pushes() -> None:
    assert usps.SOURCE.verify({}, b"{}", usps.Config(user_id=SecretStr("u"))) is False


# --- real payloads ------------------------------------------------------------------------------------

Final = tuple[Status, Substatus | None]
_NOT_FOUND = "USPS error -2147219302: The Postal Service could not locate the tracking information for your request. Please verify your tracking number and try again later."
SHARED_EXPECTED: dict[str, Final | str | None] = {
    "active_shipping__delivered_extended_tracking_response.xml": (Status.delivered, None),
    "active_shipping__track_shipment_response.xml": None,  # Stamps.com's API, not USPS's: refused
    "active_shipping__tracking_response.xml": (Status.delivered, None),
    "active_shipping__tracking_response_batch.xml": (Status.delivered, None),
    "active_shipping__tracking_response_failure.xml": f"9102901000462189604217: {_NOT_FOUND}",
    "karrio__usps__TrackingResponse.json": (Status.delivered, Substatus.to_locker),
    "shipit__usps_out_for_delivery.xml": (Status.out_for_delivery, None),
    "shipit__usps_pre_shipment.xml": (Status.info_received, None),
    "shipit__usps_predicted_eta.xml": (Status.in_transit, None),
}  # fmt: skip


@needs_shared
def test_the_table_names_every_shared_payload() -> None:
    files = {p.name for p in SHARED.iterdir() if p.name != "SOURCES.md"}
    assert files == set(SHARED_EXPECTED)


@needs_shared
@pytest.mark.parametrize(("name", "expected"), SHARED_EXPECTED.items())
def test_each_shared_payload_parses_to_its_status(name: str, expected: Final | str | None) -> None:
    body = (SHARED / name).read_bytes()
    if expected is None:
        with pytest.raises(ValueError, match="not a USPS TrackResponse"):
            usps.parse(body)
        return
    parsed = usps.parse(body)

    if isinstance(expected, str):
        assert parsed.updates == []
        assert parsed.errors == [expected]
        return
    assert parsed.unknown_codes == []
    update = parsed.updates[0]
    assert final(update) == expected
    assert all(c.occurred_at.utcoffset() is not None for u in parsed.updates for c in u.checkpoints)
    assert usps.parse(body) == parsed  # deterministic


@needs_shared
def test_a_batch_answer_gives_updates_and_errors_per_number() -> None:
    parsed = usps.parse((SHARED / "active_shipping__tracking_response_batch.xml").read_bytes())

    assert [u.tracking_number for u in parsed.updates] == ["9102901000462189604217", "5555555555555555555555"]
    assert parsed.errors == [
        f"9405510ee200828613653750: {_NOT_FOUND}",
        "CJ422417033US: USPS error -2147219303: Duplicate",
    ]


@needs_shared
def test_free_text_lines_are_read_through_the_event_names() -> None:
    parsed = usps.parse((SHARED / "active_shipping__delivered_extended_tracking_response.xml").read_bytes())

    checkpoints = parsed.updates[0].checkpoints
    assert [c.raw_code for c in checkpoints] == ["01", "OF", "PC", "07", "03", "MA"]
    delivered = checkpoints[0]
    assert delivered.occurred_at.isoformat() == "2013-10-12T14:16:00-04:00"  # BROOKLYN, NY
    assert (delivered.city, delivered.region, delivered.postal_code) == ("BROOKLYN", "NY", "11201")


@needs_shared
def test_field_times_take_the_zone_of_the_event_state() -> None:
    parsed = usps.parse((SHARED / "shipit__usps_predicted_eta.xml").read_bytes())

    update = parsed.updates[0]
    assert update.checkpoints[0].occurred_at.isoformat() == "2015-09-25T04:24:00-07:00"  # ORANGE, CA
    assert update.estimated_delivery_on == date(2015, 9, 25)


@needs_shared
def test_an_event_without_a_place_takes_the_destination_zone() -> None:
    parsed = usps.parse((SHARED / "shipit__usps_pre_shipment.xml").read_bytes())

    (checkpoint,) = parsed.updates[0].checkpoints
    assert checkpoint.occurred_at.isoformat() == "2014-02-28T00:00:00-10:00"  # to KIHEI, HI


# --- polling against a local USPS --------------------------------------------------------------------


class _FakeUsps(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str], bytes]] = []
    bodies: dict[str, bytes] = {}

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append(("POST", self.path, dict(self.headers), body))
        if self.path == "/oauth2/v3/token":
            self._send(
                200,
                json.dumps(
                    {"access_token": "usps-token", "token_type": "Bearer", "expires_in": 28799}
                ).encode(),
            )
        else:
            self._send(404, b"{}")

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, dict(self.headers), b""))
        url = urlsplit(self.path)
        if url.path == "/ShippingAPI.dll":
            self._send(200, self.bodies["webtools"], "text/xml")
            return
        number = url.path.removeprefix("/tracking/v3/tracking/")
        if self.headers.get("Authorization") != "Bearer usps-token":
            self._send(401, b'{"error": {"code": "401", "message": "Unauthorized"}}')
        elif number in self.bodies:
            self._send(200, self.bodies[number])
        else:
            self._send(404, (PAYLOADS / "error__not_found.json").read_bytes())

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_usps() -> Iterator[tuple[str, type[_FakeUsps]]]:
    handler = type("Handler", (_FakeUsps,), {"seen": [], "bodies": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@needs_shared
def test_poll_v3_fetches_a_token_then_each_number(fake_usps: tuple[str, type[_FakeUsps]]) -> None:
    base_url, handler = fake_usps
    handler.bodies["9400109104250532908587"] = (SHARED / "karrio__usps__TrackingResponse.json").read_bytes()
    config = usps.Config(client_id=SecretStr("ck"), client_secret=SecretStr("cs"), base_url=base_url)

    with httpx.Client(timeout=5) as client:
        parsed = usps.SOURCE.poll(client, config, ["9400109104250532908587", "9400100000000000000000"])

    (_, token_path, _, token_body), *track_calls = handler.seen
    assert token_path == "/oauth2/v3/token"
    assert json.loads(token_body) == {
        "grant_type": "client_credentials",
        "client_id": "ck",
        "client_secret": "cs",
    }
    assert [urlsplit(path).path for _, path, _, _ in track_calls] == [
        "/tracking/v3/tracking/9400109104250532908587", "/tracking/v3/tracking/9400100000000000000000",
    ]  # fmt: skip
    assert all(parse_qs(urlsplit(path).query) == {"expand": ["DETAIL"]} for _, path, _, _ in track_calls)
    assert all(headers["Authorization"] == "Bearer usps-token" for _, _, headers, _ in track_calls)
    assert [(u.tracking_number, final(u)) for u in parsed.updates] == [
        ("9400109104250532908587", (Status.delivered, Substatus.to_locker))
    ]
    assert parsed.errors == [
        "9400100000000000000000: USPS error 404: Tracking number not found The tracking number may be incorrect or "
        "the status update is not yet available."
    ]


@needs_shared
def test_poll_web_tools_sends_the_user_id_and_numbers_in_the_xml(
    fake_usps: tuple[str, type[_FakeUsps]],
) -> None:
    base_url, handler = fake_usps
    handler.bodies["webtools"] = (SHARED / "shipit__usps_out_for_delivery.xml").read_bytes()
    config = usps.Config(user_id=SecretStr("123DOORS4567"), base_url=base_url)

    with httpx.Client(timeout=5) as client:
        parsed = usps.SOURCE.poll(client, config, ["9361289949059120447349"])

    ((method, path, _, _),) = handler.seen
    query = parse_qs(urlsplit(path).query)
    assert (method, urlsplit(path).path, query["API"]) == ("GET", "/ShippingAPI.dll", ["TrackV2"])
    request = fromstring(query["XML"][0])
    assert (request.tag, request.get("USERID")) == ("TrackFieldRequest", "123DOORS4567")
    assert [t.get("ID") for t in request.findall("TrackID")] == ["9361289949059120447349"]
    assert [(u.tracking_number, final(u)) for u in parsed.updates] == [
        ("9361289949059120447349", (Status.out_for_delivery, None))
    ]


def test_poll_without_credentials_is_refused() -> None:
    with httpx.Client(timeout=5) as client, pytest.raises(ValueError, match="needs a client id"):
        usps.SOURCE.poll(client, usps.Config(), ["9400109104250532908587"])
