"""FedEx adapter: code table, real payloads (Track API JSON and TrackReply XML), carrier times, unknown
codes, and a poll against a local server that answers as the FedEx OAuth and Track APIs do."""

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from doorstep.integrations.tracking import fedex
from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Scan, Status, Substatus, derive_fingerprint, derive_state, is_valid_pair

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "data" / "carrier-tracking" / "fedex"
PAYLOADS = ROOT / "tests" / "payloads" / "tracking" / "fedex"
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


def scan(event: str, exception: str = "", derived: str = "") -> bytes:
    body = {
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": "776094337676",
                    "trackResults": [
                        {
                            "trackingNumberInfo": {"trackingNumber": "776094337676"},
                            "scanEvents": [
                                {
                                    "date": "2024-04-25T11:26:00-07:00", "eventType": event, "eventDescription": "",
                                    "exceptionCode": exception, "derivedStatusCode": derived,
                                    "scanLocation": {"city": "CLOVIS", "stateOrProvinceCode": "CA", "countryCode": "US"},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    }  # fmt: skip
    return json.dumps(body).encode()


# --- the code table -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "exception", "expected"),
    [
        ("OC", "", (Status.info_received, None)),
        ("PU", "", (Status.in_transit, None)),
        ("AR", "", (Status.in_transit, None)),
        ("DP", "", (Status.in_transit, None)),
        ("IT", "", (Status.in_transit, None)),
        ("CC", "", (Status.in_transit, None)),
        ("CD", "", (Status.exception, Substatus.customs_hold)),
        ("DY", "A52", (Status.in_transit, None)),
        ("OD", "", (Status.out_for_delivery, None)),
        ("HP", "", (Status.available_for_pickup, None)),
        ("HL", "", (Status.available_for_pickup, None)),
        ("DE", "08", (Status.attempt_failed, None)),
        ("DE", "007", (Status.attempt_failed, None)),
        ("DE", "A47", (Status.in_transit, None)),
        ("DE", "", (Status.exception, Substatus.other)),
        ("SE", "099", (Status.exception, Substatus.other)),
        ("RS", "", (Status.exception, Substatus.returning_to_sender)),
        ("CA", "", (Status.exception, Substatus.other)),
        ("DL", "", (Status.delivered, None)),
        ("DL", "014", (Status.delivered, Substatus.to_door)),
    ],
)
def test_an_event_maps_to_its_status(
    event: str, exception: str, expected: tuple[Status, Substatus | None]
) -> None:
    parsed = fedex.parse(scan(event, exception))

    (checkpoint,) = parsed.updates[0].checkpoints
    assert (checkpoint.status, checkpoint.substatus) == expected
    assert parsed.unknown_codes == []


def test_every_mapped_pair_is_valid() -> None:
    assert all(is_valid_pair(status, substatus) for status, substatus in fedex.STATUS_MAP.values())


def test_return_label_events_are_ignored_with_a_reason() -> None:
    parsed = fedex.parse(scan("RP"))

    assert parsed.updates[0].checkpoints == ()
    assert parsed.ignored == ["776094337676: event RP: return label link e-mailed to the return sender"]


def test_unknown_events_fall_back_to_the_derived_code_and_are_reported() -> None:
    parsed = fedex.parse((PAYLOADS / "in_transit__unknown_event_type.json").read_bytes())

    update = parsed.updates[0]
    statuses = {c.raw_code: (c.status, c.substatus) for c in update.checkpoints}
    assert statuses == {
        "QQ": (Status.in_transit, None),  # derivedStatusCode IT
        "ZZ": (Status.exception, Substatus.other),  # no derived code: never a silent in_transit
        "PU": (Status.in_transit, None),
    }
    assert parsed.unknown_codes == ["QQ", "ZZ"]
    assert final(update) == (Status.in_transit, None)
    assert update.estimated_delivery_on == date(2024, 4, 27)


def test_a_number_fedex_cannot_find_is_an_error_value() -> None:
    parsed = fedex.parse((PAYLOADS / "error__tracking_number_not_found.json").read_bytes())

    assert parsed.updates == []
    assert parsed.errors == [
        "123456789013: FedEx error TRACKING.TRACKINGNUMBER.NOTFOUND: Tracking number cannot be found. "
        "Please correct the tracking number and try again."
    ]


def test_a_body_that_is_not_fedex_is_refused() -> None:
    with pytest.raises(ValueError, match="not a FedEx"):
        fedex.parse(b"[1, 2]")
    with pytest.raises(ValueError, match="not a FedEx TrackReply"):
        fedex.parse(b"<TrackResponse/>")


def test_verify_accepts_nothing_because_fedex_never_pushes() -> None:
    config = fedex.Config(client_id=SecretStr("id"), client_secret=SecretStr("secret"))
    assert fedex.SOURCE.verify({}, b"{}", config) is False


# --- real payloads ------------------------------------------------------------------------------------

Final = tuple[Status, Substatus | None]
_UNABLE = "Sorry, we are unable to process your tracking request. Please retry later, or contact Customer Service at 1.800.Go.FedEx(R) 800.463.3339."
SHARED_EXPECTED: dict[str, Final | str] = {
    "active_shipping__tracking_response_delivered_at_door.xml": (Status.delivered, Substatus.to_door),
    "active_shipping__tracking_response_delivered_at_facility.xml": (Status.delivered, Substatus.signed),
    "active_shipping__tracking_response_delivered_with_signature.xml": (Status.delivered, Substatus.signed),
    "active_shipping__tracking_response_empty_status_detail.xml": (Status.pending, None),
    "active_shipping__tracking_response_failure_code_9045.xml": f"020207021381215: FedEx notification 9045: {_UNABLE}",
    "active_shipping__tracking_response_invalid_tracking_number.xml": "123456789013: FedEx notification 6035: Invalid tracking numbers. Please check the following numbers and resubmit.",
    "active_shipping__tracking_response_missing_status_code.xml": (Status.pending, None),
    "active_shipping__tracking_response_shipment_exception.xml": (Status.exception, Substatus.other),
    "active_shipping__tracking_response_unable_to_process.xml": f"FedEx notification 6330: {_UNABLE}",
    "karrio__fedex__DuplicateTrackingResponse.json": (Status.delivered, Substatus.signed),
    "karrio__fedex__ErrorResponse.json": "FedEx error TRACKING.TRACKINGNUMBER.EMPTY: Please provide tracking number.",
    "karrio__fedex__InconsistentDateTimeResponse.json": (Status.delivered, Substatus.signed),
    "karrio__fedex__TrackingResponseXML__98844fb4.xml": (Status.in_transit, None),
    "shipit__fedex_missing_location.xml": (Status.in_transit, None),
}  # fmt: skip


@needs_shared
def test_the_table_names_every_shared_payload() -> None:
    files = {p.name for p in SHARED.iterdir() if p.name != "SOURCES.md"}
    assert files == set(SHARED_EXPECTED)


@needs_shared
@pytest.mark.parametrize(("name", "expected"), SHARED_EXPECTED.items())
def test_each_shared_payload_parses_to_its_status(name: str, expected: Final | str) -> None:
    parsed = fedex.parse((SHARED / name).read_bytes())

    if isinstance(expected, str):
        assert parsed.updates == []
        assert parsed.errors == [expected]
        return
    assert parsed.errors == []
    assert parsed.unknown_codes == []
    (update,) = parsed.updates
    assert final(update) == expected
    assert all(c.occurred_at.utcoffset() is not None for c in update.checkpoints)
    assert fedex.parse((SHARED / name).read_bytes()) == parsed  # deterministic


@needs_shared
def test_a_reused_number_keeps_the_most_recent_shipment() -> None:
    parsed = fedex.parse((SHARED / "karrio__fedex__DuplicateTrackingResponse.json").read_bytes())

    (update,) = parsed.updates
    assert update.signed_by == "D.HERRERA"
    assert update.checkpoints[0].raw_code == "DL"
    assert parsed.ignored == [
        "776094337676: older shipment under the same number (2460425000~776094337676~FX) left out"
    ]


@needs_shared
def test_a_time_without_offset_takes_the_zone_of_the_scan_location() -> None:
    parsed = fedex.parse((SHARED / "karrio__fedex__InconsistentDateTimeResponse.json").read_bytes())

    by_code = {c.raw_code: c.occurred_at.isoformat() for c in parsed.updates[0].checkpoints}
    assert by_code["PU"] == "2024-08-15T00:00:00-05:00"  # "2024-08-15T00:00:00" in MANKATO, MN
    assert by_code["DL"] == "2024-08-20T12:41:57-04:00"  # FedEx's own offset kept


@needs_shared
def test_xml_scans_keep_code_message_and_place() -> None:
    parsed = fedex.parse(
        (SHARED / "active_shipping__tracking_response_delivered_at_facility.xml").read_bytes()
    )

    checkpoints = parsed.updates[0].checkpoints
    attempt = next(c for c in checkpoints if c.raw_code == "DE" and c.occurred_at.day == 4)
    assert (attempt.status, attempt.message, attempt.city, attempt.region, attempt.country) == (
        Status.attempt_failed, "Delivery exception — Customer not available or business closed", "SAN LEANDRO", "CA", "US",
    )  # fmt: skip
    assert attempt.occurred_at.isoformat() == "2014-01-04T14:55:45-08:00"
    held = next(c for c in checkpoints if c.raw_code == "HP")
    assert held.status is Status.available_for_pickup


@needs_shared
def test_the_estimate_comes_from_fedex() -> None:
    parsed = fedex.parse((SHARED / "shipit__fedex_missing_location.xml").read_bytes())

    assert parsed.updates[0].estimated_delivery_on == date(2015, 12, 12)


# --- polling against a local FedEx ------------------------------------------------------------------


class _FakeFedex(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str], bytes]] = []
    answer: bytes = b"{}"

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append((self.path, dict(self.headers), body))
        if self.path == "/oauth/token":
            self._send(
                200,
                json.dumps(
                    {"access_token": "fx-token", "token_type": "bearer", "expires_in": 3599, "scope": "CXS"}
                ).encode(),
            )
        elif (
            self.path == "/track/v1/trackingnumbers"
            and self.headers.get("Authorization") == "Bearer fx-token"
        ):
            self._send(200, self.answer)
        else:
            self._send(
                401,
                json.dumps(
                    {"errors": [{"code": "NOT.AUTHORIZED.ERROR", "message": "Access token expired."}]}
                ).encode(),
            )

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_fedex() -> Iterator[tuple[str, type[_FakeFedex]]]:
    handler = type("Handler", (_FakeFedex,), {"seen": [], "answer": b"{}"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@needs_shared
def test_poll_sends_at_most_30_numbers_a_request(fake_fedex: tuple[str, type[_FakeFedex]]) -> None:
    base_url, handler = fake_fedex
    handler.answer = (SHARED / "karrio__fedex__InconsistentDateTimeResponse.json").read_bytes()
    config = fedex.Config(
        client_id=SecretStr("key-1"), client_secret=SecretStr("secret-1"), base_url=base_url
    )
    numbers = ["738488882438", *(f"{n:012d}" for n in range(1, 32))]  # 32 numbers: two requests

    with httpx.Client(timeout=5) as client:
        parsed = fedex.SOURCE.poll(client, config, numbers)

    (token_path, _, token_body), *track_calls = handler.seen
    assert token_path == "/oauth/token"
    assert parse_qs(token_body.decode()) == {
        "grant_type": ["client_credentials"], "client_id": ["key-1"], "client_secret": ["secret-1"],
    }  # fmt: skip
    assert [path for path, _, _ in track_calls] == ["/track/v1/trackingnumbers"] * 2
    sent = [json.loads(body) for _, _, body in track_calls]
    assert [[i["trackingNumberInfo"]["trackingNumber"] for i in s["trackingInfo"]] for s in sent] == [
        numbers[:30],
        numbers[30:],
    ]
    assert all(s["includeDetailedScans"] is True for s in sent)
    assert all(headers["Authorization"] == "Bearer fx-token" for _, headers, _ in track_calls)
    assert [(u.tracking_number, final(u)) for u in parsed.updates] == [
        ("738488882438", (Status.delivered, Substatus.signed))
    ] * 2
    assert parsed.errors == []
