"""One store's API key can neither read nor change another store's data, through any endpoint."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.flows import service as flow_service
from tests.factories.orders import checkpoint, order_body, shipment_body, with_customer
from tests.factories.stores import StoreWithKey

API = "/api/v1"
MADE_UP = {"order": "ord_000000000000000000000000", "shipment": "shp_000000000000000000000000",
           "event": "evt_000000000000000000000000"}  # fmt: skip


@dataclass(frozen=True)
class Foreign:
    """What other_store owns: an order, its shipment with one scan, and a rejected inbound event."""

    order: dict[str, Any]
    shipment: dict[str, Any]
    rejected_event_id: str

    @property
    def ids(self) -> dict[str, str]:
        return {"order": self.order["id"], "shipment": self.shipment["id"], "event": self.rejected_event_id}


def seed_foreign(client: TestClient, owner: StoreWithKey) -> Foreign:
    order = client.post(f"{API}/orders", json=order_body(7), headers=owner.headers)
    assert order.status_code == 201, order.text
    shipment = client.post(
        f"{API}/shipments",
        json=shipment_body(
            order.json()["id"], 7, checkpoints=[checkpoint("2026-11-21T09:00:00-08:00", "in_transit")]
        ),
        headers=owner.headers,
    )
    assert shipment.status_code == 201, shipment.text
    rejected = client.post(f"{API}/shipments", json=shipment_body(MADE_UP["order"], 8), headers=owner.headers)
    assert rejected.status_code == 404, rejected.text
    return Foreign(order.json(), shipment.json(), rejected.headers["X-Doorstep-Event"])


def snapshot(
    client: TestClient, owner: StoreWithKey, foreign: Foreign, factory: sessionmaker[Session]
) -> Any:
    """Everything the owner can see about its data, to compare before and after the attack."""
    paths = [
        f"{API}/orders/{foreign.order['id']}",
        f"{API}/shipments/{foreign.shipment['id']}",
        f"{API}/shipments/{foreign.shipment['id']}/checkpoints",
        f"{API}/events/{foreign.rejected_event_id}",
        f"{API}/orders",
        f"{API}/shipments",
        f"{API}/events",
    ]
    with transaction(factory) as session:
        milestones = [
            (m.name, m.occurred_at)
            for subject in (foreign.order["id"], foreign.shipment["id"])
            for m in flow_service.list_for_subject(session, store_id=owner.id, subject_id=subject)
        ]
    return [client.get(path, headers=owner.headers).json() for path in paths], milestones


# (case id, method, path template, JSON body); {order}, {shipment}, {event} are the other store's ids.
ATTACKS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("get-order", "GET", "/orders/{order}", None),
    ("patch-order", "PATCH", "/orders/{order}", {"note": "mine now", "tags": ["stolen"]}),
    ("cancel-order", "POST", "/orders/{order}/cancel", {"reason": "attack"}),
    ("get-shipment", "GET", "/shipments/{shipment}", None),
    ("patch-shipment", "PATCH", "/shipments/{shipment}", {"expected_on": "2030-01-01"}),
    ("post-checkpoints", "POST", "/shipments/{shipment}/checkpoints",
     {"checkpoints": [checkpoint("2026-11-22T10:00:00Z", "delivered", "to_door")]}),
    ("get-checkpoints", "GET", "/shipments/{shipment}/checkpoints", None),
    ("ship-foreign-order", "POST", "/shipments", {"order_id": "{order}", "carrier": "ups", "tracking_number": "1ZATTACK0001"}),
    ("get-event", "GET", "/events/{event}", None),
    ("replay-event", "POST", "/events/{event}/replay", None),
]  # fmt: skip


def fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, dict):
        return {k: fill(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, ids) for v in template]
    return template


def call(client: TestClient, store: StoreWithKey, method: str, path: str, body: Any) -> httpx.Response:
    response: httpx.Response = client.request(method, API + path, json=body, headers=store.headers)
    return response


@pytest.mark.parametrize(("method", "path", "body"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_another_stores_data_is_invisible_and_untouchable(
    client: TestClient,
    store: StoreWithKey,
    other_store: StoreWithKey,
    factory: sessionmaker[Session],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    # given an order, a shipment and a rejected event in the other store
    foreign = seed_foreign(client, other_store)
    before = snapshot(client, other_store, foreign, factory)

    # when our key addresses them, and, for comparison, ids that exist nowhere
    response = call(client, store, method, fill(path, foreign.ids), fill(body, foreign.ids))
    unknown = call(client, store, method, fill(path, MADE_UP), fill(body, MADE_UP))

    # then it is a 404 (or a 422 when the id travels in the body), exactly as for an id that does not exist
    assert response.status_code == 404 or ("{" not in path and response.status_code == 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.status_code == unknown.status_code
    problem, baseline = response.json(), unknown.json()
    assert problem["type"] == baseline["type"]
    assert problem["title"] == baseline["title"]
    for kind, foreign_id in foreign.ids.items():
        problem["detail"] = problem["detail"].replace(foreign_id, MADE_UP[kind])
    assert problem["detail"] == baseline["detail"]

    # and the other store's data is exactly as it was
    assert snapshot(client, other_store, foreign, factory) == before


def test_lists_and_filters_show_only_our_rows(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    # given data in both stores
    foreign = seed_foreign(client, other_store)
    ours = seed_foreign(client, store)

    # when we list, with and without filters that match the other store's rows
    orders = client.get(f"{API}/orders", headers=store.headers).json()["data"]
    shipments = client.get(f"{API}/shipments", headers=store.headers).json()["data"]
    events = client.get(f"{API}/events", headers=store.headers).json()["data"]
    filtered = {
        "orders?number": client.get(f"{API}/orders", params={"number": "#1007"}, headers=store.headers),
        "orders?email": client.get(f"{API}/orders", params={"email": "shopper7@example.com"}, headers=store.headers),
        "shipments?order_id": client.get(
            f"{API}/shipments", params={"order_id": foreign.order["id"]}, headers=store.headers
        ),
        "shipments?tracking_number": client.get(
            f"{API}/shipments", params={"tracking_number": foreign.shipment["tracking_number"]}, headers=store.headers
        ),
        "events?status": client.get(f"{API}/events", params={"status": "rejected"}, headers=store.headers),
    }  # fmt: skip

    # then only our own rows are there
    assert [o["id"] for o in orders] == [ours.order["id"]]
    assert [s["id"] for s in shipments] == [ours.shipment["id"]]
    foreign_events = {
        e["id"] for e in client.get(f"{API}/events", headers=other_store.headers).json()["data"]
    }
    assert len(events) == 3
    assert not foreign_events & {e["id"] for e in events}
    assert [o["id"] for o in filtered["orders?number"].json()["data"]] == [ours.order["id"]]
    assert [o["id"] for o in filtered["orders?email"].json()["data"]] == [ours.order["id"]]
    assert filtered["shipments?order_id"].json()["data"] == []
    assert [s["id"] for s in filtered["shipments?tracking_number"].json()["data"]] == [ours.shipment["id"]]
    assert [e["id"] for e in filtered["events?status"].json()["data"]] == [ours.rejected_event_id]


def test_items_of_another_stores_order_cannot_be_shipped(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    # given our order and the other store's order
    foreign = seed_foreign(client, other_store)
    ours = client.post(f"{API}/orders", json=order_body(1), headers=store.headers).json()

    # when our shipment lists one of their line items
    item = {"line_item_id": foreign.order["line_items"][0]["id"], "quantity": 1}
    response = client.post(
        f"{API}/shipments", json=shipment_body(ours["id"], items=[item]), headers=store.headers
    )

    # then the body reference is a 422 naming the item
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["items.0.line_item_id"]


def test_unique_values_are_unique_per_store_only(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    # given the other store's order ext-7, shopper7@example.com, shipped as UPS 1Z999AA10123456787
    foreign = seed_foreign(client, other_store)

    # when our store uses the same external id, e-mail and tracking number
    order = client.post(
        f"{API}/orders", json=with_customer(order_body(7), first_name="Zed"), headers=store.headers
    )
    shipment = client.post(
        f"{API}/shipments", json=shipment_body(order.json()["id"], 7), headers=store.headers
    )

    # then each is new in our store, and the other store's shopper is untouched
    assert order.status_code == 201, order.text
    assert order.json()["id"] != foreign.order["id"]
    assert order.json()["customer"]["id"] != foreign.order["customer"]["id"]
    assert shipment.status_code == 201, shipment.text
    assert shipment.json()["tracking_number"] == foreign.shipment["tracking_number"]
    assert shipment.json()["id"] != foreign.shipment["id"]
    theirs = client.get(f"{API}/orders/{foreign.order['id']}", headers=other_store.headers).json()
    assert theirs["customer"]["first_name"] == "Ana"


def test_an_idempotency_key_belongs_to_one_store(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    # given the other store created an order under key k-1
    theirs = client.post(
        f"{API}/orders", json=order_body(1), headers={**other_store.headers, "Idempotency-Key": "k-1"}
    )

    # when we send the same key and body
    ours = client.post(
        f"{API}/orders", json=order_body(1), headers={**store.headers, "Idempotency-Key": "k-1"}
    )

    # then we get our own new order, not a replay of theirs
    assert (theirs.status_code, ours.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in ours.headers
    assert ours.json()["id"] != theirs.json()["id"]
    mine = client.get(f"{API}/orders", headers=store.headers).json()["data"]
    assert [o["id"] for o in mine] == [ours.json()["id"]]
