"""The worker's poller against each real carrier adapter: a local server answers as the carrier's token and
tracking APIs do, with a real payload; the raw answer is recorded in the inbound log, then applied.

The clock is moved to just after each payload's last scan, so a parcel that is still travelling is not
expired for having been silent longer than ``EXPIRE_AFTER`` (the payloads are from past years).
"""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core import clock
from doorstep.db import transaction
from doorstep.inbound import polling
from doorstep.inbound.models import InboundEvent
from doorstep.stores import service as store_service
from tests.factories.orders import order_body, shipment_body
from tests.factories.stores import StoreWithKey

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "carrier-tracking"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared carrier payloads not found at {SHARED}"
)

ACCESS_TOKEN = "doorstep-test-access-token-7c41e9"  # what the fake token endpoint hands out
CLIENT_SECRET = "doorstep-test-client-secret-52b0"


@dataclass(frozen=True)
class Carrier:
    name: str
    payload: str  # a file under SHARED/<name>
    number: str  # the tracking number the payload is about
    status: str  # the status the payload leaves the parcel in
    at: datetime  # the clock during the test: shortly after the payload's last scan
    config: dict[str, str]  # the store's connection, without base_url
    token_path: str | None  # None: the carrier takes an API key on every request
    track_path: str  # the tracking endpoint (a prefix when the number is part of the path)
    secret: str  # must never reach the inbound log: the access token, or the API key

    def authorized(self, headers: dict[str, str]) -> bool:
        lowered = {k.lower(): v for k, v in headers.items()}
        if self.token_path is None:
            return lowered.get("dhl-api-key") == self.secret
        return lowered.get("authorization") == f"Bearer {ACCESS_TOKEN}"


OAUTH = {"client_id": "doorstep-test-client", "client_secret": CLIENT_SECRET}

UPS = Carrier(
    name="ups", payload="karrio__ups__PickupTrackingResponseJSON__8aab3919.json", number="1Z999AA10123456784",
    status="in_transit", at=datetime(2024, 3, 16, 9, tzinfo=UTC), config=OAUTH,
    token_path="/security/v1/oauth/token", track_path="/api/track/v1/details/", secret=ACCESS_TOKEN,
)  # fmt: skip
FEDEX = Carrier(
    name="fedex", payload="karrio__fedex__InconsistentDateTimeResponse.json", number="738488882438",
    status="delivered", at=datetime(2024, 8, 21, 9, tzinfo=UTC), config=OAUTH, token_path="/oauth/token",
    track_path="/track/v1/trackingnumbers", secret=ACCESS_TOKEN,
)  # fmt: skip
USPS = Carrier(
    name="usps", payload="karrio__usps__TrackingResponse.json", number="9400109104250532908587",
    status="delivered", at=datetime(2024, 11, 23, 9, tzinfo=UTC), config=OAUTH,
    token_path="/oauth2/v3/token", track_path="/tracking/v3/tracking/", secret=ACCESS_TOKEN,
)  # fmt: skip
DHL = Carrier(
    name="dhl", payload="karrio__dhl_universal__TrackingResponseJSON.json", number="7777777770",
    status="info_received", at=datetime(2018, 3, 3, 9, tzinfo=UTC),
    config={"api_key": "doorstep-test-dhl-api-key-0e6d"}, token_path=None, track_path="/track/shipments",
    secret="doorstep-test-dhl-api-key-0e6d",
)  # fmt: skip


class _FakeCarrier(BaseHTTPRequestHandler):
    """Answers the token endpoint with ``ACCESS_TOKEN`` and, when authorized, any tracking request with
    the payload; everything else is refused."""

    carrier: Carrier
    payload: bytes
    seen: list[tuple[str, str, dict[str, str], bytes]]

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        headers = dict(self.headers)
        self.seen.append((method, self.path, headers, body))
        if method == "POST" and self.path == self.carrier.token_path:
            token = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3599}
            self._send(200, json.dumps(token).encode())
        elif self.path.startswith(self.carrier.track_path) and self.carrier.authorized(headers):
            self._send(200, self.payload)
        else:
            self._send(401, b'{"error": "unauthorized"}')

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(carrier: Carrier, payload: bytes) -> tuple[str, type[_FakeCarrier]]:
        handler = type("Handler", (_FakeCarrier,), {"carrier": carrier, "payload": payload, "seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", handler

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _poll_a_parcel_through_the_worker(
    carrier: Carrier,
    serve: Any,
    client: TestClient,
    store: StoreWithKey,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    payload = (SHARED / carrier.name / carrier.payload).read_bytes()
    base_url, handler = serve(carrier, payload)
    secret = settings.security.secret_key.get_secret_value()
    with time_machine.travel(carrier.at, tick=True):
        with transaction(factory) as session:  # before the shipment, so it gets a poll_source
            store_service.set_connection(
                session, store_id=store.id, provider=carrier.name,
                config={**carrier.config, "base_url": base_url}, secret=secret,
            )  # fmt: skip
        placed_at = (carrier.at - timedelta(days=5)).isoformat()
        order = client.post("/api/v1/orders", json=order_body(1, placed_at=placed_at), headers=store.headers)
        assert order.status_code == 201, order.text
        created = client.post(
            "/api/v1/shipments",
            json=shipment_body(order.json()["id"], carrier=carrier.name, tracking_number=carrier.number),
            headers=store.headers,
        )
        assert created.status_code == 201, created.text
        shipment_id = created.json()["id"]

        with httpx.Client(timeout=5) as http:
            report = polling.poll_due(
                factory, secret=secret, client=http, now=clock.now() + timedelta(minutes=1)
            )

        assert report.failed == []
        assert report.polled == 1
        assert report.recorded == 1
    track_calls = [call for call in handler.seen if call[1] != carrier.token_path]
    assert len(track_calls) == 1
    _, path, _, sent = track_calls[0]
    assert carrier.number in path or carrier.number in sent.decode()
    shipment = client.get(f"/api/v1/shipments/{shipment_id}", headers=store.headers).json()
    assert shipment["status"] == carrier.status
    events = client.get(f"/api/v1/events?source={carrier.name}", headers=store.headers).json()["data"]
    assert [(e["topic"], e["status"]) for e in events] == [("poll", "applied")]
    event = client.get(f"/api/v1/events/{events[0]['id']}", headers=store.headers).json()
    assert event["body"] == payload.decode("utf-8")
    with transaction(factory) as session:
        stored = session.execute(
            select(InboundEvent.source, InboundEvent.body).where(InboundEvent.store_id == store.id)
        ).all()
    assert [body for source, body in stored if source == carrier.name] == [payload]  # byte for byte
    for _, body in stored:  # the token answer (and the credentials) are never recorded
        assert carrier.secret.encode() not in body
        assert CLIENT_SECRET.encode() not in body


@needs_shared
def test_ups_is_polled_through_the_inbound_log(
    serve: Any, client: TestClient, store: StoreWithKey, factory: sessionmaker[Session], settings: Settings
) -> None:
    _poll_a_parcel_through_the_worker(UPS, serve, client, store, factory, settings)


@needs_shared
def test_fedex_is_polled_through_the_inbound_log(
    serve: Any, client: TestClient, store: StoreWithKey, factory: sessionmaker[Session], settings: Settings
) -> None:
    _poll_a_parcel_through_the_worker(FEDEX, serve, client, store, factory, settings)


@needs_shared
def test_usps_is_polled_through_the_inbound_log(
    serve: Any, client: TestClient, store: StoreWithKey, factory: sessionmaker[Session], settings: Settings
) -> None:
    _poll_a_parcel_through_the_worker(USPS, serve, client, store, factory, settings)


@needs_shared
def test_dhl_is_polled_through_the_inbound_log(
    serve: Any, client: TestClient, store: StoreWithKey, factory: sessionmaker[Session], settings: Settings
) -> None:
    _poll_a_parcel_through_the_worker(DHL, serve, client, store, factory, settings)
