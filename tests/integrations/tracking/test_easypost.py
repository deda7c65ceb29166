"""EasyPost: status table, real payloads, signature, unknown codes."""

import hashlib
import hmac
import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from doorstep.integrations.tracking import easypost
from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK
from doorstep.integrations.tracking.protocol import Delivery, NoConfig, Unsupported
from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Scan, ShipmentState, Status, Substatus, derive_fingerprint, derive_state

ROOT = Path(__file__).resolve().parents[3]
REAL = ROOT.parent / "shared" / "data" / "carrier-tracking" / "easypost"
OWN = ROOT / "tests" / "payloads" / "tracking" / "easypost"
SIGNING = REAL / "easypost_examples__webhook_signature_fixture.json"
needs_shared = pytest.mark.skipif(not REAL.is_dir(), reason=f"shared payloads not found at {REAL}")

S, X = Status, Substatus


def final_state(update: ApplyTracking) -> ShipmentState:
    """What the shipment shows after these scans, ordered by the carrier's own time (the service's rule)."""
    return derive_state(
        Scan(c.occurred_at, c.status, c.substatus, derive_fingerprint(c.occurred_at, c.raw_code or "", c.message, c.city, c.postal_code, c.country))
        for c in update.checkpoints
    )  # fmt: skip


CASES = [
    ("unknown", S.pending, None),
    ("pre_transit", S.info_received, None),
    ("pre_transit/label_created", S.info_received, None),
    ("pre_transit/status_update", S.info_received, None),
    ("pre_transit/cancelled", S.exception, X.other),
    ("in_transit/arrived_at_facility", S.in_transit, None),
    ("in_transit/departed_origin_facility", S.in_transit, None),
    ("in_transit/delayed", S.in_transit, None),
    ("in_transit/missorted", S.in_transit, None),
    ("in_transit/unknown", S.in_transit, None),
    ("in_transit/weather_delay", S.exception, X.weather),
    ("in_transit/address_correction", S.exception, X.address_issue),
    ("in_transit/held", S.exception, X.other),
    ("in_transit/transit_exception", S.exception, X.other),
    ("in_transit/delivery_exception", S.attempt_failed, None),
    ("in_transit/arrived_at_pickup_location", S.available_for_pickup, None),
    ("out_for_delivery/out_for_delivery", S.out_for_delivery, None),
    ("available_for_pickup/arrived_at_pickup_location", S.available_for_pickup, None),
    ("delivered", S.delivered, None),
    ("delivered/arrived_at_destination", S.delivered, None),
    ("delivered/damaged", S.delivered, None),  # a delivered parcel stays delivered
    ("return_to_sender", S.exception, X.returning_to_sender),
    ("return_to_sender/return", S.exception, X.returning_to_sender),
    ("return_to_sender/refused", S.exception, X.refused),
    ("failure", S.exception, X.other),
    ("failure/lost", S.exception, X.lost),
    ("failure/damaged", S.exception, X.damaged),
    ("failure/expired", S.expired, None),
    ("cancelled/cancelled", S.exception, X.other),
    ("error", S.exception, X.other),
]


@pytest.mark.parametrize(("raw_code", "status", "substatus"), CASES)
def test_raw_code_maps_to(raw_code: str, status: Status, substatus: Substatus | None) -> None:
    assert easypost.map_code(raw_code) == ((status, substatus), True)


def test_every_documented_status_detail_is_classified_once() -> None:
    documented = {
        "address_correction", "arrived_at_destination", "arrived_at_facility", "arrived_at_pickup_location",
        "awaiting_information", "cancelled", "damaged", "delayed", "delivery_exception", "departed_facility",
        "departed_origin_facility", "expired", "failure", "held", "in_transit", "label_created", "lost",
        "missorted", "out_for_delivery", "received_at_destination_facility", "received_at_origin_facility",
        "refused", "return", "status_update", "transferred_to_destination_carrier", "transit_exception",
        "unknown", "weather_delay",
    }  # fmt: skip
    assert not easypost._REFINING & easypost._DESCRIPTIVE
    assert documented == easypost._REFINING | easypost._DESCRIPTIVE
    assert set(easypost.STATUS_MAP) >= easypost._REFINING
    assert set(easypost.STATUS_MAP) >= easypost._STATUSES


@pytest.mark.parametrize(
    ("raw_code", "expected"),
    [
        ("in_transit/hovering", (S.in_transit, None)),  # the status says in transit
        ("delivered/hovering", (S.delivered, None)),
        ("teleported", UNKNOWN_FALLBACK),
        ("teleported/arrived_at_facility", UNKNOWN_FALLBACK),
        ("teleported/lost", (S.exception, X.lost)),
        ("", UNKNOWN_FALLBACK),
    ],
)
def test_an_undocumented_code_falls_back_and_is_not_known(
    raw_code: str, expected: tuple[Status, Substatus | None]
) -> None:
    assert easypost.map_code(raw_code) == (expected, False)


def test_unknown_codes_are_kept_raw_and_reported() -> None:
    parsed = easypost.parse((OWN / "tracker_updated__unknown_status_detail.json").read_bytes())
    assert parsed.unknown_codes == ["in_transit/hovering", "teleported"]
    [update] = parsed.updates
    by_code = {c.raw_code: (c.status, c.substatus) for c in update.checkpoints}
    assert by_code == {
        "in_transit/weather_delay": (S.exception, X.weather),
        "in_transit/hovering": (S.in_transit, None),
        "teleported": (S.exception, X.other),
        "delivered/arrived_at_destination": (S.delivered, None),
    }
    assert update.estimated_delivery_on == date(2026, 2, 11)  # the carrier's local date wins
    assert update.signed_by == "J DOE"
    assert update.service == "GroundAdvantage"
    assert final_state(update).status is S.delivered


def _load(name: str) -> bytes:
    return (REAL / name).read_bytes()


@needs_shared
@pytest.mark.parametrize(
    ("name", "number", "carrier", "estimated", "final"),
    [
        ("easypost_examples__docs_tracker_retrieve.json", "EZ1000000001", "USPS", date(2025, 5, 9),
         (S.info_received, None)),
        ("easypost_python__tracker_create_EZ1000000001.json", "EZ1000000001", "USPS", date(2025, 3, 6),
         (S.info_received, None)),
    ],
)  # fmt: skip
def test_real_tracker(
    name: str, number: str, carrier: str, estimated: date, final: tuple[Status, Substatus | None]
) -> None:
    parsed = easypost.parse(_load(name))
    assert parsed.errors == parsed.unknown_codes == parsed.ignored == []
    [update] = parsed.updates
    assert (update.tracking_number, update.carrier, update.estimated_delivery_on) == (
        number,
        carrier,
        estimated,
    )
    assert update.service == "First-Class Package Service"
    assert [c.raw_code for c in update.checkpoints] == ["pre_transit/status_update"] * 2
    state = final_state(update)
    assert (state.status, state.substatus) == final


@needs_shared
def test_real_delivered_event_keeps_each_scan_and_its_own_time() -> None:
    parsed = easypost.parse(_load("easypost_examples__event_tracker_updated_delivered_guide.json"))
    [update] = parsed.updates
    assert (update.tracking_number, update.carrier, update.signed_by) == (
        "EZ4000000004",
        "UPS",
        "John Tester",
    )
    assert [c.status for c in update.checkpoints] == [
        S.info_received, S.in_transit, S.in_transit, S.in_transit, S.out_for_delivery, S.delivered,
    ]  # fmt: skip
    delivered = update.checkpoints[-1]
    assert (delivered.city, delivered.region, delivered.country) == ("SAN FRANCISCO", "CA", "US")
    # This guide example dates its DELIVERED scan (11-19) before the other scans (11-21..24), so ordering by
    # the carrier's time, as Doorstep does, ends on the out-for-delivery scan.
    assert final_state(update).status is S.out_for_delivery
    assert final_state(update).reached >= {"shipment.delivered", "shipment.out_for_delivery"}


@needs_shared
def test_real_in_transit_event_with_a_one_character_tracking_code_still_parses() -> None:
    body = _load("easypost_examples__event_tracker_updated_in_transit.json")
    [update] = easypost.parse(body).updates
    assert update.tracking_number == "1"
    assert update.checkpoints[-1].raw_code == "in_transit/arrived_at_facility"
    # The same event for a real-length code: FedEx scans, last one an arrival at a facility.
    event = json.loads(body)
    event["result"]["tracking_code"] = "794623432121"
    [update] = easypost.parse(json.dumps(event).encode()).updates
    assert (update.carrier, update.service) == ("FedEx", "FEDEX_GROUND")
    assert update.estimated_delivery_on == date(2024, 8, 5)
    assert update.checkpoints[0].raw_code == "pre_transit/label_created"
    assert update.checkpoints[-1].raw_code == "in_transit/arrived_at_facility"
    assert (final_state(update).status, final_state(update).substatus) == (S.in_transit, None)


def _own_payloads() -> list[Path]:
    return sorted(OWN.glob("*.json"))


def _real_payloads() -> list[Path]:
    return sorted(p for p in REAL.glob("*.json") if p != SIGNING) if REAL.is_dir() else []


@pytest.mark.parametrize("path", [*_real_payloads(), *_own_payloads()], ids=lambda p: p.name)
def test_parse_is_deterministic_and_times_are_aware(path: Path) -> None:
    first, second = easypost.parse(path.read_bytes()), easypost.parse(path.read_bytes())
    assert first == second
    for update in first.updates:
        for checkpoint in update.checkpoints:
            assert checkpoint.occurred_at.utcoffset() is not None


def _signing() -> tuple[str, str]:
    vector = json.loads(SIGNING.read_text())["webhooks"]
    return vector["secret"], vector["hmac_signature"]


@needs_shared
def test_signature_of_easyposts_shared_test_vector_verifies() -> None:
    secret, signature = _signing()
    # The shared copy of event-body.json got a final newline; EasyPost signed the body without it.
    body = _load("easypost_examples__event_tracker_updated_in_transit.json").removesuffix(b"\n")
    config = easypost.Config(webhook_secret=secret)
    assert easypost.verify({"x-hmac-signature": signature}, body, config)
    assert not easypost.verify({"x-hmac-signature": signature}, body + b"\n", config)


@needs_shared
def test_secret_is_normalised_to_nfkd_before_keying() -> None:
    _, signature = _signing()
    body = _load("easypost_examples__event_tracker_updated_in_transit.json").removesuffix(b"\n")
    for spelling in ("s\u00e9cret", "se\u0301cret"):  # composed and decomposed é
        assert easypost.verify(
            {"x-hmac-signature": signature}, body, easypost.Config(webhook_secret=spelling)
        )


def test_signature_is_refused_when_wrong_missing_or_for_another_body() -> None:
    config = easypost.Config(webhook_secret="A1B2C3")
    body = b'{"object": "Event"}'
    good = "hmac-sha256-hex=" + hmac.new(b"A1B2C3", body, hashlib.sha256).hexdigest()
    assert easypost.verify({"x-hmac-signature": good}, body, config)
    assert not easypost.verify({"x-hmac-signature": good}, body + b" ", config)
    assert not easypost.verify({"x-hmac-signature": good.replace("hmac-sha256-hex=", "")}, body, config)
    assert not easypost.verify({"x-hmac-signature": "hmac-sha256-hex=" + "0" * 64}, body, config)
    assert not easypost.verify({"x-hmac-signature": "h\u00e9"}, body, config)
    assert not easypost.verify({}, body, config)


def test_config_refuses_an_empty_secret_and_verify_refuses_another_sources_config() -> None:
    with pytest.raises(ValidationError):
        easypost.Config(webhook_secret="")
    with pytest.raises(TypeError):
        easypost.verify({}, b"", NoConfig())


def test_other_account_events_are_ignored_and_unknown_ones_are_loud() -> None:
    ignored = easypost.parse(b'{"object": "Event", "description": "batch.updated", "result": {}}')
    assert (ignored.updates, ignored.ignored) == ([], ["event batch.updated: not about tracking"])
    with pytest.raises(Unsupported):
        easypost.parse(b'{"object": "Event", "description": "tracker.teleported", "result": {}}')
    with pytest.raises(ValueError, match="not an EasyPost"):
        easypost.parse(b"<html>")
    with pytest.raises(ValueError, match="not an EasyPost"):
        easypost.parse(b'{"object": "Parcel"}')


def test_a_tracker_list_page_and_a_bad_scan_are_errors_as_values() -> None:
    page = {
        "trackers": [
            {"object": "Tracker", "tracking_code": "EZ2000000002", "carrier": "USPS",
             "tracking_details": [{"status": "in_transit", "datetime": "not a time"},
                                  {"status": "in_transit", "datetime": "2026-01-02T03:04:05Z"}]},
            {"object": "Tracker", "tracking_code": None},
        ]
    }  # fmt: skip
    parsed = easypost.parse(json.dumps(page).encode())
    [update] = parsed.updates
    assert [c.raw_code for c in update.checkpoints] == ["in_transit"]
    assert len(parsed.errors) == 2
    assert parsed.errors[0].startswith("EZ2000000002: scan 'in_transit' at 'not a time'")
    assert parsed.errors[1].startswith("tracker (no tracking code): tracking_number")


def test_source_object() -> None:
    source = easypost.SOURCE
    assert (source.name, source.delivery, source.config_model) == ("easypost", Delivery.push, easypost.Config)
    assert source.status_map is easypost.STATUS_MAP
