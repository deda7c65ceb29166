"""UPS adapter: code table, real payloads (JSON and XML), carrier times, unknown codes, and a poll against
a local server that answers as the UPS OAuth and Track APIs do."""

import base64
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from doorstep.integrations.tracking import ups
from doorstep.integrations.tracking.protocol import Parsed
from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Scan, Status, Substatus, derive_fingerprint, derive_state, is_valid_pair

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "data" / "carrier-tracking" / "ups"
PAYLOADS = ROOT / "tests" / "payloads" / "tracking" / "ups"
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


def activity(kind: str, code: str, description: str = "") -> bytes:
    body = {
        "trackResponse": {
            "shipment": [
                {
                    "inquiryNumber": "1Z999AA10123456784",
                    "package": [
                        {
                            "trackingNumber": "1Z999AA10123456784",
                            "activity": [
                                {
                                    "date": "20240315", "time": "120000",
                                    "location": {"address": {"city": "Atlanta", "stateProvince": "GA", "countryCode": "US"}},
                                    "status": {"type": kind, "code": code, "description": description},
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
    ("kind", "code", "description", "expected"),
    [
        ("M", "MP", "Shipper created a label", (Status.info_received, None)),
        ("I", "PU", "Package picked up.", (Status.in_transit, None)),
        ("I", "OR", "ORIGIN SCAN", (Status.in_transit, None)),
        ("I", "AR", "ARRIVAL SCAN", (Status.in_transit, None)),
        ("I", "DS", "DESTINATION SCAN", (Status.in_transit, None)),
        ("I", "DS", "OUT FOR DELIVERY", (Status.out_for_delivery, None)),
        ("I", "OF", "OUT FOR DELIVERY", (Status.out_for_delivery, None)),
        ("I", "OT", "Out For Delivery Today", (Status.out_for_delivery, None)),
        ("D", "KB", "DELIVERED", (Status.delivered, None)),
        ("D", "FS", "DELIVERED", (Status.delivered, None)),
        ("X", "48", "THE RECEIVER WAS NOT AVAILABLE", (Status.attempt_failed, None)),
        ("X", "2Y", "YOUR PACKAGE ENCOUNTERED A DELAY", (Status.in_transit, None)),
        ("RS", "", "Returned to shipper", (Status.returned, None)),
        ("O", "", "Out for delivery", (Status.out_for_delivery, None)),
        ("W", "", "Warehousing", (Status.in_transit, None)),
        ("DD", "", "Delivered destination CFS", (Status.in_transit, None)),
    ],
)
def test_a_code_maps_to_its_status(
    kind: str, code: str, description: str, expected: tuple[Status, Substatus | None]
) -> None:
    parsed = ups.parse(activity(kind, code, description))

    (checkpoint,) = parsed.updates[0].checkpoints
    assert (checkpoint.status, checkpoint.substatus) == expected
    assert parsed.unknown_codes == []


def test_every_mapped_pair_is_valid() -> None:
    assert all(is_valid_pair(status, substatus) for status, substatus in ups.STATUS_MAP.values())


def test_refund_activity_is_ignored_with_a_reason() -> None:
    parsed = ups.parse(
        activity("X", "DM", "A GUARANTEED SERVICE REFUND HAS BEEN SUBMITTED FOR THIS PACKAGE.")
    )

    assert parsed.updates[0].checkpoints == ()
    assert parsed.ignored == [
        "1Z999AA10123456784: activity DM: a guaranteed-service refund was submitted (billing, not a scan)"
    ]


def test_unknown_codes_fall_back_to_their_status_type_and_are_reported() -> None:
    parsed = ups.parse((PAYLOADS / "in_transit__unknown_activity_code.json").read_bytes())

    update = parsed.updates[0]
    statuses = {c.raw_code: (c.status, c.substatus) for c in update.checkpoints}
    assert statuses == {
        "ZZ": (Status.in_transit, None),  # type I
        "ZX": (Status.exception, Substatus.other),  # type X
        "MP": (Status.info_received, None),
    }
    assert parsed.unknown_codes == ["ZZ", "ZX"]
    assert final(update) == (Status.in_transit, None)
    assert update.estimated_delivery_on == date(2024, 3, 18)


def test_gmt_fields_give_the_exact_offset() -> None:
    parsed = ups.parse((PAYLOADS / "in_transit__unknown_activity_code.json").read_bytes())

    scan = parsed.updates[0].checkpoints[0]
    assert scan.occurred_at.isoformat() == "2024-03-16T10:15:00-05:00"


def test_a_not_found_warning_is_an_error_value() -> None:
    parsed = ups.parse((PAYLOADS / "error__not_found_warning.json").read_bytes())

    assert parsed.updates == []
    assert parsed.errors == ["1Z999AA10123456784: UPS says TW0001: Tracking Information Not Found"]


def test_a_body_that_is_not_ups_is_refused() -> None:
    with pytest.raises(ValueError, match="not a UPS"):
        ups.parse(b"hello")
    with pytest.raises(ValueError, match="not a UPS TrackResponse"):
        ups.parse(b"<TrackReply/>")


def test_a_legacy_xml_error_is_an_error_value() -> None:
    body = (
        b"<TrackResponse><Response><ResponseStatusCode>0</ResponseStatusCode><ResponseStatusDescription>Failure"
        b"</ResponseStatusDescription><Error><ErrorSeverity>Hard</ErrorSeverity><ErrorCode>151018</ErrorCode>"
        b"<ErrorDescription>Invalid tracking number</ErrorDescription></Error></Response></TrackResponse>"
    )

    parsed = ups.parse(body)

    assert parsed.updates == []
    assert parsed.errors == ["UPS: UPS error 151018: Invalid tracking number"]


def test_xml_entities_are_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa">]><TrackResponse>&a;</TrackResponse>'

    with pytest.raises(ValueError):  # defusedxml: no entity expansion from untrusted input
        ups.parse(body)


def test_verify_accepts_nothing_because_ups_never_pushes() -> None:
    config = ups.Config(client_id=SecretStr("id"), client_secret=SecretStr("secret"))
    assert ups.SOURCE.verify({}, b"{}", config) is False


# --- real payloads ------------------------------------------------------------------------------------

Final = tuple[Status, Substatus | None]
SHARED_EXPECTED: dict[str, Final | str] = {
    "active_shipping__delivered_shipment_with_refund.xml": (Status.delivered, Substatus.signed),
    "active_shipping__no_status_node_success.xml": (Status.pending, None),
    "active_shipping__out_for_delivery_shipment.xml": (Status.out_for_delivery, None),
    "active_shipping__rescheduled_shipment.xml": (Status.out_for_delivery, None),
    "active_shipping__shipment_from_tiger_direct.xml": (Status.delivered, Substatus.signed),
    "karrio__ups__InvalidTrackingNumberResponseJSON.json": "UPS: UPS error TV1002: Invalid inquiry number",
    "karrio__ups__LabelCreatedTrackingResponseJSON__8aab3919.json": (Status.info_received, None),
    "karrio__ups__PickupTrackingResponseJSON__8aab3919.json": (Status.in_transit, None),
    "shipit__ups_2nd_trk_number.xml": (Status.delivered, Substatus.signed),
    "shipit__ups_delivered.xml": (Status.delivered, Substatus.signed),
    "shipit__ups_rescheduled.xml": (Status.in_transit, None),
    "shipit__ups_transit.xml": (Status.in_transit, None),
}


@needs_shared
def test_the_table_names_every_shared_payload() -> None:
    files = {p.name for p in SHARED.iterdir() if p.name != "SOURCES.md"}
    assert files == set(SHARED_EXPECTED)


@needs_shared
@pytest.mark.parametrize(("name", "expected"), SHARED_EXPECTED.items())
def test_each_shared_payload_parses_to_its_status(name: str, expected: Final | str) -> None:
    parsed = ups.parse((SHARED / name).read_bytes())

    if isinstance(expected, str):
        assert parsed.updates == []
        assert parsed.errors == [expected]
        return
    assert parsed.errors == []
    assert parsed.unknown_codes == []
    assert parsed.updates
    assert all(final(update) == expected for update in parsed.updates)
    assert all(c.occurred_at.utcoffset() is not None for u in parsed.updates for c in u.checkpoints)
    assert ups.parse((SHARED / name).read_bytes()) == parsed  # deterministic


@needs_shared
def test_xml_local_times_take_the_zone_of_the_scan_location() -> None:
    parsed = ups.parse((SHARED / "active_shipping__delivered_shipment_with_refund.xml").read_bytes())

    by_city = {(c.city, c.raw_code): c.occurred_at for c in parsed.updates[0].checkpoints}
    assert by_city[("ASHEBORO", "KB")].isoformat() == "2013-12-09T16:17:00-05:00"  # NC: Eastern
    assert by_city[("WINONA", "OR")].isoformat() == "2013-12-03T20:06:00-06:00"  # MN: Central
    assert parsed.updates[0].signed_by == "EVANS"


@needs_shared
def test_json_local_times_take_the_zone_of_the_country() -> None:
    parsed = ups.parse((SHARED / "karrio__ups__PickupTrackingResponseJSON__8aab3919.json").read_bytes())

    (checkpoint,) = parsed.updates[0].checkpoints
    assert checkpoint.occurred_at.isoformat() == "2024-03-15T09:25:00+01:00"  # Frankfurt
    assert (checkpoint.raw_code, checkpoint.city, checkpoint.country) == ("PU", "Frankfurt", "DE")


@needs_shared
def test_scheduled_and_rescheduled_dates_become_the_estimate() -> None:
    parsed = ups.parse((SHARED / "shipit__ups_rescheduled.xml").read_bytes())

    assert parsed.updates[0].estimated_delivery_on == date(2014, 10, 24)  # rescheduled wins over 20141027


# --- polling against a local UPS -------------------------------------------------------------------


class _FakeUps(BaseHTTPRequestHandler):
    bodies: dict[str, tuple[int, bytes]] = {}
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append(("POST", self.path, dict(self.headers), body))
        if self.path == "/security/v1/oauth/token":
            self._answer(
                200,
                json.dumps(
                    {"access_token": "tok-123", "token_type": "Bearer", "expires_in": "14399"}
                ).encode(),
            )
        else:
            self._answer(404, b"{}")

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, dict(self.headers), b""))
        path = urlsplit(self.path).path
        if self.headers.get("Authorization") != "Bearer tok-123":
            self._answer(
                401,
                json.dumps(
                    {
                        "response": {
                            "errors": [{"code": "250002", "message": "Invalid Authentication Information."}]
                        }
                    }
                ).encode(),
            )
            return
        number = path.removeprefix("/api/track/v1/details/")
        status, body = self.bodies.get(
            number, (404, b'{"response":{"errors":[{"code":"TV1002","message":"Invalid inquiry number"}]}}')
        )
        self._answer(status, body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_ups() -> Iterator[tuple[str, type[_FakeUps]]]:
    handler = type("Handler", (_FakeUps,), {"bodies": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@needs_shared
def test_poll_fetches_a_token_then_each_number(fake_ups: tuple[str, type[_FakeUps]]) -> None:
    base_url, handler = fake_ups
    handler.bodies["1Z999AA10123456784"] = (
        200,
        (SHARED / "karrio__ups__PickupTrackingResponseJSON__8aab3919.json").read_bytes(),
    )
    config = ups.Config(
        client_id=SecretStr("my-id"),
        client_secret=SecretStr("my-secret"),
        merchant_id="A1B2C3",
        base_url=base_url,
    )

    with httpx.Client(timeout=5) as client:
        parsed = ups.SOURCE.poll(client, config, ["1Z999AA10123456784", "1Z0000000000000000"])

    token_call, *track_calls = handler.seen
    method, path, headers, body = token_call
    assert (method, path) == ("POST", "/security/v1/oauth/token")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"my-id:my-secret").decode()
    assert headers["x-merchant-id"] == "A1B2C3"
    assert parse_qs(body.decode()) == {"grant_type": ["client_credentials"]}
    assert [urlsplit(p).path for _, p, _, _ in track_calls] == [
        "/api/track/v1/details/1Z999AA10123456784", "/api/track/v1/details/1Z0000000000000000",
    ]  # fmt: skip
    first = track_calls[0]
    assert first[2]["Authorization"] == "Bearer tok-123"
    assert first[2]["transactionSrc"] == "doorstep"
    assert first[2]["transId"]
    assert parse_qs(urlsplit(first[1]).query)["locale"] == ["en_US"]
    assert [(u.tracking_number, final(u)) for u in parsed.updates] == [
        ("1Z999AA10123456784", (Status.in_transit, None))
    ]
    assert parsed.errors == ["1Z0000000000000000: UPS error TV1002: Invalid inquiry number"]


def test_poll_with_no_numbers_makes_no_request(fake_ups: tuple[str, type[_FakeUps]]) -> None:
    base_url, handler = fake_ups
    config = ups.Config(client_id=SecretStr("id"), client_secret=SecretStr("secret"), base_url=base_url)

    with httpx.Client(timeout=5) as client:
        assert ups.SOURCE.poll(client, config, []) == Parsed()
    assert handler.seen == []


def test_a_refused_token_raises_so_the_job_retries(fake_ups: tuple[str, type[_FakeUps]]) -> None:
    base_url, _ = fake_ups
    config = ups.Config(
        client_id=SecretStr("id"), client_secret=SecretStr("secret"), base_url=base_url + "/nope"
    )

    with httpx.Client(timeout=5) as client, pytest.raises(httpx.HTTPStatusError):
        ups.SOURCE.poll(client, config, ["1Z999AA10123456784"])


def test_scan_times_are_in_carrier_order_not_payload_order() -> None:
    parsed = ups.parse((PAYLOADS / "in_transit__unknown_activity_code.json").read_bytes())

    times = [c.occurred_at for c in parsed.updates[0].checkpoints]
    assert times == sorted(times, reverse=True)  # UPS lists the most recent first
    assert times[0] - times[-1] > timedelta(hours=1)
