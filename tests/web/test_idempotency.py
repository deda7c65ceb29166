"""Idempotency-Key on API writes: a retry returns the first answer; a reused key with another body is a 409."""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from doorstep.core.errors import NotFound
from doorstep.inbound import topics
from doorstep.inbound.topics import Result
from tests.factories.orders import order_body, phone, shipment_body, with_customer
from tests.factories.stores import StoreWithKey

ORDERS = "/api/v1/orders"
PROBLEM = "application/problem+json"


def keyed(store: StoreWithKey, key: str) -> dict[str, str]:
    return {**store.headers, "Idempotency-Key": key}


def order_ids(client: TestClient, store: StoreWithKey) -> list[str]:
    response = client.get(ORDERS, params={"limit": 200}, headers=store.headers)
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["data"]]


def events(client: TestClient, store: StoreWithKey) -> list[dict[str, Any]]:
    response = client.get("/api/v1/events", params={"limit": 200}, headers=store.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def test_a_retry_with_the_same_key_and_body_replays_the_first_answer(
    client: TestClient, store: StoreWithKey
) -> None:
    # given an order created with Idempotency-Key order-1
    first = client.post(ORDERS, json=order_body(), headers=keyed(store, "order-1"))
    assert first.status_code == 201, first.text

    # when the identical request is retried
    again = client.post(ORDERS, json=order_body(), headers=keyed(store, "order-1"))

    # then the first answer comes back byte for byte, marked as replayed, and there is one order
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["content-type"] == "application/json"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert order_ids(client, store) == [first.json()["id"]]


def test_the_retry_is_logged_as_a_duplicate_of_the_first(client: TestClient, store: StoreWithKey) -> None:
    first = client.post(ORDERS, json=order_body(), headers=keyed(store, "order-1"))
    again = client.post(ORDERS, json=order_body(), headers=keyed(store, "order-1"))

    logged = {e["id"]: e for e in events(client, store)}
    assert logged[first.headers["X-Doorstep-Event"]]["status"] == "applied"
    assert logged[again.headers["X-Doorstep-Event"]]["status"] == "duplicate"
    assert [e["idempotency_key"] for e in logged.values()] == ["order-1", "order-1"]


def test_the_same_key_with_another_body_is_a_409_problem(client: TestClient, store: StoreWithKey) -> None:
    # given an order created with key order-1
    first = client.post(ORDERS, json=order_body(1), headers=keyed(store, "order-1"))
    assert first.status_code == 201, first.text

    # when key order-1 is sent with a different order
    other = client.post(ORDERS, json=order_body(2), headers=keyed(store, "order-1"))

    # then it is refused, nothing new is created, and the first order is as it was
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    problem = other.json()
    assert problem["type"] == "https://doorstep.dev/problems/conflict"
    assert "Idempotency-Key" in problem["detail"]
    assert order_ids(client, store) == [first.json()["id"]]
    assert client.get(f"{ORDERS}/{first.json()['id']}", headers=store.headers).json()["number"] == "#1001"


def test_a_retried_rejection_is_applied_again_not_replayed(client: TestClient, store: StoreWithKey) -> None:
    # given a shipment for an order that does not exist, rejected under key ship-1
    body = shipment_body("ord_000000000000000000000000")
    first = client.post("/api/v1/shipments", json=body, headers=keyed(store, "ship-1"))
    assert first.status_code == 404

    # when the same request is retried with the same key
    again = client.post("/api/v1/shipments", json=body, headers=keyed(store, "ship-1"))

    # then the one recorded event was applied a second time (and is still rejected)
    assert again.status_code == 404
    assert "Idempotent-Replayed" not in again.headers
    assert again.headers["X-Doorstep-Event"] == first.headers["X-Doorstep-Event"]
    [event] = events(client, store)
    assert (event["status"], event["attempts"]) == ("rejected", 2)


def test_a_rejected_request_retried_after_the_fix_succeeds(client: TestClient, store: StoreWithKey) -> None:
    # given order creation failing for a reason on our side (a handler that cannot find what it needs)
    def broken(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        raise NotFound("the catalogue is not loaded yet")

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(topics.API_TOPICS, "orders.create", broken)
        first = client.post(ORDERS, json=order_body(), headers=keyed(store, "order-1"))
    assert first.status_code == 404
    assert order_ids(client, store) == []

    # when the cause is fixed and the client retries with the same key and body
    again = client.post(ORDERS, json=order_body(), headers=keyed(store, "order-1"))

    # then the recorded payload is applied and the order exists once
    assert again.status_code == 201, again.text
    assert again.headers["X-Doorstep-Event"] == first.headers["X-Doorstep-Event"]
    assert order_ids(client, store) == [again.json()["id"]]
    replayed = client.post(ORDERS, json=order_body(), headers=keyed(store, "order-1"))
    assert replayed.status_code == 201
    assert replayed.json()["id"] == again.json()["id"]
    assert replayed.headers["Idempotent-Replayed"] == "true"


def test_concurrent_duplicates_create_one_order(client: TestClient, store: StoreWithKey) -> None:
    # given eight clients sending the same request with the same key at the same moment
    start = threading.Barrier(8)

    def send(_: int) -> httpx.Response:
        start.wait(timeout=10)
        response: httpx.Response = client.post(ORDERS, json=order_body(), headers=keyed(store, "burst-1"))
        return response

    # when they all post
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))

    # then every one gets the same 201 answer and exactly one order exists
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1
    assert order_ids(client, store) == [responses[0].json()["id"]]


def test_without_a_key_a_repeated_create_is_refused_by_external_id(
    client: TestClient, store: StoreWithKey
) -> None:
    # the API dedupes by Idempotency-Key only; without one, the order's external_id keeps it unique
    first = client.post(ORDERS, json=order_body(), headers=store.headers)
    second = client.post(ORDERS, json=order_body(), headers=store.headers)

    assert first.status_code == 201
    assert second.status_code == 409
    assert "Idempotent-Replayed" not in second.headers
    assert order_ids(client, store) == [first.json()["id"]]


def test_without_a_key_or_external_id_a_repeated_create_makes_two_orders(
    client: TestClient, store: StoreWithKey
) -> None:
    body = with_customer(order_body(external_id=None), phone=phone(1))

    first = client.post(ORDERS, json=body, headers=store.headers)
    second = client.post(ORDERS, json=body, headers=store.headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert set(order_ids(client, store)) == {first.json()["id"], second.json()["id"]}
    assert second.json()["customer"]["id"] == first.json()["customer"]["id"]


def test_a_key_covers_patch_and_cancel_too(client: TestClient, store: StoreWithKey) -> None:
    order = client.post(ORDERS, json=order_body(), headers=store.headers).json()

    patched = client.patch(f"{ORDERS}/{order['id']}", json={"note": "a"}, headers=keyed(store, "patch-1"))
    repatched = client.patch(f"{ORDERS}/{order['id']}", json={"note": "a"}, headers=keyed(store, "patch-1"))
    conflicting = client.patch(f"{ORDERS}/{order['id']}", json={"note": "b"}, headers=keyed(store, "patch-1"))

    assert patched.status_code == 200
    assert repatched.status_code == 200
    assert repatched.content == patched.content
    assert repatched.headers["Idempotent-Replayed"] == "true"
    assert conflicting.status_code == 409
    assert client.get(f"{ORDERS}/{order['id']}", headers=store.headers).json()["note"] == "a"


def test_a_key_reused_for_another_resource_is_not_a_silent_replay(
    client: TestClient, store: StoreWithKey
) -> None:
    # given two orders, the first cancelled with key cancel-1
    a = client.post(ORDERS, json=with_customer(order_body(1), phone=phone(1)), headers=store.headers).json()
    b = client.post(ORDERS, json=with_customer(order_body(2), phone=phone(2)), headers=store.headers).json()
    assert (
        client.post(f"{ORDERS}/{a['id']}/cancel", json={}, headers=keyed(store, "cancel-1")).status_code
        == 200
    )

    # when the same key and body are sent to cancel the second order
    response = client.post(f"{ORDERS}/{b['id']}/cancel", json={}, headers=keyed(store, "cancel-1"))

    # then the client is told the key was used for another request (not handed order A)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert "Idempotent-Replayed" not in response.headers
    assert client.get(f"{ORDERS}/{b['id']}", headers=store.headers).json()["cancelled_at"] is None


def test_a_key_reused_on_another_endpoint_is_a_409(client: TestClient, store: StoreWithKey) -> None:
    order = client.post(ORDERS, json=order_body(), headers=keyed(store, "k-1")).json()

    response = client.patch(f"{ORDERS}/{order['id']}", json=order_body(), headers=keyed(store, "k-1"))

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
