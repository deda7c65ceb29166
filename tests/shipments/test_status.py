"""The pure status rules: derive_state and milestones_crossed."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from doorstep.shipments.status import (
    Scan,
    ShipmentState,
    Status,
    Substatus,
    derive_fingerprint,
    derive_state,
    milestones_crossed,
)

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


def scan(hours: float, status: Status, substatus: Substatus | None = None, tag: str = "") -> Scan:
    at = T0 + timedelta(hours=hours)
    return Scan(at, status, substatus, derive_fingerprint(at, status.value + tag, None, None, None, None))


JOURNEY = [
    scan(0, Status.info_received),
    scan(5, Status.in_transit),
    scan(30, Status.out_for_delivery),
    scan(36, Status.delivered, Substatus.to_door),
]


def test_no_scans_is_pending() -> None:
    assert derive_state([]) == ShipmentState()


def test_the_latest_scan_by_carrier_time_sets_status() -> None:
    state = derive_state(JOURNEY)
    assert state.status is Status.delivered
    assert state.substatus is Substatus.to_door
    assert state.delivered_at == T0 + timedelta(hours=36)
    assert state.shipped_at == T0 + timedelta(hours=5)
    assert state.reached == {
        "shipment.label_created",
        "shipment.shipped",
        "shipment.out_for_delivery",
        "shipment.delivered",
    }


def test_a_late_arriving_older_scan_does_not_move_status_back() -> None:
    state = derive_state([JOURNEY[3], JOURNEY[1]])
    assert state.status is Status.delivered


def test_same_time_scans_break_ties_by_progress() -> None:
    both = [scan(10, Status.delivered), scan(10, Status.out_for_delivery)]
    assert derive_state(both).status is Status.delivered
    assert derive_state(list(reversed(both))).status is Status.delivered


def test_status_changed_at_is_the_start_of_the_current_status_run() -> None:
    state = derive_state([scan(1, Status.in_transit), scan(2, Status.in_transit, tag="b")])
    assert state.status_changed_at == T0 + timedelta(hours=1)
    assert state.last_checkpoint_at == T0 + timedelta(hours=2)


def test_milestones_crossed_lists_new_milestones_in_journey_order() -> None:
    before = derive_state(JOURNEY[:1])
    after = derive_state(JOURNEY)
    assert milestones_crossed(before, after) == [
        "shipment.shipped",
        "shipment.out_for_delivery",
        "shipment.delivered",
    ]
    assert milestones_crossed(after, after) == []


def test_fingerprint_ignores_whitespace_case_and_offset_but_not_time() -> None:
    utc = datetime(2026, 11, 20, 17, tzinfo=UTC)
    local = utc.astimezone(datetime.fromisoformat("2026-11-20T12:00:00-05:00").tzinfo)
    a = derive_fingerprint(utc, "D1", "Delivered  front door", "Austin", "787 04", "us")
    b = derive_fingerprint(local, "d1", "delivered front door", "AUSTIN", "78704", "US")
    c = derive_fingerprint(utc + timedelta(minutes=1), "D1", "Delivered front door", "Austin", "78704", "US")
    assert a == b
    assert a != c


@given(st.permutations(JOURNEY + JOURNEY[:2]), st.integers(min_value=0, max_value=len(JOURNEY) + 2))
def test_any_order_and_any_split_of_the_same_scans_converges(order: list[Scan], split: int) -> None:
    """Applying scans in two batches in any order reaches the state of applying them all at once."""
    expected = derive_state(JOURNEY)
    first = derive_state(order[:split])
    final = derive_state(order)
    assert final == expected
    assert set(milestones_crossed(ShipmentState(), first)) | set(milestones_crossed(first, final)) == set(
        expected.reached
    )
