"""Klaviyo adapter against a local server answering as the Create Event API does (202, 400, 401, 429, 5xx),
and the milestone.published job pushing a real milestone once the store connected Klaviyo."""

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import ChannelSettings, Environment, SecuritySettings, Settings
from doorstep.db import transaction
from doorstep.flows.models import MilestoneEvent
from doorstep.integrations.channels import klaviyo
from doorstep.integrations.channels.protocol import Profile, Published, SendFailed
from doorstep.jobs.retry import Retryable
from doorstep.messaging import publish
from tests.conftest import TEST_SECRET
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey
from tests.integrations.channels.http_server import Answer, Recorder, serve

EVENT = Published(
    event_id="ms_0123456789abcdef01234567",
    name="shipment.delivered",
    occurred_at=datetime(2026, 11, 23, 16, 2, tzinfo=UTC),
    store_id=1,
    profile=Profile(email="ana@example.com", phone="+14155550100", first_name="Ana", external_id="cus_1"),
    properties={"order_number": "#1042", "tracking_number": "1Z999", "carrier": "ups"},
)
ERROR = json.dumps(
    {
        "errors": [
            {
                "id": "x",
                "status": 400,
                "code": "invalid",
                "title": "Invalid input.",
                "detail": "The phone number provided either does not exist or is ineligible to receive SMS",
            }
        ]
    }
).encode()


def config(base: str) -> klaviyo.Config:
    return klaviyo.Config(api_key=SecretStr("pk_test_123"), api_base=base)


def test_an_event_is_a_jsonapi_document_with_auth_revision_and_unique_id() -> None:
    recorder = Recorder([Answer(202)])
    with serve(recorder) as base, httpx.Client() as http:
        sent = klaviyo.publisher.publish(EVENT, config(base), client=http)
    assert sent.provider_message_id == EVENT.event_id
    (request,) = recorder.requests
    assert request.path == "/api/events"
    assert request.headers["authorization"] == "Klaviyo-API-Key pk_test_123"
    assert request.headers["revision"] == klaviyo.REVISION
    assert request.headers["content-type"] == "application/vnd.api+json"
    document = json.loads(request.body)
    attributes = document["data"]["attributes"]
    assert document["data"]["type"] == "event"
    assert attributes["metric"] == {
        "data": {"type": "metric", "attributes": {"name": "Doorstep Delivered", "service": "doorstep"}}
    }
    assert attributes["profile"]["data"]["type"] == "profile"
    assert attributes["profile"]["data"]["attributes"]["email"] == "ana@example.com"
    assert attributes["profile"]["data"]["attributes"]["phone_number"] == "+14155550100"
    assert attributes["unique_id"] == EVENT.event_id
    assert attributes["time"] == "2026-11-23T16:02:00+00:00"
    assert attributes["properties"]["order_number"] == "#1042"


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        (Answer(400, ERROR, "application/vnd.api+json"), False),
        (Answer(401, b'{"errors":[{"detail":"Incorrect authentication credentials."}]}'), False),
        (
            Answer(429, b'{"errors":[{"detail":"Request was throttled."}]}', headers={"Retry-After": "3"}),
            True,
        ),
        (Answer(503, b"upstream unavailable", "text/plain"), True),
    ],
)
def test_errors_say_whether_to_retry(answer: Answer, retryable: bool) -> None:
    with serve(Recorder([answer])) as base, httpx.Client() as http, pytest.raises(SendFailed) as failure:
        klaviyo.publisher.publish(EVENT, config(base), client=http)
    assert failure.value.retryable is retryable
    assert str(answer.status) in failure.value.reason


def test_a_profile_without_email_or_phone_is_refused_before_any_request() -> None:
    recorder = Recorder()
    anonymous = Published(EVENT.event_id, EVENT.name, EVENT.occurred_at, 1, Profile(), {})
    with serve(recorder) as base, httpx.Client() as http, pytest.raises(SendFailed):
        klaviyo.publisher.publish(anonymous, config(base), client=http)
    assert recorder.requests == []


def test_the_api_base_must_be_https_outside_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        klaviyo.Config(api_key=SecretStr("pk"), api_base="http://a.klaviyo.com")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test, database_url=database_url, data_dir=tmp_path, base_url="https://track.example",
        security=SecuritySettings(secret_key=SecretStr(TEST_SECRET)), channels=ChannelSettings(devbox=False),
    )  # fmt: skip


def test_milestone_published_pushes_to_the_connected_klaviyo(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    recorder = Recorder([Answer(429), Answer(202)])
    with serve(recorder) as base:
        # given a store that connected Klaviyo through the API (the key is never shown back)
        connected = client.put(
            "/api/v1/channels/klaviyo",
            json={"api_key": "pk_live_abc", "api_base": base},
            headers=store.headers,
        )
        assert connected.status_code == 200, connected.text
        assert connected.json()["config"]["api_key"] == "**********"
        order = client.post("/api/v1/orders", json=order_body(1), headers=store.headers)
        assert order.status_code == 201
        with transaction(factory) as session:
            event = session.scalars(
                select(MilestoneEvent.public_id).where(MilestoneEvent.store_id == store.id)
            ).one()
        # when the job runs: Klaviyo throttles once (retry), then accepts
        with httpx.Client() as http:
            with pytest.raises(Retryable, match="429"):
                publish.publish_milestone(
                    factory, http=http, settings=settings, store_id=store.id, milestone_event_id=event
                )
            report = publish.publish_milestone(
                factory, http=http, settings=settings, store_id=store.id, milestone_event_id=event
            )
    assert report.klaviyo == "sent"
    # then both tries carried the same unique_id, so Klaviyo records the event once
    documents = [json.loads(r.body)["data"]["attributes"] for r in recorder.requests]
    assert [d["unique_id"] for d in documents] == [event, event]
    assert documents[-1]["metric"]["data"]["attributes"]["name"] == "Doorstep Order Placed"
    assert documents[-1]["profile"]["data"]["attributes"]["email"] == "shopper1@example.com"
    assert documents[-1]["properties"]["order_number"] == "#1001"
    assert documents[-1]["properties"]["tracking_page"].startswith("https://track.example/t/")


def test_connecting_with_bad_settings_is_a_422(client: TestClient, store: StoreWithKey) -> None:
    answer = client.put(
        "/api/v1/channels/smtp", json={"host": "smtp.example.com", "port": 70000}, headers=store.headers
    )
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"port", "from_email"} <= fields
    assert client.put("/api/v1/channels/carrier-pigeon", json={}, headers=store.headers).status_code == 404
