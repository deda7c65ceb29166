"""AfterShip: tag and subtag table, real API responses, webhooks, signature, unknown subtags."""

import base64
import hashlib
import hmac
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from doorstep.integrations.tracking import aftership
from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK
from doorstep.integrations.tracking.protocol import Delivery, NoConfig, Unsupported
from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Scan, ShipmentState, Status, Substatus, derive_fingerprint, derive_state

ROOT = Path(__file__).resolve().parents[3]
REAL = ROOT.parent / "shared" / "data" / "carrier-tracking" / "aftership"
OWN = ROOT / "tests" / "payloads" / "tracking" / "aftership"
needs_shared = pytest.mark.skipif(not REAL.is_dir(), reason=f"shared payloads not found at {REAL}")

S, X = Status, Substatus


def final_state(update: ApplyTracking) -> ShipmentState:
    """What the shipment shows after these scans, ordered by the carrier's own time (the service's rule)."""
    return derive_state(
        Scan(c.occurred_at, c.status, c.substatus, derive_fingerprint(c.occurred_at, c.raw_code or "", c.message, c.city, c.postal_code, c.country))
        for c in update.checkpoints
    )  # fmt: skip


CASES = [
    ("Pending", S.pending, None),
    ("Pending_001", S.pending, None),
    ("InfoReceived", S.info_received, None),
    ("InfoReceived_001", S.info_received, None),
    ("InTransit", S.in_transit, None),
    *[(f"InTransit_00{n}", S.in_transit, None) for n in range(1, 10)],
    ("OutForDelivery", S.out_for_delivery, None),
    ("OutForDelivery_001", S.out_for_delivery, None),
    ("OutForDelivery_003", S.out_for_delivery, None),
    ("OutForDelivery_004", S.in_transit, None),  # an appointment is booked; not on the vehicle yet
    ("AttemptFail", S.attempt_failed, None),
    ("AttemptFail_001", S.attempt_failed, None),
    ("AttemptFail_002", S.attempt_failed, None),
    ("AttemptFail_003", S.attempt_failed, None),
    ("AvailableForPickup", S.available_for_pickup, None),
    ("AvailableForPickup_001", S.available_for_pickup, None),
    ("Delivered", S.delivered, None),
    ("Delivered_001", S.delivered, None),
    ("Delivered_002", S.delivered, None),
    ("Delivered_003", S.delivered, X.signed),
    ("Delivered_004", S.delivered, None),
    ("Delivered_005", S.delivered, X.to_neighbour),
    ("Exception", S.exception, X.other),
    ("Exception_001", S.exception, X.other),
    ("Exception_002", S.exception, X.address_issue),
    ("Exception_003", S.exception, X.refused),
    ("Exception_004", S.exception, X.customs_hold),
    ("Exception_005", S.exception, X.other),
    ("Exception_006", S.exception, X.customs_hold),
    ("Exception_007", S.exception, X.address_issue),
    ("Exception_008", S.exception, X.other),
    ("Exception_009", S.exception, X.other),
    ("Exception_010", S.exception, X.returning_to_sender),
    ("Exception_011", S.returned, None),
    ("Exception_012", S.exception, X.damaged),
    ("Exception_013", S.exception, X.lost),
    ("Exception_016", S.exception, X.other),
    ("Exception_017", S.exception, X.weather),
    ("Exception_018", S.exception, X.customs_hold),
    ("Expired", S.expired, None),
    ("Expired_001", S.expired, None),
]


@pytest.mark.parametrize(("raw_code", "status", "substatus"), CASES)
def test_raw_code_maps_to(raw_code: str, status: Status, substatus: Substatus | None) -> None:
    assert aftership.map_code(raw_code) == ((status, substatus), True)


def test_the_table_is_exactly_the_documented_tags_and_subtags() -> None:
    assert {code for code, _, _ in CASES} == set(aftership.STATUS_MAP)


@pytest.mark.parametrize(
    ("raw_code", "tag", "expected"),
    [
        ("InTransit_099", None, (S.in_transit, None)),  # AfterShip's own category says in transit
        ("Exception_099", None, (S.exception, X.other)),
        ("Delivered_099", "Delivered", (S.delivered, None)),
        ("Teleported_001", "InTransit", (S.in_transit, None)),  # the checkpoint's tag decides
        ("Teleported_001", None, UNKNOWN_FALLBACK),
        ("Teleported_001", "Teleported", UNKNOWN_FALLBACK),
        ("", None, UNKNOWN_FALLBACK),
    ],
)
def test_an_undocumented_code_falls_back_to_its_tag(
    raw_code: str, tag: str | None, expected: tuple[Status, Substatus | None]
) -> None:
    assert aftership.map_code(raw_code, tag) == (expected, False)


def test_webhook_with_unknown_subtags_keeps_them_raw_and_reports_them() -> None:
    parsed = aftership.parse((OWN / "tracking_update__unknown_subtag.json").read_bytes())
    assert parsed.unknown_codes == ["InTransit_099", "Teleported_001"]
    [update] = parsed.updates
    assert [(c.raw_code, c.status, c.substatus) for c in update.checkpoints] == [
        ("InTransit_007", S.in_transit, None),
        ("Exception_017", S.exception, X.weather),
        ("InTransit_099", S.in_transit, None),
        ("Teleported_001", S.exception, X.other),
    ]
    assert (update.tracking_number, update.carrier, update.service) == (
        "1Z999AA10123456784",
        "ups",
        "UPS Ground",
    )
    assert update.order_ref == "#1042"
    assert update.estimated_delivery_on == date(
        2026, 5, 7
    )  # the courier's estimate wins over expected_delivery
    # A scan time without an offset takes the zone of where it happened (Louisville, KY: Eastern).
    departed = update.checkpoints[0]
    assert departed.occurred_at.utcoffset() == timedelta(hours=-4)
    assert (departed.city, departed.region, departed.postal_code, departed.country) == (
        "LOUISVILLE", "KY", "40209", "US",
    )  # fmt: skip
    assert (final_state(update).status, final_state(update).substatus) == (S.exception, X.other)


def _load(name: str) -> bytes:
    return (REAL / name).read_bytes()


@needs_shared
@pytest.mark.parametrize(
    ("name", "number", "carrier"),
    [
        ("aftership_sdk_python__create_tracking_postnl_3s.json", "3SKAAG5995399", "postnl-3s"),
        ("aftership_sdk_python__get_tracking_4px_HH19260817.json", "HH19260817", "4px"),
        ("aftership_sdk_python__list_trackings_4px.json", "HH19260817", "4px"),
    ],
)
def test_real_pending_tracking_has_no_scan_yet(name: str, number: str, carrier: str) -> None:
    parsed = aftership.parse(_load(name))
    assert parsed.errors == parsed.unknown_codes == parsed.ignored == []
    [update] = parsed.updates
    assert (update.tracking_number, update.carrier, update.checkpoints) == (number, carrier, ())
    assert final_state(update).status is S.pending


@needs_shared
def test_real_last_checkpoint_is_in_transit_in_the_destination_country() -> None:
    [update] = aftership.parse(
        _load("aftership_sdk_python__last_checkpoint_postnl_3s_in_transit.json")
    ).updates
    [checkpoint] = update.checkpoints
    assert (checkpoint.raw_code, checkpoint.status, checkpoint.country) == (
        "InTransit_004",
        S.in_transit,
        "ES",
    )
    assert checkpoint.occurred_at.isoformat() == "2021-03-25T10:59:00+01:00"
    assert checkpoint.message == "Shipment received in country of destination"
    assert final_state(update).status is S.in_transit


@needs_shared
def test_real_tracking_list_delivered_fedex_and_two_expired_without_scans() -> None:
    parsed = aftership.parse(_load("pyaftership__get_trackings.json"))
    fedex, ups, usps = parsed.updates
    assert [c.raw_code for c in fedex.checkpoints] == [
        "InfoReceived_001", "InTransit_002", "InTransit_003", "InTransit_007", "Exception_001", "InTransit_003",
        "InTransit_007", "InTransit_007", "InTransit_003", "OutForDelivery_001", "Delivered_001",
    ]  # fmt: skip
    assert (final_state(fedex).status, final_state(fedex).substatus) == (S.delivered, None)
    assert final_state(fedex).reached >= {"shipment.exception", "shipment.out_for_delivery"}
    assert fedex.service == "FedEx Home Delivery"
    assert fedex.signed_by is None  # "Signature not required" names nobody
    assert fedex.checkpoints[-1].occurred_at.isoformat() == "2018-08-01T13:19:47-04:00"
    assert (ups.tracking_number, ups.checkpoints, usps.checkpoints) == ("2222222222222", (), ())
    assert parsed.ignored == [
        "ups 2222222222222: Expired/Expired_001 without checkpoints: no scan to apply",
        "usps 1231231231231: Expired/Expired_001 without checkpoints: no scan to apply",
    ]


def _payloads() -> list[Path]:
    real = sorted(REAL.glob("*.json")) if REAL.is_dir() else []
    return [*real, *sorted(OWN.glob("*.json"))]


@pytest.mark.parametrize("path", _payloads(), ids=lambda p: p.name)
def test_parse_is_deterministic_and_times_are_aware(path: Path) -> None:
    first, second = aftership.parse(path.read_bytes()), aftership.parse(path.read_bytes())
    assert first == second
    assert first.updates
    for update in first.updates:
        for checkpoint in update.checkpoints:
            assert checkpoint.occurred_at.utcoffset() is not None


def _sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_signature_verifies_and_is_refused_when_wrong_or_missing() -> None:
    body = (OWN / "tracking_update__unknown_subtag.json").read_bytes()
    config = aftership.Config(webhook_secret="whsec-aftership-test")
    good = _sign("whsec-aftership-test", body)
    assert aftership.verify({"aftership-hmac-sha256": good}, body, config)
    assert not aftership.verify({"aftership-hmac-sha256": good}, body.replace(b"ups", b"usps", 1), config)
    assert not aftership.verify({"aftership-hmac-sha256": _sign("another-secret", body)}, body, config)
    assert not aftership.verify(
        {"aftership-hmac-sha256": good.encode().hex()}, body, config
    )  # hex, not base64
    assert not aftership.verify({"aftership-hmac-sha256": ""}, body, config)
    assert not aftership.verify({}, body, config)
    with pytest.raises(TypeError):
        aftership.verify({}, body, NoConfig())


def test_events_ignored_unsupported_and_api_errors() -> None:
    assert aftership.parse(b'{"event": "tracking_pending_time", "msg": {}}').ignored == [
        "event tracking_pending_time: no tracking change"
    ]
    with pytest.raises(Unsupported):
        aftership.parse(b'{"event": "tracking_teleported", "msg": {}}')
    with pytest.raises(ValueError, match="not an AfterShip"):
        aftership.parse(b"[]")
    missing = aftership.parse(b'{"meta": {"code": 4004, "message": "Tracking does not exist."}, "data": {}}')
    assert (missing.updates, missing.errors) == ([], ["AfterShip error 4004: Tracking does not exist."])


def test_edd_revise_carries_the_tracking_and_its_new_estimate() -> None:
    body = json.dumps(
        {"event": "edd_revise", "msg": {"tracking_number": "00340434161094042557", "slug": "dhl-germany",
                                        "tag": "InTransit", "expected_delivery": "2026-04-02T18:00:00+02:00",
                                        "checkpoints": []}}
    ).encode()  # fmt: skip
    [update] = aftership.parse(body).updates
    assert (update.carrier, update.estimated_delivery_on) == ("dhl-germany", date(2026, 4, 2))


def test_source_object() -> None:
    source = aftership.SOURCE
    assert (source.name, source.delivery, source.config_model) == (
        "aftership",
        Delivery.push,
        aftership.Config,
    )
    assert source.status_map is aftership.STATUS_MAP
