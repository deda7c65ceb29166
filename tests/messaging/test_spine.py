"""End to end: orders and scans through the API → milestones → jobs (same transaction) → worker → outbox."""

from typing import Any

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.db import transaction
from doorstep.jobs.models import Job
from doorstep.outbox.models import OutboxMessage
from tests.factories.orders import checkpoint, order_body, shipment_body
from tests.factories.stores import StoreWithKey
from tests.messaging.conftest import messages, run_worker

OUT_FOR_DELIVERY = checkpoint("2026-11-23T08:05:00-05:00", "out_for_delivery", message="On vehicle")
PICKUP = checkpoint("2026-11-22T18:30:00-08:00", "in_transit", message="Picked up", city="Reno")
DELIVERED = checkpoint("2026-11-23T11:02:00-05:00", "delivered", "to_door", message="Front door")


def _jobs(factory: sessionmaker[Session], store_id: int) -> dict[str, str]:
    with transaction(factory) as session:
        return {j.key: j.kind for j in session.scalars(select(Job).where(Job.store_id == store_id))}


def _outbox(factory: sessionmaker[Session], store_id: int) -> list[OutboxMessage]:
    with transaction(factory) as session:
        rows = list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.store_id == store_id).order_by(OutboxMessage.id)
            )
        )
        session.expunge_all()
        return rows


def _post(client: TestClient, store: StoreWithKey, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=store.headers)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def test_scans_posted_to_the_api_end_as_messages_in_the_outbox(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    clock: time_machine.Traveller,
) -> None:  # fmt: skip
    # Given an order whose shopper consented to e-mail only
    order = _post(client, store, "/api/v1/orders", order_body(1))
    # Then placing it wrote the confirmation job and the publication job in the same transaction
    jobs = _jobs(factory, store.id)
    assert jobs[f"msg:{order['id']}:order.placed:email"] == "message.send"
    assert any(k.startswith("pub:ms_") for k in jobs)

    # When a parcel is shipped, goes out for delivery and is delivered, and the worker runs
    shipment = _post(client, store, "/api/v1/shipments", shipment_body(order["id"]))
    scans = {"checkpoints": [PICKUP, OUT_FOR_DELIVERY, DELIVERED]}
    _post(client, store, f"/api/v1/shipments/{shipment['id']}/checkpoints", scans)
    run_worker(factory, settings)

    # Then each milestone got one decision, with its reason
    decided = {m.key: (m.status, m.kind, m.reason) for m in messages(factory, store.id)}
    shp = shipment["id"]
    assert decided[f"msg:{order['id']}:order.placed:email"][:2] == ("sent", "email")
    assert decided[f"msg:{shp}:shipment.delivered:email+sms"][:2] == ("sent", "email")
    # "shipped" and "out for delivery" arrived in the same batch as "delivered": superseded, never sent
    assert decided[f"msg:{shp}:shipment.shipped:email+sms"] == (
        "suppressed",
        None,
        "superseded by shipment.delivered",
    )
    assert decided[f"msg:{shp}:shipment.out_for_delivery:sms+email"][0] == "suppressed"

    # And the outbox holds exactly the two messages sent, rendered, with the one-click unsubscribe headers
    outbox = _outbox(factory, store.id)
    assert [(o.kind, o.to_address) for o in outbox] == [("email", "shopper1@example.com")] * 2
    assert all(o.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for o in outbox)
    assert all("https://track.example/e/c/msg_" in (o.html or "") for o in outbox)

    # When the worker runs again, nothing is sent twice
    run_worker(factory, settings)
    assert len(_outbox(factory, store.id)) == 2


def test_the_order_placed_message_is_sent_once_even_when_its_job_runs_again(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    clock: time_machine.Traveller,
) -> None:  # fmt: skip
    order = _post(client, store, "/api/v1/orders", order_body(2))
    run_worker(factory, settings)
    # Given the job is done: put it back in the queue, as a worker whose lease expired would find it
    key = f"msg:{order['id']}:order.placed:email"
    with transaction(factory) as session:
        job = session.scalars(select(Job).where(Job.key == key)).one()
        job.status, job.attempts = "pending", 1
    run_worker(factory, settings)
    assert [m.status for m in messages(factory, store.id)] == ["sent"]
    assert len(_outbox(factory, store.id)) == 1
