"""Delivery through real parts: a real SMTP server (aiosmtpd), an SMTP outage, quiet hours that defer."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.db import transaction
from doorstep.flows.models import StoreFlow
from doorstep.integrations.channels import smtp, twilio_sms
from doorstep.jobs.models import Job
from doorstep.messaging import dispatch
from doorstep.messaging.models import Message
from doorstep.stores import service as store_service
from tests.factories.orders import checkpoint, order_body, shipment_body
from tests.factories.stores import StoreWithKey
from tests.integrations.channels.conftest import Sink, free_port
from tests.integrations.channels.http_server import Answer, Recorder, serve
from tests.messaging.conftest import messages, run_worker


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    received = Sink()
    port = free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    yield received, port
    controller.stop()


def _connect_smtp(factory: sessionmaker[Session], settings: Settings, store_id: int, port: int) -> None:
    config = smtp.Config(host="127.0.0.1", port=port, security="none", from_email="hello@acme.example",
                         from_name="Acme", timeout_seconds=2.0)  # fmt: skip
    with transaction(factory) as session:
        store_service.set_connection(
            session, store_id=store_id, provider="smtp", config=config.model_dump(mode="json"),
            secret=settings.security.secret_key.get_secret_value(),
        )  # fmt: skip


@pytest.fixture
def smtp_sink(
    factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, sink: tuple[Sink, int]
) -> Sink:
    """The sink, with the store's e-mail going to it over SMTP."""
    received, port = sink
    _connect_smtp(factory, settings, store.id, port)
    return received


def test_the_order_confirmation_reaches_a_real_smtp_server_once(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    smtp_sink: Sink, clock: time_machine.Traveller,
) -> None:  # fmt: skip
    order = client.post("/api/v1/orders", json=order_body(1), headers=store.headers).json()
    run_worker(factory, settings)
    run_worker(factory, settings)

    [message] = messages(factory, store.id)
    assert (message.status, message.channel, message.kind) == ("sent", "smtp", "email")
    [mail] = smtp_sink.received
    assert mail.rcpt_tos == ["shopper1@example.com"]
    assert message.public_id in mail.message["Message-ID"]
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        order["number"] in mail.message["Subject"]
        or order["number"] in mail.message.get_body(("plain",)).get_content()
    )  # type: ignore[union-attr]


def test_an_smtp_outage_retries_with_backoff_then_fails_with_the_reason(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    clock: time_machine.Traveller,
) -> None:  # fmt: skip
    _connect_smtp(factory, settings, store.id, free_port())  # nothing listens there
    order = client.post("/api/v1/orders", json=order_body(2), headers=store.headers).json()
    key = f"msg:{order['id']}:order.placed:email"
    stats = run_worker(factory, settings)
    assert stats.failed == 1  # the worker recorded the failure and carried on

    with transaction(factory) as session:
        job = session.scalars(select(Job).where(Job.key == key)).one()
        assert job.status == "failed"
        assert job.run_at > datetime.now(UTC) + timedelta(seconds=4)  # backoff (10 s, jittered)
        assert job.last_error is not None
        assert job.last_error.startswith("Retryable")
    [message] = messages(factory, store.id)
    assert message.status == "sending"
    assert message.reason is not None
    assert message.reason.startswith("retrying:")
    assert message.subject == f"Pedido {order['number']} confirmado"  # what the shopper (es) would have seen

    # When the last attempt fails too, the message is failed with the reason and the job is dead
    with transaction(factory) as session:
        session.execute(update(Job).where(Job.key == key).values(max_attempts=2, run_at=datetime.now(UTC)))
    run_worker(factory, settings)
    with transaction(factory) as session:
        assert session.scalars(select(Job.status).where(Job.key == key)).one() == "dead"
    [message] = messages(factory, store.id)
    assert message.status == "failed"
    assert message.reason is not None
    assert message.reason.startswith("gave up after 2 attempts")
    assert message.subject == f"Pedido {order['number']} confirmado"


def test_quiet_hours_defer_an_sms_until_morning_then_it_is_sent(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    # 02:30 UTC on Tuesday is 21:30 in New York: inside the default quiet hours (21:00-08:00) for phones
    night = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    body = order_body(3, tags=[])
    body["customer"] = {
        **body["customer"], "timezone": "America/New_York", "phone": "+14155550123",
        "consents": [{"channel": "sms", "granted": True}, {"channel": "email", "granted": True}],
    }  # fmt: skip
    with time_machine.travel(night, tick=True):
        order = client.post("/api/v1/orders", json=body, headers=store.headers).json()
        shipment = client.post(
            "/api/v1/shipments", json=shipment_body(order["id"]), headers=store.headers
        ).json()
        scan = checkpoint("2026-11-23T21:20:00-05:00", "out_for_delivery", message="On vehicle")
        client.post(f"/api/v1/shipments/{shipment['id']}/checkpoints", json={"checkpoints": [scan]},
                    headers=store.headers)  # fmt: skip
        run_worker(factory, settings)
    deferred = next(m for m in messages(factory, store.id) if m.milestone == "shipment.out_for_delivery")
    assert deferred.status == "deferred"
    assert deferred.reason is not None
    assert deferred.reason.startswith("quiet hours 21:00-08:00 local: until 2026-11-24T13:00:00+00:00")

    # At 08:00 in New York the follow-up job runs and the SMS goes out
    with time_machine.travel(datetime(2026, 11, 24, 13, 0, 5, tzinfo=UTC), tick=True):
        run_worker(factory, settings)
    sent = next(m for m in messages(factory, store.id) if m.milestone == "shipment.out_for_delivery")
    assert (sent.status, sent.kind, sent.recipient) == ("sent", "sms", "+14155550123")


def test_a_refused_sms_falls_back_to_email_and_says_why(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    clock: time_machine.Traveller,
) -> None:  # fmt: skip
    # Given Twilio (a local server answering as its API does) refuses the number for good
    refusal = {
        "code": 21211,
        "message": "The 'To' number +14155550123 is not a valid phone number.",
        "status": 400,
    }
    recorder = Recorder([Answer(400, json.dumps(refusal).encode())])
    with serve(recorder) as base:
        config = twilio_sms.Config.model_validate(
            {
                "account_sid": "AC" + "a" * 32,
                "auth_token": "token",
                "from_number": "+14155550100",
                "api_base": base,
            }
        )
        with transaction(factory) as session:
            store_service.set_connection(
                session, store_id=store.id, provider="twilio_sms", config=config.model_dump(mode="json"),
                secret=settings.security.secret_key.get_secret_value(),
            )  # fmt: skip
        body = order_body(9, tags=[])
        body["customer"] = {
            **body["customer"], "phone": "+14155550123", "timezone": "America/New_York",
            "consents": [{"channel": "sms", "granted": True}, {"channel": "email", "granted": True}],
        }  # fmt: skip
        order = client.post("/api/v1/orders", json=body, headers=store.headers).json()
        shipment = client.post(
            "/api/v1/shipments", json=shipment_body(order["id"]), headers=store.headers
        ).json()
        scan = checkpoint("2026-11-23T08:05:00-05:00", "out_for_delivery", message="On vehicle")
        client.post(f"/api/v1/shipments/{shipment['id']}/checkpoints", json={"checkpoints": [scan]},
                    headers=store.headers)  # fmt: skip
        run_worker(factory, settings)
    # Then the SMS was tried once, and the e-mail went out with the reason on record
    assert len(recorder.requests) == 1
    message = next(m for m in messages(factory, store.id) if m.milestone == "shipment.out_for_delivery")
    assert (message.status, message.kind, message.channel) == ("sent", "email", "devbox")
    assert message.reason is not None
    assert message.reason.startswith("sms failed:")
    assert "21211" in message.reason


def test_a_long_batch_records_its_sends_as_it_goes(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    clock: time_machine.Traveller,
) -> None:  # fmt: skip
    """A crash late in a batch must not resend the messages sent early in it: ``sent`` is committed every
    RECORD_EVERY sends, not only when the batch ends."""
    recorded_before: list[int] = []

    class Counting(Sink):
        async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
            with transaction(factory) as db:
                sent = select(func.count()).select_from(Message).where(Message.status == "sent")
                recorded_before.append(db.scalar(sent) or 0)
            return await super().handle_DATA(server, session, envelope)

    received = Counting()
    port = free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _connect_smtp(factory, settings, store.id, port)
        for n in range(20):
            client.post("/api/v1/orders", json=order_body(n), headers=store.headers)
        run_worker(factory, settings, concurrency=1, batch_size=20)  # the 20 sends are one batch
    finally:
        controller.stop()

    assert len(received.received) == 20
    assert dispatch.RECORD_EVERY == 8
    assert recorded_before == [0] * 8 + [8] * 8 + [16] * 4  # at each delivery, the sends already recorded
    assert [m.status for m in messages(factory, store.id)] == ["sent"] * 20


OVERRIDE_MJML = (
    "<mjml><mj-body><mj-section><mj-column>"
    "<mj-text>Olá {{ customer.first_name }}, pedido {{ order.number }}</mj-text>"
    "</mj-column></mj-section></mj-body></mjml>"
)


def test_an_override_that_fails_in_the_worker_sends_the_shipped_template_and_tells_the_merchant(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    smtp_sink: Sink, clock: time_machine.Traveller,
) -> None:  # fmt: skip
    # given an e-mail override whose subject works for the sample order (#1042) and for no real one
    created = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "order.placed", "kind": "email", "locale": "pt_BR", "body": OVERRIDE_MJML,
              "subject": "Pedido {{ {'#1042': 'de exemplo'}[order.number] }}"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    order = client.post("/api/v1/orders", json=order_body(4), headers=store.headers).json()
    # when the worker sends the order's confirmation
    run_worker(factory, settings)
    # then the shopper gets the shipped template, once, and the merchant sees why theirs was skipped
    [message] = messages(factory, store.id)
    assert message.status == "sent"
    assert message.subject == f"Pedido {order['number']} confirmado"
    [mail] = smtp_sink.received
    assert mail.message["Subject"] == message.subject
    saved = client.get(f"/api/v1/templates/{created.json()['id']}", headers=store.headers).json()
    assert saved["last_failure"] is not None
    assert order["number"] in saved["last_failure"]


def test_a_stored_step_naming_a_template_that_does_not_exist_fails_its_message_with_the_reason(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    smtp_sink: Sink, clock: time_machine.Traveller,
) -> None:  # fmt: skip
    # The API refuses such a step (tests/flows/test_api.py); a row saved before it did still runs
    flow = {"trigger": "order.placed", "steps": [{"send": ["email"], "template": "order.no_such_template"}]}
    with transaction(factory) as session:
        session.add(StoreFlow(store_id=store.id, key="order-confirmed", definition=flow))
    client.post("/api/v1/orders", json=order_body(5), headers=store.headers)
    stats = run_worker(factory, settings)
    [message] = messages(factory, store.id)
    assert message.status == "failed"
    assert message.reason is not None
    assert message.reason.startswith("no email template:")
    assert "order.no_such_template" in message.reason
    assert smtp_sink.received == []  # nothing half-rendered went out
    assert stats.failed == 0  # a message that cannot be written is settled, not a job to retry
