"""DHL adapter: checkpoint code table, real payloads (Unified JSON, MyDHL JSON, Express XML-PI), carrier
times, unknown codes, and a poll against a local server that answers as the Unified tracking API does."""

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from doorstep.integrations.tracking import dhl
from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Scan, Status, Substatus, derive_fingerprint, derive_state, is_valid_pair

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "data" / "carrier-tracking" / "dhl"
PAYLOADS = ROOT / "tests" / "payloads" / "tracking" / "dhl"
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


def checkpoint(code: str, signatory: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<req:TrackingResponse xmlns:req="http://www.dhl.com">
  <AWBInfo>
    <AWBNumber>2628987793</AWBNumber>
    <Status><ActionStatus>success</ActionStatus></Status>
    <ShipmentInfo>
      <ShipmentEvent>
        <Date>2019-01-31</Date><Time>09:15:00</Time>
        <ServiceEvent><EventCode>{code}</EventCode><Description>event</Description></ServiceEvent>
        <Signatory>{signatory}</Signatory>
        <ServiceArea><ServiceAreaCode>VNY</ServiceAreaCode><Description>VAN NUYS,CA-USA</Description></ServiceArea>
      </ShipmentEvent>
    </ShipmentInfo>
  </AWBInfo>
</req:TrackingResponse>""".encode()


# --- the code table -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("PU", (Status.in_transit, None)),
        ("PL", (Status.in_transit, None)),
        ("DF", (Status.in_transit, None)),
        ("AF", (Status.in_transit, None)),
        ("AR", (Status.in_transit, None)),
        ("CR", (Status.in_transit, None)),
        ("RR", (Status.in_transit, None)),
        ("TD", (Status.in_transit, None)),
        ("WC", (Status.out_for_delivery, None)),
        ("CA", (Status.attempt_failed, None)),
        ("NH", (Status.attempt_failed, None)),
        ("CC", (Status.available_for_pickup, None)),
        ("BA", (Status.exception, Substatus.address_issue)),
        ("RD", (Status.exception, Substatus.refused)),
        ("OH", (Status.exception, Substatus.other)),
        ("CD", (Status.exception, Substatus.customs_hold)),
        ("UD", (Status.exception, Substatus.customs_hold)),
        ("OK", (Status.delivered, None)),
        ("RT", (Status.returned, None)),
    ],
)
def test_a_checkpoint_code_maps_to_its_status(code: str, expected: tuple[Status, Substatus | None]) -> None:
    parsed = dhl.parse(checkpoint(code))

    (scan,) = parsed.updates[0].checkpoints
    assert (scan.status, scan.substatus) == expected
    assert parsed.unknown_codes == []


def test_every_mapped_pair_is_valid() -> None:
    assert all(is_valid_pair(status, substatus) for status, substatus in dhl.STATUS_MAP.values())


def test_a_signed_delivery_records_the_signer() -> None:
    parsed = dhl.parse(checkpoint("OK", signatory="J SMITH"))

    update = parsed.updates[0]
    assert (update.checkpoints[0].substatus, update.signed_by) == (Substatus.signed, "J SMITH")


def test_the_service_area_gives_the_zone() -> None:
    parsed = dhl.parse(checkpoint("PL"))

    (scan,) = parsed.updates[0].checkpoints
    assert scan.occurred_at.isoformat() == "2019-01-31T09:15:00-08:00"  # VAN NUYS, CA
    assert (scan.country, scan.region) == ("US", "CA")


def test_unknown_codes_fall_back_and_are_reported() -> None:
    parsed = dhl.parse((PAYLOADS / "exception__unknown_checkpoint_code.json").read_bytes())

    update = parsed.updates[0]
    statuses = {c.raw_code: (c.status, c.substatus) for c in update.checkpoints}
    assert statuses == {"ZZ": (Status.exception, Substatus.other), "PL": (Status.in_transit, None)}
    assert parsed.unknown_codes == ["ZZ"]
    assert final(update) == (Status.exception, Substatus.other)
    by_code = {c.raw_code: c.occurred_at.isoformat() for c in update.checkpoints}
    assert by_code == {
        "ZZ": "2015-09-24T10:06:33+12:00",
        "PL": "2015-09-18T20:18:58+01:00",
    }  # offset; London BST
    assert update.estimated_delivery_on == date(2015, 9, 25)


def test_unified_status_codes_map_and_unknown_is_ignored() -> None:
    body = {
        "shipments": [
            {
                "id": "00340434161094042557",
                "service": "parcel-de",
                "events": [
                    {"timestamp": "2024-05-02T10:00:00+02:00", "statusCode": "delivered", "description": "Delivered"},
                    {"timestamp": "2024-05-02T07:00:00+02:00", "statusCode": "transit", "description": "Out for delivery"},
                    {"timestamp": "2024-05-01T18:00:00+02:00", "statusCode": "unknown", "description": "?"},
                    {"timestamp": "2024-05-01T09:00:00+02:00", "statusCode": "pre-transit", "description": "Data received"},
                ],
            }
        ]
    }  # fmt: skip
    parsed = dhl.parse(json.dumps(body).encode())

    update = parsed.updates[0]
    assert [c.status for c in update.checkpoints] == [
        Status.delivered,
        Status.in_transit,
        Status.info_received,
    ]
    assert parsed.ignored == ["00340434161094042557: checkpoint unknown: DHL has no status for this event"]
    assert final(update) == (Status.delivered, None)


def test_a_unified_not_found_problem_is_an_error_value() -> None:
    parsed = dhl.parse((PAYLOADS / "error__unified_not_found.json").read_bytes())

    assert parsed.updates == []
    assert parsed.errors == ["DHL: DHL says No result found: No shipment with given tracking number found."]


def test_a_body_that_is_not_dhl_is_refused() -> None:
    with pytest.raises(ValueError, match="not a DHL"):
        dhl.parse(b'{"hello": "world"}')
    with pytest.raises(ValueError, match="not a DHL TrackingResponse"):
        dhl.parse(b"<TrackResponse/>")


def test_verify_accepts_nothing_because_dhl_never_pushes() -> None:
    assert dhl.SOURCE.verify({}, b"{}", dhl.Config(api_key=SecretStr("k"))) is False


# --- real payloads ------------------------------------------------------------------------------------

Final = tuple[Status, Substatus | None]
SHARED_EXPECTED: dict[str, Final | str] = {
    "karrio__dhl_express__TrackingSingleNotFound.xml": "DHL: DHL says No Shipments Found (103: No Shipments Found for AWBNumber 123456789)",
    # A documentation sample whose fields contradict each other; the coarse statusCode decides.
    "karrio__dhl_universal__TrackingResponseJSON.json": (Status.info_received, None),
    "karrio__mydhl__TrackingResponse.json": (Status.delivered, None),
    # Held in New Zealand customs for two weeks: the last checkpoints are clearance delays.
    "shipit__dhl_delayed.xml": (Status.exception, Substatus.customs_hold),
    "shipit__dhl_delivered.xml": (Status.delivered, Substatus.signed),
    "shipit__dhl_eta.xml": (Status.in_transit, None),
}  # fmt: skip


@needs_shared
def test_the_table_names_every_shared_payload() -> None:
    files = {p.name for p in SHARED.iterdir() if p.name != "SOURCES.md"}
    assert files == set(SHARED_EXPECTED)


@needs_shared
@pytest.mark.parametrize(("name", "expected"), SHARED_EXPECTED.items())
def test_each_shared_payload_parses_to_its_status(name: str, expected: Final | str) -> None:
    parsed = dhl.parse((SHARED / name).read_bytes())

    if isinstance(expected, str):
        assert parsed.updates == []
        assert parsed.errors == [expected]
        return
    assert parsed.errors == []
    assert parsed.unknown_codes == []
    (update,) = parsed.updates
    assert final(update) == expected
    assert all(c.occurred_at.utcoffset() is not None for c in update.checkpoints)
    assert dhl.parse((SHARED / name).read_bytes()) == parsed  # deterministic


@needs_shared
def test_xml_pi_times_take_the_zone_of_each_service_area() -> None:
    parsed = dhl.parse((SHARED / "shipit__dhl_delivered.xml").read_bytes())

    update = parsed.updates[0]
    by_code = {(c.raw_code, c.city): c.occurred_at.isoformat() for c in update.checkpoints}
    assert by_code[("TR", "LEIPZIG - GERMANY")] == "2015-09-30T03:37:18+02:00"
    assert by_code[("OK", "WOODSIDE,NY-USA")] == "2015-10-01T13:44:37-04:00"
    assert update.signed_by == "ATL FD"
    attempt = next(c for c in update.checkpoints if c.raw_code == "NH")
    assert attempt.status is Status.attempt_failed


@needs_shared
def test_an_area_without_a_country_takes_the_shipper_or_consignee_country() -> None:
    parsed = dhl.parse((SHARED / "shipit__dhl_eta.xml").read_bytes())

    update = parsed.updates[0]
    pickup = next(c for c in update.checkpoints if c.raw_code == "PU")
    assert pickup.occurred_at.isoformat() == "2019-01-30T15:12:43+08:00"  # "HONG KONG-HKG", the origin area
    assert update.estimated_delivery_on == date(2019, 2, 4)


# --- polling against a local DHL ---------------------------------------------------------------------


class _FakeDhl(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]] = []
    bodies: dict[str, bytes] = {}

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers)))
        url = urlsplit(self.path)
        number = parse_qs(url.query).get("trackingNumber", [""])[0]
        if url.path != "/track/shipments" or self.headers.get("DHL-API-Key") != "dhl-key":
            status, body = 401, b'{"status": 401, "title": "Unauthorized", "detail": "Invalid API key"}'
        elif number in self.bodies:
            status, body = 200, self.bodies[number]
        else:
            status, body = 404, (PAYLOADS / "error__unified_not_found.json").read_bytes()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_dhl() -> Iterator[tuple[str, type[_FakeDhl]]]:
    handler = type("Handler", (_FakeDhl,), {"seen": [], "bodies": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@needs_shared
def test_poll_asks_the_unified_api_for_each_number(fake_dhl: tuple[str, type[_FakeDhl]]) -> None:
    base_url, handler = fake_dhl
    handler.bodies["7777777770"] = (SHARED / "karrio__dhl_universal__TrackingResponseJSON.json").read_bytes()
    config = dhl.Config(api_key=SecretStr("dhl-key"), base_url=base_url)

    with httpx.Client(timeout=5) as client:
        parsed = dhl.SOURCE.poll(client, config, ["7777777770", "1234567890"])

    assert [parse_qs(urlsplit(path).query) for path, _ in handler.seen] == [
        {"trackingNumber": ["7777777770"]}, {"trackingNumber": ["1234567890"]},
    ]  # fmt: skip
    assert all(urlsplit(path).path == "/track/shipments" for path, _ in handler.seen)
    assert all(headers["DHL-API-Key"] == "dhl-key" for _, headers in handler.seen)
    assert [(u.tracking_number, final(u)) for u in parsed.updates] == [
        ("7777777770", (Status.info_received, None))
    ]
    assert parsed.errors == [
        "1234567890: DHL says No result found: No shipment with given tracking number found."
    ]
