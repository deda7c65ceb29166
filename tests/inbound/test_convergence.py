"""Any order of duplicate and shuffled deliveries of the same inbound events yields the same state."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.inbound import service as inbound_service
from doorstep.shipments import service as shipment_service
from tests.factories.orders import checkpoint, order_body, shipment_body
from tests.factories.stores import make_store

# Four batches of scans, as a carrier or aggregator would push them (one payload each).
BATCHES: list[list[dict[str, Any]]] = [
    [checkpoint("2026-11-20T08:00:00-08:00", "info_received", message="Label created", city="Reno")],
    [
        checkpoint("2026-11-20T18:00:00-08:00", "in_transit", message="Picked up", city="Reno"),
        checkpoint("2026-11-21T09:30:00-07:00", "in_transit", message="Departed", city="Salt Lake City"),
    ],
    [checkpoint("2026-11-23T07:10:00-06:00", "out_for_delivery", message="Out for delivery", city="Austin")],
    [checkpoint("2026-11-23T14:02:00-06:00", "delivered", "to_door", message="Delivered", city="Austin")],
]


@pytest.fixture(autouse=True)
def _the_time_of_these_scans() -> Iterator[None]:
    """Now is the day after this journey (November 2026): a later today would flag the parcel delayed."""
    with time_machine.travel("2026-11-24T12:00:00Z", tick=True):
        yield


def _submit(
    factory: sessionmaker[Session], store_id: int, topic: str, body: dict[str, Any], key: str, **params: str
) -> dict[str, Any]:
    sub = inbound_service.Submission(
        store_id=store_id,
        source="api",
        topic=topic,
        body=json.dumps(body).encode(),
        params=params,
        idempotency_key=key,
    )
    outcome = inbound_service.submit(factory, sub)
    assert outcome.response_body is not None, outcome.reason
    return outcome.response_body


def _final_state(factory: sessionmaker[Session], deliveries: list[int], slug: str) -> tuple[object, ...]:
    store = make_store(factory, slug)
    order = _submit(factory, store.id, "orders.create", order_body(), "order")
    shipment = _submit(factory, store.id, "shipments.create", shipment_body(order["id"]), "shipment")
    for index in deliveries:
        _submit(
            factory, store.id, "checkpoints.create", {"checkpoints": BATCHES[index]}, f"batch-{index}",
            shipment_id=shipment["id"],
        )  # fmt: skip
    with transaction(factory) as session:
        row = shipment_service.get_shipment(session, store_id=store.id, shipment_id=shipment["id"])
        scans = shipment_service.list_checkpoints(session, store_id=store.id, shipment_id=shipment["id"])
        milestones = flow_service.list_for_subject(session, store_id=store.id, subject_id=shipment["id"])
        return (
            row.status,
            row.substatus,
            row.shipped_at,
            row.delivered_at,
            row.last_checkpoint_at,
            sorted((s.occurred_at, s.fingerprint) for s in scans),
            sorted((m.name, m.occurred_at) for m in milestones),
        )


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_shuffled_and_duplicated_deliveries_converge(
    factory: sessionmaker[Session], data: st.DataObject
) -> None:
    everything = data.draw(st.lists(st.sampled_from(range(len(BATCHES))), min_size=0, max_size=6))
    deliveries = data.draw(st.permutations([*range(len(BATCHES)), *everything]))
    expected = _final_state(factory, list(range(len(BATCHES))), f"in-order-{uuid.uuid4().hex[:12]}")
    actual = _final_state(factory, deliveries, f"shuffled-{uuid.uuid4().hex[:12]}")
    assert actual[2:] == expected[2:]
    assert actual[:2] == ("delivered", "to_door")
