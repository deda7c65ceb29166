"""Orders with parcels and scans, created through the API, for the shopper-page tests."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories.orders import checkpoint, order_body, shipment_body
from tests.factories.stores import StoreWithKey

Tracked = Callable[..., dict[str, Any]]


def make_tracked(client: TestClient, store: StoreWithKey, n: int = 1, **order: Any) -> dict[str, Any]:
    """An order with one UPS parcel in transit; returns the order with its status link."""
    created = client.post("/api/v1/orders", json=order_body(n, **order), headers=store.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    parcel = client.post("/api/v1/shipments", json=shipment_body(body["id"], n), headers=store.headers).json()
    scans = [
        checkpoint("2026-11-21T09:00:00-08:00", "in_transit", message="Picked up by carrier", city="Reno",
                   region="NV", country="US"),
        checkpoint("2026-11-22T07:15:00-05:00", "in_transit", message="Arrived at facility", city="Louisville",
                   region="KY", country="US"),
    ]  # fmt: skip
    added = client.post(
        f"/api/v1/shipments/{parcel['id']}/checkpoints", json={"checkpoints": scans}, headers=store.headers
    )
    assert added.status_code == 201, added.text
    link = client.get(f"/api/v1/orders/{body['id']}/status-link", headers=store.headers).json()
    return {**body, "link": link["path"], "shipment_id": parcel["id"]}


@pytest.fixture
def tracked(client: TestClient, store: StoreWithKey) -> dict[str, Any]:
    return make_tracked(client, store)
