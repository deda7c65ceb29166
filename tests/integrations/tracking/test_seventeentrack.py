"""17TRACK: main status and sub-status table, pushes, gettrackinfo, signature, unknown sub-statuses."""

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest

from doorstep.integrations.tracking import seventeentrack
from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK
from doorstep.integrations.tracking.protocol import Delivery, NoConfig, Unsupported
from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Scan, ShipmentState, Status, Substatus, derive_fingerprint, derive_state

ROOT = Path(__file__).resolve().parents[3]
REAL = ROOT.parent / "shared" / "data" / "carrier-tracking" / "17track"
OWN = ROOT / "tests" / "payloads" / "tracking" / "seventeentrack"
needs_shared = pytest.mark.skipif(not REAL.is_dir(), reason=f"shared payloads not found at {REAL}")

S, X = Status, Substatus
KEY = "A1B2C3D4E5F60718293A4B5C6D7E8F90"


def final_state(update: ApplyTracking) -> ShipmentState:
    """What the shipment shows after these scans, ordered by the carrier's own time (the service's rule)."""
    return derive_state(
        Scan(c.occurred_at, c.status, c.substatus, derive_fingerprint(c.occurred_at, c.raw_code or "", c.message, c.city, c.postal_code, c.country))
        for c in update.checkpoints
    )  # fmt: skip


CASES = [
    ("NotFound", S.pending, None),
    ("NotFound_Other", S.pending, None),
    ("NotFound_InvalidCode", S.pending, None),
    ("InfoReceived", S.info_received, None),
    ("InTransit", S.in_transit, None),
    ("InTransit_PickedUp", S.in_transit, None),
    ("InTransit_Other", S.in_transit, None),
    ("InTransit_Departure", S.in_transit, None),
    ("InTransit_Arrival", S.in_transit, None),
    ("InTransit_CustomsProcessing", S.in_transit, None),
    ("InTransit_CustomsReleased", S.in_transit, None),
    ("InTransit_CustomsRequiringInformation", S.exception, X.customs_hold),
    ("Expired", S.expired, None),
    ("Expired_Other", S.expired, None),
    ("AvailableForPickup", S.available_for_pickup, None),
    ("AvailableForPickup_Other", S.available_for_pickup, None),
    ("OutForDelivery", S.out_for_delivery, None),
    ("OutForDelivery_Other", S.out_for_delivery, None),
    ("DeliveryFailure", S.attempt_failed, None),
    ("DeliveryFailure_Other", S.attempt_failed, None),
    ("DeliveryFailure_NoBody", S.attempt_failed, None),
    ("DeliveryFailure_Security", S.attempt_failed, None),
    ("DeliveryFailure_Rejected", S.exception, X.refused),
    ("DeliveryFailure_InvalidAddress", S.exception, X.address_issue),
    ("Delivered", S.delivered, None),
    ("Delivered_Other", S.delivered, None),
    ("Exception", S.exception, X.other),
    ("Exception_Other", S.exception, X.other),
    ("Exception_Returning", S.exception, X.returning_to_sender),
    ("Exception_Returned", S.returned, None),
    ("Exception_NoBody", S.exception, X.other),
    ("Exception_Security", S.exception, X.customs_hold),
    ("Exception_Damage", S.exception, X.damaged),
    ("Exception_Rejected", S.exception, X.refused),
    ("Exception_Delayed", S.exception, X.other),
    ("Exception_Lost", S.exception, X.lost),
    ("Exception_Destroyed", S.exception, X.lost),
    ("Exception_Cancel", S.exception, X.other),
]


@pytest.mark.parametrize(("raw_code", "status", "substatus"), CASES)
def test_raw_code_maps_to(raw_code: str, status: Status, substatus: Substatus | None) -> None:
    assert seventeentrack.map_code(raw_code) == ((status, substatus), True)


def test_the_table_is_exactly_the_documented_statuses_and_sub_statuses() -> None:
    # 9 main statuses and 30 sub-statuses; "InfoReceived" is both.
    assert {code for code, _, _ in CASES} == set(seventeentrack.STATUS_MAP)
    assert len(seventeentrack.STATUS_MAP) == 9 + 30 - 1


@pytest.mark.parametrize(
    ("raw_code", "expected"),
    [
        ("InTransit_Rerouted", (S.in_transit, None)),  # 17TRACK's own main status says in transit
        ("Exception_Confiscated", (S.exception, X.other)),
        ("Delivered_Locker", (S.delivered, None)),
        ("Teleported_Other", UNKNOWN_FALLBACK),
        ("", UNKNOWN_FALLBACK),
    ],
)
def test_an_undocumented_sub_status_falls_back_to_its_main_status(
    raw_code: str, expected: tuple[Status, Substatus | None]
) -> None:
    assert seventeentrack.map_code(raw_code) == (expected, False)


def _own(name: str) -> bytes:
    return (OWN / name).read_bytes()


def test_delivered_push_across_two_carriers() -> None:
    parsed = seventeentrack.parse(_own("tracking_updated__delivered.json"))
    assert parsed.errors == parsed.unknown_codes == parsed.ignored == []
    [update] = parsed.updates
    assert (update.tracking_number, update.carrier, update.service) == (
        "RR123456785CN",
        "China Post",
        "Registered Mail",
    )
    assert update.estimated_delivery_on == date(2026, 3, 13)  # the carrier's window ends on the 13th
    by_code = {c.raw_code: c for c in update.checkpoints}
    assert set(by_code) == {
        "Delivered_Other", "OutForDelivery_Other", "InTransit_CustomsReleased", "InTransit_Departure",
        "InTransit_PickedUp",
    }  # fmt: skip
    # Only the raw local time was given for the delivery: Utrecht's zone (CET in March) makes it aware.
    delivered = by_code["Delivered_Other"]
    assert delivered.occurred_at.isoformat() == "2026-03-11T14:05:00+01:00"
    assert (delivered.city, delivered.postal_code, delivered.country) == ("UTRECHT", "3511", "NL")
    assert by_code["InTransit_PickedUp"].occurred_at.utcoffset() == timedelta(hours=8)
    assert (final_state(update).status, final_state(update).substatus) == (S.delivered, None)


def test_refused_then_returning_push() -> None:
    [update] = seventeentrack.parse(_own("tracking_updated__exception_returning.json")).updates
    assert [(c.raw_code, c.status, c.substatus) for c in update.checkpoints] == [
        ("Exception_Returning", S.exception, X.returning_to_sender),
        ("DeliveryFailure_Rejected", S.exception, X.refused),
    ]
    assert update.carrier == "DHL Paket"
    assert update.estimated_delivery_on is None  # 17TRACK's own prediction is not the carrier's date
    assert (final_state(update).status, final_state(update).substatus) == (S.exception, X.returning_to_sender)


def test_unknown_sub_statuses_are_kept_raw_and_reported() -> None:
    parsed = seventeentrack.parse(_own("tracking_updated__unknown_sub_status.json"))
    assert parsed.unknown_codes == ["InTransit_Rerouted", "Teleported_Other"]
    [update] = parsed.updates
    assert [(c.raw_code, c.status) for c in update.checkpoints] == [
        ("InTransit_Rerouted", S.in_transit),
        ("Teleported_Other", S.exception),
    ]


def test_gettrackinfo_response_gives_updates_and_rejections_as_errors() -> None:
    parsed = seventeentrack.parse(_own("gettrackinfo__accepted_and_rejected.json"))
    [update] = parsed.updates
    assert (update.tracking_number, update.carrier, update.service) == (
        "9400111899223197428490", "USPS", "Ground Advantage",
    )  # fmt: skip
    assert final_state(update).status is S.available_for_pickup
    assert parsed.errors == [
        "INVALID123: 17TRACK error -18019902: The tracking number 'INVALID123' is not registered."
    ]


def test_an_invalid_number_is_an_error_and_has_no_scan() -> None:
    body = (
        b'{"event": "TRACKING_UPDATED", "data": {"number": "XX000", "carrier": 0, "track_info": '
        b'{"latest_status": {"status": "NotFound", "sub_status": "NotFound_InvalidCode"}, "tracking": null}}}'
    )
    parsed = seventeentrack.parse(body)
    assert parsed.errors == ["XX000: 17TRACK says the tracking number is invalid (NotFound_InvalidCode)"]
    [update] = parsed.updates
    assert (update.carrier, update.checkpoints) == (None, ())  # carrier 0: 17TRACK did not detect one


@needs_shared
def test_real_tracking_stopped_push_is_ignored_with_its_reason() -> None:
    parsed = seventeentrack.parse((REAL / "aio17track__webhook_tracking_stopped.json").read_bytes())
    assert parsed.updates == parsed.errors == []
    assert parsed.ignored == ["event TRACKING_STOPPED for AA123456789BR: 17TRACK stopped tracking it"]


def _payloads() -> list[Path]:
    real = sorted(REAL.glob("*.json")) if REAL.is_dir() else []
    return [*real, *sorted(OWN.glob("*.json"))]


@pytest.mark.parametrize("path", _payloads(), ids=lambda p: p.name)
def test_parse_is_deterministic_and_times_are_aware(path: Path) -> None:
    first, second = seventeentrack.parse(path.read_bytes()), seventeentrack.parse(path.read_bytes())
    assert first == second
    for update in first.updates:
        for checkpoint in update.checkpoints:
            assert checkpoint.occurred_at.utcoffset() is not None


def _sign(body: bytes, key: str) -> str:
    return hashlib.sha256(body + b"/" + key.encode()).hexdigest()


def test_signature_verifies_and_is_refused_when_wrong_or_missing() -> None:
    body = _own("tracking_updated__delivered.json")
    config = seventeentrack.Config(security_key=KEY)
    assert seventeentrack.verify({"sign": _sign(body, KEY)}, body, config)
    assert seventeentrack.verify({"sign": _sign(body, KEY).upper()}, body, config)  # hex is case-free
    assert not seventeentrack.verify({"sign": _sign(body, "another-key")}, body, config)
    assert not seventeentrack.verify({"sign": _sign(body + b" ", KEY)}, body, config)
    assert not seventeentrack.verify({"sign": hashlib.sha256(body + KEY.encode()).hexdigest()}, body, config)
    assert not seventeentrack.verify({"sign": ""}, body, config)
    assert not seventeentrack.verify({}, body, config)
    with pytest.raises(TypeError):
        seventeentrack.verify({}, body, NoConfig())


def test_unknown_events_are_loud_and_garbage_is_refused() -> None:
    with pytest.raises(Unsupported):
        seventeentrack.parse(b'{"event": "TRACKING_TELEPORTED", "data": {"number": "X"}}')
    with pytest.raises(ValueError, match="not a 17TRACK"):
        seventeentrack.parse(b'{"event": "TRACKING_UPDATED"}')
    with pytest.raises(ValueError, match="not a 17TRACK"):
        seventeentrack.parse(b"null")


def test_source_object() -> None:
    source = seventeentrack.SOURCE
    assert (source.name, source.delivery, source.config_model) == (
        "seventeentrack", Delivery.push, seventeentrack.Config,
    )  # fmt: skip
    assert source.status_map is seventeentrack.STATUS_MAP
