"""Send-time decisions with fresh state, delivery receipts, and tenant isolation of the message log."""

from datetime import UTC, datetime, timedelta

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.db import transaction
from doorstep.messaging import service as message_service
from tests.factories.orders import checkpoint, order_body, shipment_body
from tests.factories.stores import StoreWithKey
from tests.messaging.conftest import NOW, messages, run_worker

CAREFUL = {
    "trigger": "shipment.exception",
    "steps": [{"wait": "1h"}, {"send": ["email"]}],
    "exit_on": ["shipment.available_for_pickup"],
}


def _ship(client: TestClient, store: StoreWithKey, n: int, *scans: dict[str, object]) -> tuple[str, str]:
    order = client.post("/api/v1/orders", json=order_body(n, tags=[]), headers=store.headers).json()
    shipment = client.post(
        "/api/v1/shipments", json=shipment_body(order["id"], n), headers=store.headers
    ).json()
    if scans:
        added = client.post(
            f"/api/v1/shipments/{shipment['id']}/checkpoints", json={"checkpoints": list(scans)},
            headers=store.headers,
        )  # fmt: skip
        assert added.status_code in (200, 201), added.text
    return order["id"], shipment["id"]


def test_an_exit_milestone_while_a_step_waits_suppresses_it_with_the_reason(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    with time_machine.travel(NOW, tick=True):
        assert client.put("/api/v1/flows/exception", json=CAREFUL, headers=store.headers).status_code == 200
        problem = checkpoint(
            "2026-11-23T11:00:00-05:00", "exception", "address_issue", message="Address issue"
        )
        _, shipment = _ship(client, store, 1, problem)
        # Within the hour the parcel reaches a pickup point
        pickup = checkpoint("2026-11-23T11:40:00-05:00", "available_for_pickup", message="At the locker")
        client.post(
            f"/api/v1/shipments/{shipment}/checkpoints", json={"checkpoints": [pickup]}, headers=store.headers
        )
        run_worker(factory, settings)
    with time_machine.travel(NOW + timedelta(hours=1, minutes=5), tick=True):
        run_worker(factory, settings)
    decided = {m.milestone: (m.status, m.reason) for m in messages(factory, store.id)}
    assert decided["shipment.exception"] == ("suppressed", "the flow exits on shipment.available_for_pickup")


def test_a_message_due_after_the_order_was_cancelled_is_suppressed(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    later = {"trigger": "order.placed", "steps": [{"wait": "2h"}, {"send": ["email"]}]}
    with time_machine.travel(NOW, tick=True):
        assert (
            client.put("/api/v1/flows/order-confirmed", json=later, headers=store.headers).status_code == 200
        )
        order = client.post("/api/v1/orders", json=order_body(2), headers=store.headers).json()
        cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=store.headers)
        assert cancelled.status_code == 200, cancelled.text
    with time_machine.travel(NOW + timedelta(hours=2, minutes=5), tick=True):
        run_worker(factory, settings)
    [message] = messages(factory, store.id)
    assert (message.status, message.reason) == ("suppressed", "the order was cancelled")


def test_delivery_receipts_move_a_sent_message_to_delivered_or_failed(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    other_store: StoreWithKey,
) -> None:  # fmt: skip
    with time_machine.travel(NOW, tick=True):
        for n in (3, 4):
            client.post("/api/v1/orders", json=order_body(n), headers=store.headers)
        run_worker(factory, settings)
    first, second = messages(factory, store.id)
    assert first.provider_message_id is not None
    assert second.provider_message_id is not None
    at = datetime(2026, 11, 23, 17, 1, tzinfo=UTC)
    with transaction(factory) as session:
        # Another store's receipt for the same provider id changes nothing (tenant isolation)
        assert message_service.record_provider_status(
            session, store_id=other_store.id, provider_message_id=first.provider_message_id, status="delivered",
            occurred_at=at,
        ) is None  # fmt: skip
        message_service.record_provider_status(
            session, store_id=store.id, provider_message_id=first.provider_message_id, status="delivered",
            occurred_at=at,
        )  # fmt: skip
        message_service.record_provider_status(
            session, store_id=store.id, provider_message_id=second.provider_message_id, status="undelivered",
            occurred_at=at, error="30003",
        )  # fmt: skip
    first, second = messages(factory, store.id)
    assert (first.status, first.delivered_at) == ("delivered", at)
    assert (second.status, second.reason) == ("failed", "provider reported undelivered: 30003")
    counts = client.get("/api/v1/analytics/notifications", headers=store.headers).json()["data"]
    assert counts == [
        {"milestone": "order.placed", "sent": 1, "delivered": 1, "opened": 0, "clicked": 0, "suppressed": 0,
         "failed": 1}
    ]  # fmt: skip


def test_a_store_sees_only_its_own_messages(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    other_store: StoreWithKey,
) -> None:  # fmt: skip
    with time_machine.travel(NOW, tick=True):
        order = client.post("/api/v1/orders", json=order_body(5), headers=store.headers).json()
        run_worker(factory, settings)
    mine = client.get("/api/v1/messages", headers=store.headers).json()["data"]
    assert [m["key"] for m in mine] == [f"msg:{order['id']}:order.placed:email"]
    assert mine[0]["status"] == "sent"
    assert client.get("/api/v1/messages", headers=other_store.headers).json()["data"] == []
    theirs = client.get("/api/v1/messages", params={"subject_id": order["id"]}, headers=other_store.headers)
    assert theirs.json()["data"] == []
    assert client.get("/api/v1/analytics/notifications", headers=other_store.headers).json()["data"] == []
