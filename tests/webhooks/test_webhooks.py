"""Outbound webhooks end to end: endpoints through the API (secret shown once), milestone.published fans
out webhook.deliver jobs, deliveries are signed (verified with the standardwebhooks package), retried
with backoff on 5xx, given up on 4xx, logged, and isolated per store."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from doorstep.config import ChannelSettings, Environment, SecuritySettings, Settings
from doorstep.db import transaction
from doorstep.flows.models import MilestoneEvent
from doorstep.jobs.retry import Retryable
from doorstep.messaging import publish
from tests.conftest import TEST_SECRET
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey
from tests.integrations.channels.http_server import Answer, Recorder, serve


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test, database_url=database_url, data_dir=tmp_path, base_url="https://track.example",
        security=SecuritySettings(secret_key=SecretStr(TEST_SECRET)), channels=ChannelSettings(devbox=False),
    )  # fmt: skip


def _order_placed(client: TestClient, factory: sessionmaker[Session], store: StoreWithKey) -> str:
    response = client.post("/api/v1/orders", json=order_body(1), headers=store.headers)
    assert response.status_code == 201, response.text
    with transaction(factory) as session:
        stmt = select(MilestoneEvent.public_id).where(
            MilestoneEvent.store_id == store.id, MilestoneEvent.name == "order.placed"
        )
        return str(session.scalars(stmt).one())


def _endpoint(client: TestClient, store: StoreWithKey, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/webhooks", json={"url": url, **fields}, headers=store.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _deliver(
    factory: sessionmaker[Session],
    settings: Settings,
    store: StoreWithKey,
    event: str,
    endpoint: str,
    attempt: int = 1,
    max_attempts: int = 8,
) -> str:
    with httpx.Client() as http:
        return publish.deliver_webhook(
            factory, http=http, settings=settings, store_id=store.id, milestone_event_id=event,
            endpoint_id=endpoint, attempt=attempt, max_attempts=max_attempts,
        )  # fmt: skip


def test_a_milestone_reaches_subscribed_endpoints_signed(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    recorder = Recorder([Answer(204)])
    with serve(recorder) as base:
        # given two endpoints: one for every milestone, one only for deliveries
        everything = _endpoint(client, store, f"{base}/hooks/all")
        _endpoint(client, store, f"{base}/hooks/delivered", milestones=["shipment.delivered"])
        assert everything["secret"].startswith("whsec_")
        # the secret is shown once: reading the endpoint back does not reveal it
        again = client.get(f"/api/v1/webhooks/{everything['id']}", headers=store.headers).json()
        assert "secret" not in again
        event = _order_placed(client, factory, store)

        # when the milestone is published
        with httpx.Client() as http:
            report = publish.publish_milestone(
                factory, http=http, settings=settings, store_id=store.id, milestone_event_id=event
            )
        # then one delivery job is scheduled (the delivered-only endpoint is not subscribed) …
        assert report.webhooks_enqueued == 1
        assert report.klaviyo == "not connected"
        # … and running it twice POSTs once (the second run finds the delivery done)
        delivery_id = _deliver(factory, settings, store, event, everything["id"])
        assert _deliver(factory, settings, store, event, everything["id"]) == "skipped"

    (request,) = recorder.requests
    assert request.path == "/hooks/all"
    assert request.headers["webhook-id"] == delivery_id
    # then any Standard Webhooks verifier accepts it with the endpoint's secret, and refuses another secret
    payload = Webhook(everything["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "order.placed"
    assert payload["data"]["id"] == event
    assert payload["data"]["order_number"] == "#1001"
    assert payload["data"]["customer"]["email"] == "shopper1@example.com"
    assert payload["data"]["tracking_page"].startswith("https://track.example/t/")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(request.body, request.headers)

    log = client.get(f"/api/v1/webhooks/{everything['id']}/deliveries", headers=store.headers).json()["data"]
    assert [(d["id"], d["status"], d["attempts"], d["last_status_code"]) for d in log] == [
        (delivery_id, "delivered", 1, 204)
    ]


def test_5xx_is_retried_with_the_same_id_and_4xx_gives_up(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    recorder = Recorder([Answer(503, b"busy"), Answer(500), Answer(200)])
    with serve(recorder) as base:
        endpoint = _endpoint(client, store, f"{base}/in")
        event = _order_placed(client, factory, store)
        for attempt in (1, 2):
            with pytest.raises(Retryable, match="HTTP 5"):
                _deliver(factory, settings, store, event, endpoint["id"], attempt=attempt)
        _deliver(factory, settings, store, event, endpoint["id"], attempt=3)
        ids = {r.headers["webhook-id"] for r in recorder.requests}
        assert len(recorder.requests) == 3
        assert len(ids) == 1  # receivers can deduplicate retries
        log = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=store.headers).json()[
            "data"
        ]
        assert (log[0]["status"], log[0]["attempts"]) == ("delivered", 3)

        refusing = _endpoint(client, store, f"{base}/refuses")
        recorder.answers[:] = [Answer(400, b'{"error":"bad"}')]
        with pytest.raises(publish.PublishFailed, match="HTTP 400"):
            _deliver(factory, settings, store, event, refusing["id"])
        log = client.get(f"/api/v1/webhooks/{refusing['id']}/deliveries", headers=store.headers).json()[
            "data"
        ]
        assert (log[0]["status"], log[0]["last_status_code"]) == ("failed", 400)

        # a 5xx on the last attempt ends the delivery as failed too
        flaky = _endpoint(client, store, f"{base}/flaky")
        recorder.answers[:] = [Answer(502)]
        with pytest.raises(publish.PublishFailed):
            _deliver(factory, settings, store, event, flaky["id"], attempt=8, max_attempts=8)

        # 410 Gone disables the endpoint
        gone = _endpoint(client, store, f"{base}/gone")
        recorder.answers[:] = [Answer(410)]
        with pytest.raises(publish.PublishFailed):
            _deliver(factory, settings, store, event, gone["id"])
        assert (
            client.get(f"/api/v1/webhooks/{gone['id']}", headers=store.headers).json()["is_enabled"] is False
        )


def test_bad_endpoints_are_refused_and_stores_are_isolated(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    for body, field in (
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://example.com/hook"}, "url"),
        ({"url": "https://example.com/hook", "milestones": ["shipment.teleported"]}, "milestones"),
    ):
        answer = client.post("/api/v1/webhooks", json=body, headers=store.headers)
        assert answer.status_code == 422, answer.text
        assert field in answer.json()["errors"][0]["field"]
    mine = _endpoint(client, store, "https://example.com/hook")
    for method, path in (
        ("GET", f"/api/v1/webhooks/{mine['id']}"),
        ("PATCH", f"/api/v1/webhooks/{mine['id']}"),
        ("DELETE", f"/api/v1/webhooks/{mine['id']}"),
        ("POST", f"/api/v1/webhooks/{mine['id']}/rotate-secret"),
        ("GET", f"/api/v1/webhooks/{mine['id']}/deliveries"),
    ):
        answer = client.request(
            method, path, headers=other_store.headers, json={} if method == "PATCH" else None
        )
        assert answer.status_code == 404, (method, path)
    assert client.get("/api/v1/webhooks", headers=other_store.headers).json()["data"] == []
    rotated = client.post(f"/api/v1/webhooks/{mine['id']}/rotate-secret", headers=store.headers).json()
    assert rotated["secret"] != mine["secret"]


def test_through_the_worker_a_placed_order_reaches_the_endpoint_and_an_outage_backs_off(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    from doorstep.jobs.models import Job
    from tests.messaging.conftest import run_worker

    recorder = Recorder([Answer(503, b"down for maintenance")])
    with serve(recorder) as base:
        endpoint = _endpoint(client, store, f"{base}/in", milestones=["order.placed"])
        # given an order placed (flows wrote its milestone.published job in the same transaction)
        event = _order_placed(client, factory, store)
        # when the worker runs: milestone.published fans out, webhook.deliver meets a 503
        stats = run_worker(factory, settings)
    assert stats.errors == []  # no claim or record was lost to a database error
    key = publish.webhook_job_key(event, endpoint["id"])
    with transaction(factory) as session:
        job = session.scalars(select(Job).where(Job.key == key)).one()
        # then the job waits to retry with backoff, its reason on record, and the log says retrying
        assert (job.status, job.attempts) == ("failed", 1)
        assert "HTTP 503" in (job.last_error or "")
        assert job.run_at > job.updated_at
    log = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=store.headers).json()["data"]
    assert [(d["status"], d["last_status_code"]) for d in log] == [("retrying", 503)]
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.brand.example/in",
        "https://localhost/in",
        "https://127.0.0.1/in",
        "https://10.0.0.7/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
    ],
)
def test_in_production_endpoints_must_be_public_https(url: str) -> None:
    from doorstep.core.errors import Invalid
    from doorstep.webhooks import service as webhook_service

    with pytest.raises(Invalid) as refused:
        webhook_service.check_reachable(url, allow_local=False)
    assert refused.value.problems[0].field == "url"
    webhook_service.check_reachable("https://hooks.brand.example/in", allow_local=False)
    webhook_service.check_reachable("https://93.184.215.14/in", allow_local=False)
