"""Tracking applied to parcels: matching by number, unmatched parcels, delay and stall, the simulated carrier."""

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.inbound import polling
from doorstep.integrations.tracking import simulated
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import ApplyTracking, CheckpointInput
from doorstep.shipments.status import Status, Substatus
from tests.factories.orders import order_body, shipment_body
from tests.factories.stores import StoreWithKey

T0 = datetime(2026, 11, 16, 9, tzinfo=UTC)


def _scan(hours: float, status: Status, substatus: Substatus | None = None) -> CheckpointInput:
    return CheckpointInput(
        occurred_at=T0 + timedelta(hours=hours), status=status, substatus=substatus, message=status.value
    )


def _milestones(factory: sessionmaker[Session], store: StoreWithKey, subject: str) -> list[str]:
    with transaction(factory) as session:
        return [m.name for m in flow_service.list_for_subject(session, store_id=store.id, subject_id=subject)]


def test_tracking_for_an_unknown_number_is_kept_unmatched_then_attached_when_the_order_arrives(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    update = ApplyTracking(
        tracking_number="1z999aa1 0123456784",
        carrier="UPS",
        order_ref="ext-1",
        checkpoints=(_scan(0, Status.in_transit),),
    )
    with transaction(factory) as session:
        applied = shipment_service.apply_tracking(session, store_id=store.id, cmd=update, source="easypost")
        shipment_id = applied.shipment.public_id
        assert applied.shipment.order_id is None
        assert applied.shipment.carrier == "ups"
        assert applied.shipment.tracking_number == "1Z999AA10123456784"
    order = client.post("/api/v1/orders", json=order_body(1), headers=store.headers).json()
    shipment = client.get(f"/api/v1/shipments/{shipment_id}", headers=store.headers).json()
    assert shipment["order_id"] == order["id"]
    assert len(shipment["items"]) == 2
    assert shipment["status"] == "in_transit"


def test_a_later_carrier_estimate_past_the_promise_flags_the_parcel_delayed_once(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    order = client.post("/api/v1/orders", json=order_body(2), headers=store.headers).json()
    created = client.post(
        "/api/v1/shipments", json=shipment_body(order["id"], promised_on="2026-11-20"), headers=store.headers
    ).json()
    late = ApplyTracking(
        tracking_number=created["tracking_number"],
        carrier="ups",
        estimated_delivery_on=date(2026, 11, 24),
        checkpoints=(_scan(0, Status.in_transit), _scan(30, Status.exception, Substatus.weather)),
    )
    with transaction(factory) as session:
        first = shipment_service.apply_tracking(session, store_id=store.id, cmd=late, source="ups")
        again = shipment_service.apply_tracking(session, store_id=store.id, cmd=late, source="ups")
        assert first.shipment.is_delayed is True
        assert "2026-11-24" in (first.shipment.delay_reason or "")
    assert "shipment.delayed" in first.milestones
    assert again.milestones == []
    assert _milestones(factory, store, created["id"]).count("shipment.delayed") == 1


def test_the_sweep_flags_a_parcel_with_no_scan_for_three_business_days_as_stalled(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    order = client.post("/api/v1/orders", json=order_body(3), headers=store.headers).json()
    created = client.post(
        "/api/v1/shipments",
        json=shipment_body(
            order["id"],
            promised_on="2026-12-30",
            checkpoints=[
                {"occurred_at": "2026-11-16T09:00:00Z", "status": "in_transit", "message": "Departed"}
            ],
        ),
        headers=store.headers,
    ).json()
    friday = datetime(2026, 11, 20, 12, tzinfo=UTC)  # Mon→Fri: 4 business days, no holiday
    with transaction(factory) as session:
        names = shipment_service.check_overdue_and_stalled(session, store_id=store.id, now=friday)
        again = shipment_service.check_overdue_and_stalled(
            session, store_id=store.id, now=friday + timedelta(hours=1)
        )
    assert names == ["shipment.stalled"]
    assert again == []
    shipment = client.get(f"/api/v1/shipments/{created['id']}", headers=store.headers).json()
    assert shipment["status"] == "in_transit"


def test_the_sweep_flags_a_parcel_past_its_promise_without_a_new_estimate(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    order = client.post("/api/v1/orders", json=order_body(4), headers=store.headers).json()
    client.post(
        "/api/v1/shipments", json=shipment_body(order["id"], promised_on="2026-11-18"), headers=store.headers
    )
    with transaction(factory) as session:
        names = shipment_service.check_overdue_and_stalled(
            session, store_id=store.id, now=datetime(2026, 11, 19, 15, tzinfo=UTC)
        )
    assert "shipment.delayed" in names


def test_the_simulated_carrier_is_polled_through_the_inbound_log_until_delivery(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    import httpx

    order = client.post("/api/v1/orders", json=order_body(5), headers=store.headers).json()
    number = next(f"SIM{n:08d}" for n in range(1000) if simulated.scenario_for(f"SIM{n:08d}") == "delivered")
    created = client.post(
        "/api/v1/shipments",
        json=shipment_body(order["id"], carrier="simulated", service="express", tracking_number=number),
        headers=store.headers,
    ).json()
    later = datetime.now(UTC) + timedelta(days=3)
    with httpx.Client() as http:
        report = polling.poll_due(factory, secret="s", client=http, now=later)
    assert report.polled == 1
    assert report.failed == []
    shipment = client.get(f"/api/v1/shipments/{created['id']}", headers=store.headers).json()
    assert shipment["status"] == "delivered"
    events = client.get("/api/v1/events?source=simulated", headers=store.headers).json()["data"]
    assert [e["status"] for e in events] == ["applied"]
    assert "shipment.delivered" in _milestones(factory, store, created["id"])


def test_every_simulated_scenario_ends_where_its_story_says() -> None:
    route = (
        simulated.Place("Reno", "NV", "89502", "US", -8),
        simulated.Place("Salt Lake City", "UT", "84104", "US", -7),
        simulated.Place("Austin", "TX", "78704", "US", -6),
    )
    expected = {
        "delivered": Status.delivered, "signed": Status.delivered, "attempt_failed": Status.delivered,
        "weather": Status.delivered, "address_issue": Status.delivered, "lost": Status.exception,
        "returned": Status.returned, "customs": Status.delivered, "pickup_point": Status.delivered,
    }  # fmt: skip
    for scenario, status in expected.items():
        body = simulated.generate(
            "SIM1",
            service="ground",
            shipped_at=T0,
            now=T0 + timedelta(days=30),
            route=route,
            scenario=scenario,
        )
        update = simulated.SOURCE.parse(body).updates[0]
        assert update.checkpoints[-1].status is status, scenario
        assert all(cp.occurred_at.tzinfo is not None for cp in update.checkpoints)
