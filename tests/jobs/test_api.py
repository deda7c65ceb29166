"""GET /api/v1/jobs: the store's jobs only, filtered, with cursor pagination."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.jobs import queue
from tests.factories.stores import StoreWithKey


def _enqueue(
    factory: sessionmaker[Session], store_id: int | None, key: str, kind: str = "inbound.apply"
) -> None:
    with transaction(factory) as session:
        queue.enqueue(session, kind=kind, key=key, store_id=store_id, args={"event_id": key})


def test_lists_only_the_stores_jobs_newest_first_with_filters_and_cursor(
    backend: str,
    client: TestClient,
    factory: sessionmaker[Session],
    store: StoreWithKey,
    other_store: StoreWithKey,
) -> None:
    for n in range(3):
        _enqueue(factory, store.id, f"inbound.apply:evt_{n}")
    _enqueue(factory, store.id, "msg:shp_1:shipment.delivered:email", kind="message.send")
    _enqueue(factory, other_store.id, "inbound.apply:evt_other")
    _enqueue(factory, None, "periodic:tracking.poll:2026-11-23T12:00:00Z", kind="tracking.poll")

    first = client.get("/api/v1/jobs", params={"limit": 3}, headers=store.headers)
    assert first.status_code == 200
    page = first.json()
    assert [j["key"] for j in page["data"]] == [
        "msg:shp_1:shipment.delivered:email", "inbound.apply:evt_2", "inbound.apply:evt_1",
    ]  # fmt: skip
    rest = client.get(
        "/api/v1/jobs", params={"limit": 3, "cursor": page["next_cursor"]}, headers=store.headers
    )
    assert [j["key"] for j in rest.json()["data"]] == ["inbound.apply:evt_0"]
    assert rest.json()["next_cursor"] is None

    by_kind = client.get("/api/v1/jobs", params={"kind": "message.send"}, headers=store.headers).json()
    assert [j["status"] for j in by_kind["data"]] == ["pending"]
    by_status = client.get("/api/v1/jobs", params={"status": "dead"}, headers=store.headers).json()
    assert by_status["data"] == []
    assert client.get("/api/v1/jobs", params={"status": "exploded"}, headers=store.headers).status_code == 422
    assert client.get("/api/v1/jobs").status_code == 401
