"""/api/v1/templates: overrides per store, milestone, kind and locale; 422 at save time; preview; test-send."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import ChannelSettings, Environment, SecuritySettings, Settings
from doorstep.db import transaction
from doorstep.integrations.channels.protocol import Kind
from doorstep.messaging import render
from doorstep.messaging.context import sample_context
from doorstep.outbox import service as outbox_service
from tests.conftest import TEST_SECRET
from tests.factories.stores import StoreWithKey

SMS = "{{ store.name }}: {{ order.number }} est parti ! {{ links.tracking }}"
MJML = (
    "<mjml><mj-body><mj-section><mj-column>"
    '<mj-text color="{{ store.primary_color }}">Bonjour {{ customer.first_name }}, commande {{ order.number }}</mj-text>'
    "</mj-column></mj-section></mj-body></mjml>"
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test, database_url=database_url, data_dir=tmp_path, base_url="https://track.example",
        security=SecuritySettings(secret_key=SecretStr(TEST_SECRET)), channels=ChannelSettings(devbox=True),
    )  # fmt: skip


def test_an_override_replaces_the_default_for_its_locale_only(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    # given a French SMS override for "shipped"
    created = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.shipped", "kind": "sms", "locale": "fr-FR", "body": SMS},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["locale"] == "fr"
    # when messaging renders French and German SMS for that store
    with transaction(factory) as session:
        french = render.render(
            session,
            store_id=store.id,
            milestone="shipment.shipped",
            kind=Kind.sms,
            locale="fr",
            context=sample_context(),
        )
        german = render.render(
            session,
            store_id=store.id,
            milestone="shipment.shipped",
            kind=Kind.sms,
            locale="de",
            context=sample_context(),
        )
        other_store_french = render.render(
            session,
            store_id=store.id + 1000,
            milestone="shipment.shipped",
            kind=Kind.sms,
            locale="fr",
            context=sample_context(),
        )
    # then French uses the override, German the shipped default, and no other store is affected
    assert french.text == "Acme Outfitters: #1042 est parti ! https://doorstep.example/t/sample-token"
    assert german.text.startswith("Acme Outfitters: Deine Bestellung #1042")
    assert other_store_french.text.startswith("Acme Outfitters : votre commande #1042")


def test_a_template_that_does_not_render_is_a_422_and_nothing_is_saved(
    client: TestClient, store: StoreWithKey
) -> None:
    broken = [
        ({"body": "Hi {{ customer.first_name"}, "body", "does not compile"),
        ({"body": "Hi {{ shopper.name }}"}, "body", "undefined"),
        ({"body": "{{ ''.__class__.__mro__ }}"}, "body", "sandbox"),
    ]
    for fields, field, reason in broken:
        answer = client.post(
            "/api/v1/templates", headers=store.headers,
            json={"milestone": "shipment.delivered", "kind": "sms", "locale": "en", **fields},
        )  # fmt: skip
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["errors"][0]["field"] == field
        assert reason in problem["errors"][0]["message"]
        assert problem["errors"][0]["fix"]
    # email needs a subject, and the subject is checked too
    no_subject = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.delivered", "kind": "email", "locale": "en", "body": MJML},
    )  # fmt: skip
    assert no_subject.status_code == 422
    assert no_subject.json()["errors"][0]["field"] == "subject"
    bad_subject = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.delivered", "kind": "email", "locale": "en", "body": MJML, "subject": "{% if %}"},
    )  # fmt: skip
    assert bad_subject.status_code == 422
    assert bad_subject.json()["errors"][0]["field"] == "subject"
    unknown = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.teleported", "kind": "sms", "locale": "en", "body": "x"},
    )  # fmt: skip
    assert unknown.status_code == 422
    assert client.get("/api/v1/templates", headers=store.headers).json()["data"] == []


def test_update_is_checked_and_a_bad_update_keeps_the_saved_version(
    client: TestClient, store: StoreWithKey
) -> None:
    created = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.shipped", "kind": "email", "locale": "fr", "subject": "Commande {{ order.number }}", "body": MJML},
    ).json()  # fmt: skip
    bad = client.patch(
        f"/api/v1/templates/{created['id']}", headers=store.headers, json={"body": "<mjml>{{ nope }}</mjml>"}
    )
    assert bad.status_code == 422
    assert client.get(f"/api/v1/templates/{created['id']}", headers=store.headers).json()["body"] == MJML
    good = client.patch(
        f"/api/v1/templates/{created['id']}",
        headers=store.headers,
        json={"subject": "Expédiée : {{ order.number }}"},
    )
    assert good.status_code == 200
    assert good.json()["subject"] == "Expédiée : {{ order.number }}"
    # a second template for the same milestone, kind and locale is a conflict, not a duplicate
    again = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.shipped", "kind": "email", "locale": "fr", "subject": "x", "body": MJML},
    )  # fmt: skip
    assert again.status_code == 409


def test_preview_with_sample_or_given_data(client: TestClient, store: StoreWithKey) -> None:
    # a default, by its readable id
    default = client.post("/api/v1/templates/shipment.delayed:email:es/preview", headers=store.headers)
    assert default.status_code == 200, default.text
    body = default.json()
    assert body["subject"] == "Lo sentimos, tu pedido #1042 se retrasa"
    assert "<html" in body["html"]
    assert "SORRY10" in body["text"]
    # an override, with the merchant's own data
    created = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.shipped", "kind": "sms", "locale": "en", "body": "{{ order.number }} for {{ customer.first_name }}"},
    ).json()  # fmt: skip
    data = sample_context().model_dump(mode="json")
    data["customer"]["first_name"] = "Zoë"
    data["order"]["number"] = "#77"
    given = client.post(
        f"/api/v1/templates/{created['id']}/preview", headers=store.headers, json={"context": data}
    )
    assert given.status_code == 200, given.text
    # (ë is not GSM-7: the SMS folds it to e, so the message stays one cheap GSM-7 segment)
    assert given.json() == {
        "kind": "sms", "locale": "en", "subject": None, "html": None, "text": "#77 for Zoe", "segments": 1, "encoding": "GSM-7",
    }  # fmt: skip
    missing = client.post("/api/v1/templates/shipment.shipped:fax:en/preview", headers=store.headers)
    assert missing.status_code == 404


def test_test_send_goes_through_the_stores_channel(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    sent = client.post(
        "/api/v1/templates/shipment.out_for_delivery:email:de/test-send", headers=store.headers,
        json={"to": "Merchant@Acme.example"},
    )  # fmt: skip
    assert sent.status_code == 200, sent.text
    assert sent.json()["channel"] == "devbox"
    assert sent.json()["to"] == "Merchant@acme.example"
    with transaction(factory) as session:
        (row,), _ = outbox_service.list_messages(session, store_id=store.id)
        assert row.subject == "Deine Bestellung #1042 wird heute zugestellt"
        assert row.to_address == "Merchant@acme.example"
        assert row.details["test_send"] is True
    bad = client.post(
        "/api/v1/templates/shipment.shipped:sms:en/test-send",
        headers=store.headers,
        json={"to": "not a phone"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "to"


def test_templates_are_invisible_to_other_stores(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    created = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.shipped", "kind": "sms", "locale": "en", "body": SMS},
    ).json()  # fmt: skip
    for method, path in (
        ("GET", f"/api/v1/templates/{created['id']}"),
        ("PATCH", f"/api/v1/templates/{created['id']}"),
        ("DELETE", f"/api/v1/templates/{created['id']}"),
        ("POST", f"/api/v1/templates/{created['id']}/preview"),
        ("POST", f"/api/v1/templates/{created['id']}/test-send"),
    ):
        json = (
            {"to": "+14155550123"}
            if path.endswith("test-send")
            else ({"body": "x"} if method == "PATCH" else None)
        )
        answer = client.request(method, path, headers=other_store.headers, json=json)
        assert answer.status_code == 404, (method, path, answer.text)
    assert client.get("/api/v1/templates", headers=other_store.headers).json()["data"] == []
    assert client.get(f"/api/v1/templates/{created['id']}", headers=store.headers).status_code == 200


def test_an_override_that_fails_on_real_data_falls_back_to_the_default_and_says_why(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    # given an override that works with the sample (three-letter carrier) but not with every real parcel
    created = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "shipment.shipped", "kind": "sms", "locale": "en",
              "body": "{{ order.number }} via {{ {'UPS': 'brown'}[shipment.carrier] }}"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    real = sample_context().model_copy(
        update={"shipment": sample_context().shipment.model_copy(update={"carrier": "DHL Express"})}  # type: ignore[union-attr]
    )
    # when messaging renders it for a DHL parcel
    with transaction(factory) as session:
        rendered = render.render(
            session, store_id=store.id, milestone="shipment.shipped", kind=Kind.sms, locale="en", context=real
        )
    # then the shopper still gets the default, and the merchant sees why their template was skipped
    assert rendered.text.startswith("Acme Outfitters: your order #1042 has shipped with DHL Express.")
    saved = client.get(f"/api/v1/templates/{created.json()['id']}", headers=store.headers).json()
    assert "DHL Express" in saved["last_failure"]
    assert saved["last_failure_at"] is not None


def test_an_order_template_cannot_rely_on_a_parcel(client: TestClient, store: StoreWithKey) -> None:
    answer = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "order.placed", "kind": "sms", "locale": "en", "body": "{{ shipment.carrier }}"},
    )  # fmt: skip
    assert answer.status_code == 422
    ok = client.post(
        "/api/v1/templates", headers=store.headers,
        json={"milestone": "order.placed", "kind": "sms", "locale": "en",
              "body": "Thanks! {% if shipment %}{{ shipment.carrier }}{% endif %}{{ order.number }}"},
    )  # fmt: skip
    assert ok.status_code == 201, ok.text
