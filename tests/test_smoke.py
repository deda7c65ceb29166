from fastapi.testclient import TestClient

from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey


def test_an_order_round_trips_through_the_api(client: TestClient, store: StoreWithKey) -> None:
    created = client.post("/api/v1/orders", json=order_body(), headers=store.headers)
    assert created.status_code == 201, created.text
    fetched = client.get(f"/api/v1/orders/{created.json()['id']}", headers=store.headers)
    assert fetched.status_code == 200
    assert fetched.json()["total_minor"] == 2 * 6800 + 2800 + 695 + 1200
