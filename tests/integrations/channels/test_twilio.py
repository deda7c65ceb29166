"""Twilio SMS and WhatsApp against a local server answering as the Messages API does, and delivery-status
callbacks through /hooks/channels/…: signature valid, invalid and replayed; receipts update the message."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import ChannelSettings, Environment, SecuritySettings, Settings
from doorstep.db import transaction
from doorstep.inbound.models import InboundEvent
from doorstep.integrations.channels import twilio_sms, whatsapp
from doorstep.integrations.channels.protocol import Kind, Outbound, Rendered, SendFailed
from doorstep.messaging import routing
from doorstep.messaging.models import Message
from tests.conftest import TEST_SECRET
from tests.factories.stores import StoreWithKey
from tests.integrations.channels.http_server import Answer, Recorder, serve

SID = "AC" + "0" * 31 + "1"
TOKEN = "twilio-auth-token-0123456789"
MESSAGE = {
    "sid": "SM" + "a" * 32,
    "status": "queued",
    "to": "+14155550123",
    "body": "hi",
    "num_segments": "1",
    "error_code": None,
}


def config(base: str, **fields: object) -> twilio_sms.Config:
    return twilio_sms.Config.model_validate(
        {"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550100", "api_base": base,
         "status_callback_url": "https://track.example/hooks/channels/twilio_sms/acme", **fields}
    )  # fmt: skip


def outbound(kind: Kind = Kind.sms, to: str = "+14155550123") -> Outbound:
    rendered = Rendered(
        kind=kind,
        locale="en",
        text="Acme: your order #1042 has shipped. Track: https://t.example/x",
        segments=1,
        encoding="GSM-7",
    )
    return Outbound(
        message_id="msg_1", store_id=1, kind=kind, to=to, sender="+14155550100", rendered=rendered
    )


def test_sms_is_a_form_post_with_basic_auth_and_a_status_callback() -> None:
    recorder = Recorder([Answer(201, json.dumps(MESSAGE).encode())])
    with serve(recorder) as base, httpx.Client() as http:
        sent = twilio_sms.channel.send(outbound(), config(base), client=http)
    assert sent.provider_message_id == MESSAGE["sid"]
    (request,) = recorder.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert (
        request.headers["authorization"]
        == "Basic " + __import__("base64").b64encode(f"{SID}:{TOKEN}".encode()).decode()
    )
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form == {
        "To": "+14155550123", "From": "+14155550100", "Body": outbound().rendered.text,
        "StatusCallback": "https://track.example/hooks/channels/twilio_sms/acme",
    }  # fmt: skip


def test_whatsapp_prefixes_both_addresses_and_a_messaging_service_replaces_from() -> None:
    recorder = Recorder([Answer(201, json.dumps(MESSAGE).encode())])
    with serve(recorder) as base, httpx.Client() as http:
        wa = whatsapp.Config.model_validate(
            {"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550100", "api_base": base}
        )
        whatsapp.channel.send(outbound(Kind.whatsapp), wa, client=http)
        sms = config(base, from_number=None, messaging_service_sid="MG" + "b" * 32, status_callback_url=None)
        twilio_sms.channel.send(outbound(), sms, client=http)
    first, second = ({k: v[0] for k, v in parse_qs(r.body.decode()).items()} for r in recorder.requests)
    assert (first["To"], first["From"]) == ("whatsapp:+14155550123", "whatsapp:+14155550100")
    assert second["MessagingServiceSid"] == "MG" + "b" * 32
    assert "From" not in second
    assert "StatusCallback" not in second


@pytest.mark.parametrize(
    ("status", "answer", "retryable"),
    [
        (
            400,
            {
                "code": 21211,
                "message": "The 'To' number +1415555 is not a valid phone number.",
                "status": 400,
            },
            False,
        ),
        (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}, False),
        (401, {"code": 20003, "message": "Authenticate", "status": 401}, False),
        (429, {"code": 20429, "message": "Too Many Requests", "status": 429}, True),
        (500, {"code": 20500, "message": "Internal Server Error", "status": 500}, True),
        (503, {"code": 20503, "message": "Service Unavailable", "status": 503}, True),
    ],
)
def test_errors_say_whether_to_retry(status: int, answer: dict[str, object], retryable: bool) -> None:
    recorder = Recorder([Answer(status, json.dumps(answer).encode())])
    with serve(recorder) as base, httpx.Client() as http, pytest.raises(SendFailed) as failure:
        twilio_sms.channel.send(outbound(), config(base), client=http)
    assert failure.value.retryable is retryable
    assert str(answer["code"]) in failure.value.reason


def test_config_needs_a_sender_and_a_real_account_sid() -> None:
    with pytest.raises(ValueError, match="from_number or messaging_service_sid"):
        twilio_sms.Config.model_validate({"account_sid": SID, "auth_token": TOKEN})
    with pytest.raises(ValueError, match="account_sid"):
        twilio_sms.Config.model_validate(
            {"account_sid": "nope", "auth_token": TOKEN, "from_number": "+14155550100"}
        )


def test_the_signature_matches_twilios_documented_example() -> None:
    # The example in Twilio's request-validation documentation: URL, POST parameters, auth token → signature.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    assert twilio_sms.signature(url, params, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


# --- callbacks through the door ---------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test, database_url=database_url, data_dir=tmp_path, base_url="https://track.example",
        security=SecuritySettings(secret_key=SecretStr(TEST_SECRET)), channels=ChannelSettings(devbox=False),
    )  # fmt: skip


def _signed(url: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {
        "X-Twilio-Signature": twilio_sms.signature(url, list(params.items()), token),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _sent_message(client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, sid: str) -> int:
    """A message row as messaging leaves it once Twilio accepted it (for a real order's milestone)."""
    from doorstep.core import clock, ids
    from doorstep.flows.models import MilestoneEvent
    from tests.factories.orders import order_body

    order = client.post(
        "/api/v1/orders", json=order_body(len(sid) + ord(sid[-1])), headers=store.headers
    ).json()
    with transaction(factory) as session:
        event = session.scalars(select(MilestoneEvent).where(MilestoneEvent.order_id == order["id"])).one()
        now = clock.now()
        row = Message(
            public_id=ids.new_id("msg"), store_id=store.id, key=f"test:{sid}", milestone_event_id=event.id,
            milestone=event.name, subject_id=event.subject_id, order_id=order["id"], flow="order_confirmed",
            kind="sms", channel="twilio_sms", recipient="+14155550123", status="sent", attempts=1,
            provider_message_id=sid, sent_at=now, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def test_receipts_are_verified_recorded_and_applied_once(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    # given a store with Twilio connected and a sent SMS
    connected = client.put(
        "/api/v1/channels/twilio_sms", headers=store.headers,
        json={"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550100"},
    )  # fmt: skip
    assert connected.status_code == 200, connected.text
    sid = "SM" + "c" * 32
    message_pk = _sent_message(client, factory, store, sid)
    url = "https://track.example/hooks/channels/twilio_sms/acme"
    # routing hands Twilio exactly this callback URL
    with transaction(factory) as session:
        route = routing.route(session, store_id=store.id, kind=Kind.sms, settings=settings)
    assert isinstance(route.config, twilio_sms.Config)
    assert route.config.status_callback_url == url

    # when Twilio posts an interim then a final receipt, signed
    sent = {"MessageSid": sid, "MessageStatus": "sent", "AccountSid": SID, "To": "+14155550123"}
    answer = client.post(
        "/hooks/channels/twilio_sms/acme", content=urlencode(sent), headers=_signed(url, sent)
    )
    assert answer.status_code == 200, answer.text
    delivered = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": SID, "To": "+14155550123"}
    headers = {**_signed(url, delivered), "I-Twilio-Idempotency-Token": "tok-1"}
    assert (
        client.post(
            "/hooks/channels/twilio_sms/acme", content=urlencode(delivered), headers=headers
        ).status_code
        == 200
    )
    # then the message is delivered
    with transaction(factory) as session:
        message = session.get(Message, message_pk)
        assert message is not None
        assert message.status == "delivered"
        assert message.delivered_at is not None

    # a replay of the same delivery (same token) is acknowledged, recorded as a duplicate, not applied again
    replay = client.post("/hooks/channels/twilio_sms/acme", content=urlencode(delivered), headers=headers)
    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"

    # a receipt with a wrong signature, or signed for another URL, or none, is a 401 and changes nothing
    failed = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30005", "AccountSid": SID}
    for bad in (
        _signed(url, failed, token="not-the-token"),
        _signed("https://evil.example/hooks/channels/twilio_sms/acme", failed),
        {"Content-Type": "application/x-www-form-urlencoded"},
    ):
        refused = client.post("/hooks/channels/twilio_sms/acme", content=urlencode(failed), headers=bad)
        assert refused.status_code == 401
    # a tampered body under a valid signature is refused too
    tampered = client.post(
        "/hooks/channels/twilio_sms/acme",
        content=urlencode({**delivered, "MessageStatus": "failed"}),
        headers=_signed(url, delivered),
    )
    assert tampered.status_code == 401
    with transaction(factory) as session:
        message = session.get(Message, message_pk)
        assert message is not None
        assert message.status == "delivered"
        events = list(
            session.scalars(
                select(InboundEvent).where(InboundEvent.source == "twilio_sms").order_by(InboundEvent.id)
            )
        )
    # every request was recorded raw first: 2 applied, 1 duplicate, 4 rejected
    assert [e.status for e in events].count("applied") == 2
    assert [e.status for e in events].count("duplicate") == 1
    assert [e.status for e in events].count("rejected") == 4
    assert all(e.body for e in events)


def test_a_failure_receipt_fails_the_message_with_the_error(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    client.put(
        "/api/v1/channels/whatsapp", headers=store.headers,
        json={"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550100"},
    )  # fmt: skip
    sid = "SM" + "d" * 32
    message_pk = _sent_message(client, factory, store, sid)
    url = "https://track.example/hooks/channels/whatsapp/acme"
    failed = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016", "AccountSid": SID}
    assert (
        client.post(
            "/hooks/channels/whatsapp/acme", content=urlencode(failed), headers=_signed(url, failed)
        ).status_code
        == 200
    )
    with transaction(factory) as session:
        message = session.get(Message, message_pk)
        assert message is not None
        assert message.status == "failed"
        assert "63016" in (message.reason or "")
    # channels without receipts have no door
    assert client.post("/hooks/channels/smtp/acme", content=b"x").status_code == 404
