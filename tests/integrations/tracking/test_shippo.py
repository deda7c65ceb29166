"""Shippo: status and substatus table, real Track objects, webhooks, token check, unknown substatuses."""

import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from doorstep.integrations.tracking import shippo
from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK
from doorstep.integrations.tracking.protocol import Delivery, NoConfig, Unsupported
from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Scan, ShipmentState, Status, Substatus, derive_fingerprint, derive_state

ROOT = Path(__file__).resolve().parents[3]
REAL = ROOT.parent / "shared" / "data" / "carrier-tracking" / "shippo"
OWN = ROOT / "tests" / "payloads" / "tracking" / "shippo"
needs_shared = pytest.mark.skipif(not REAL.is_dir(), reason=f"shared payloads not found at {REAL}")

S, X = Status, Substatus
TOKEN = "tok_3f9d2c71a8b64e0e9a51"


def final_state(update: ApplyTracking) -> ShipmentState:
    """What the shipment shows after these scans, ordered by the carrier's own time (the service's rule)."""
    return derive_state(
        Scan(c.occurred_at, c.status, c.substatus, derive_fingerprint(c.occurred_at, c.raw_code or "", c.message, c.city, c.postal_code, c.country))
        for c in update.checkpoints
    )  # fmt: skip


CASES = [
    ("PRE_TRANSIT", S.info_received, None),
    ("TRANSIT", S.in_transit, None),
    ("DELIVERED", S.delivered, None),
    ("RETURNED", S.exception, X.returning_to_sender),
    ("FAILURE", S.exception, X.other),
    ("UNKNOWN", S.pending, None),
    ("PRE_TRANSIT/information_received", S.info_received, None),
    ("TRANSIT/address_issue", S.exception, X.address_issue),
    ("TRANSIT/contact_carrier", S.exception, X.other),
    ("TRANSIT/delayed", S.in_transit, None),
    ("TRANSIT/delivery_attempted", S.attempt_failed, None),
    ("TRANSIT/delivery_rescheduled", S.in_transit, None),
    ("TRANSIT/delivery_scheduled", S.in_transit, None),
    ("TRANSIT/location_inaccessible", S.attempt_failed, None),
    ("TRANSIT/notice_left", S.attempt_failed, None),
    ("TRANSIT/out_for_delivery", S.out_for_delivery, None),
    ("TRANSIT/package_accepted", S.in_transit, None),
    ("TRANSIT/package_arrived", S.in_transit, None),
    ("TRANSIT/package_damaged", S.exception, X.damaged),
    ("TRANSIT/package_departed", S.in_transit, None),
    ("TRANSIT/package_forwarded", S.in_transit, None),
    ("TRANSIT/package_held", S.exception, X.other),
    ("TRANSIT/package_processed", S.in_transit, None),
    ("TRANSIT/package_processing", S.in_transit, None),
    ("TRANSIT/pickup_available", S.available_for_pickup, None),
    ("TRANSIT/reschedule_delivery", S.attempt_failed, None),
    ("DELIVERED/delivered", S.delivered, None),
    ("RETURNED/return_to_sender", S.exception, X.returning_to_sender),
    ("RETURNED/package_unclaimed", S.exception, X.returning_to_sender),
    ("FAILURE/package_undeliverable", S.exception, X.other),
    ("FAILURE/package_disposed", S.exception, X.lost),
    ("FAILURE/package_lost", S.exception, X.lost),
    ("UNKNOWN/other", S.exception, X.other),
]


@pytest.mark.parametrize(("raw_code", "status", "substatus"), CASES)
def test_raw_code_maps_to(raw_code: str, status: Status, substatus: Substatus | None) -> None:
    assert shippo.map_code(raw_code) == ((status, substatus), True)


def test_the_table_is_exactly_the_documented_statuses_and_pairs() -> None:
    assert {code for code, _, _ in CASES} == set(shippo.STATUS_MAP)


@pytest.mark.parametrize(
    ("raw_code", "expected"),
    [
        ("TRANSIT/package_teleported", (S.in_transit, None)),  # Shippo's own status says in transit
        ("FAILURE/package_teleported", (S.exception, X.other)),
        ("DELIVERED/left_with_the_cat", (S.delivered, None)),
        ("TELEPORTED", UNKNOWN_FALLBACK),
        ("TELEPORTED/package_lost", UNKNOWN_FALLBACK),
        ("", UNKNOWN_FALLBACK),
    ],
)
def test_an_undocumented_code_falls_back_to_its_status(
    raw_code: str, expected: tuple[Status, Substatus | None]
) -> None:
    assert shippo.map_code(raw_code) == (expected, False)


def test_webhook_with_substatuses_and_an_unknown_one() -> None:
    parsed = shippo.parse((OWN / "track_updated__substatus.json").read_bytes())
    assert parsed.unknown_codes == ["TRANSIT/package_teleported"]
    [update] = parsed.updates
    # tracking_status repeats the newest history entry: one checkpoint, not two.
    assert [(c.raw_code, c.status) for c in update.checkpoints] == [
        ("PRE_TRANSIT/information_received", S.info_received),
        ("TRANSIT/delivery_attempted", S.attempt_failed),
        ("TRANSIT/package_teleported", S.in_transit),
    ]
    assert (update.carrier, update.service, update.estimated_delivery_on) == (
        "ups",
        "Ground",
        date(2026, 5, 7),
    )
    assert final_state(update).reached >= {"shipment.attempt_failed"}
    assert final_state(update).status is S.in_transit


def _load(name: str) -> bytes:
    return (REAL / name).read_bytes()


@needs_shared
@pytest.mark.parametrize(
    "name", ["shippo_python__track_usps_delivered.json", "shippo_python__track_create_unknown.json"]
)
def test_real_usps_track_is_delivered_to_the_mailbox(name: str) -> None:
    parsed = shippo.parse(_load(name))
    assert parsed.errors == parsed.unknown_codes == parsed.ignored == []
    [update] = parsed.updates
    assert (update.tracking_number, update.carrier, update.service) == (
        "9205590164917337534322", "usps", "Priority Mail",
    )  # fmt: skip
    assert update.estimated_delivery_on == date(2016, 12, 8)
    assert len(update.checkpoints) == 11  # the current status is the last history entry, kept once
    assert [c.status for c in update.checkpoints[:3]] == [S.pending, S.pending, S.in_transit]
    delivered = update.checkpoints[-1]
    assert (delivered.raw_code, delivered.city, delivered.region, delivered.postal_code, delivered.country) == (
        "DELIVERED", "Berkeley", "CA", "94705", "US",
    )  # fmt: skip
    assert delivered.occurred_at.isoformat() == "2016-12-08T15:19:00+00:00"
    assert (final_state(update).status, final_state(update).substatus) == (S.delivered, None)


@needs_shared
def test_real_test_mode_track_is_in_transit() -> None:
    [update] = shippo.parse(_load("shippo_ruby__track_SHIPPO_TRANSIT.json")).updates
    assert (update.tracking_number, update.carrier) == ("SHIPPO_TRANSIT", "shippo")
    assert update.estimated_delivery_on == date(2019, 9, 16)
    assert [c.raw_code for c in update.checkpoints] == ["UNKNOWN", "TRANSIT", "TRANSIT"]
    assert final_state(update).status is S.in_transit


def _payloads() -> list[Path]:
    real = sorted(REAL.glob("*.json")) if REAL.is_dir() else []
    return [*real, *sorted(OWN.glob("*.json"))]


@pytest.mark.parametrize("path", _payloads(), ids=lambda p: p.name)
def test_parse_is_deterministic_and_times_are_aware(path: Path) -> None:
    first, second = shippo.parse(path.read_bytes()), shippo.parse(path.read_bytes())
    assert first == second
    assert first.updates
    for update in first.updates:
        for checkpoint in update.checkpoints:
            assert checkpoint.occurred_at.utcoffset() is not None


def test_token_in_either_header_verifies_and_anything_else_is_refused() -> None:
    config = shippo.Config(webhook_token=TOKEN)
    body = b"{}"
    assert shippo.verify({"x-doorstep-token": TOKEN}, body, config)
    assert shippo.verify({"authorization": f"Bearer {TOKEN}"}, body, config)
    assert shippo.verify({"authorization": f"bearer {TOKEN}"}, body, config)
    assert not shippo.verify({"x-doorstep-token": TOKEN[:-1]}, body, config)
    assert not shippo.verify({"x-doorstep-token": TOKEN + "x"}, body, config)
    assert not shippo.verify({"authorization": TOKEN}, body, config)  # not a bearer credential
    assert not shippo.verify({"authorization": f"ShippoToken {TOKEN}"}, body, config)
    assert not shippo.verify({"x-doorstep-token": "", "authorization": "Bearer "}, body, config)
    assert not shippo.verify({}, body, config)
    with pytest.raises(TypeError):
        shippo.verify({}, body, NoConfig())


def test_config_refuses_a_short_token() -> None:
    with pytest.raises(ValidationError):
        shippo.Config(webhook_token="123abc")


def test_events_ignored_unsupported_and_not_shippo() -> None:
    ignored = shippo.parse(b'{"event": "transaction_created", "data": {}}')
    assert ignored.ignored == ["event transaction_created: not about tracking"]
    with pytest.raises(Unsupported):
        shippo.parse(b'{"event": "track_teleported", "data": {}}')
    with pytest.raises(ValueError, match="not a Shippo"):
        shippo.parse(b'{"carrier": "usps"}')
    with pytest.raises(ValueError, match="not a Shippo"):
        shippo.parse(b"\xff")


def test_a_fresh_track_with_no_status_yet_has_no_scan() -> None:
    body = json.dumps({"carrier": "usps", "tracking_number": "9205590164917337534322", "tracking_status": None,
                       "tracking_history": [], "eta": None}).encode()  # fmt: skip
    [update] = shippo.parse(body).updates
    assert (update.checkpoints, final_state(update).status) == ((), S.pending)


def test_source_object() -> None:
    source = shippo.SOURCE
    assert (source.name, source.delivery, source.config_model) == ("shippo", Delivery.push, shippo.Config)
    assert source.status_map is shippo.STATUS_MAP
