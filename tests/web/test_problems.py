"""Every bad request gets an RFC 9457 problem that names the field and the fix, and writes nothing."""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from doorstep.app import create_app
from doorstep.config import Settings
from doorstep.db import transaction
from doorstep.stores import service as store_service
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey

ORDERS = "/api/v1/orders"
PROBLEM = "application/problem+json"
TYPE_BASE = "https://doorstep.dev/problems/"


def order_count(client: TestClient, store: StoreWithKey) -> int:
    response = client.get(ORDERS, params={"limit": 200}, headers=store.headers)
    assert response.status_code == 200, response.text
    return len(response.json()["data"])


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def changed(path: str, value: Any) -> bytes:
    """order_body() with the value at a dotted path (``line_items.0.quantity``) replaced."""
    body: Any = order_body()
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return raw(body)


def without(*fields: str) -> bytes:
    body = order_body()
    for field in fields:
        del body[field]
    return raw(body)


JSON = {"Content-Type": "application/json"}

# (case id, raw body, extra headers, the field the problem must name)
BAD_ORDERS: list[tuple[str, bytes, dict[str, str], str]] = [
    ("malformed-json", b'{"number": "#1", ', JSON, "body"),
    ("trailing-garbage", raw(order_body()) + b"}", JSON, "body"),
    ("empty-body", b"", JSON, "body"),
    ("array-not-object", b'[{"number": "#1"}]', JSON, "body"),
    ("string-not-object", b'"an order"', JSON, "body"),
    ("missing-number", without("number"), JSON, "number"),
    ("missing-line-items", without("line_items"), JSON, "line_items"),
    ("no-line-items", changed("line_items", []), JSON, "line_items"),
    ("number-not-string", changed("number", 1001), JSON, "number"),
    ("line-items-not-array", changed("line_items", "two tees"), JSON, "line_items"),
    ("customer-not-object", changed("customer", "ana@example.com"), JSON, "customer"),
    ("quantity-not-integer", changed("line_items.0.quantity", "two"), JSON, "line_items.0.quantity"),
    ("negative-quantity", changed("line_items.0.quantity", -1), JSON, "line_items.0.quantity"),
    ("zero-quantity", changed("line_items.0.quantity", 0), JSON, "line_items.0.quantity"),
    ("negative-price", changed("line_items.1.unit_price_minor", -100), JSON, "line_items.1.unit_price_minor"),
    (
        "fractional-price",
        changed("line_items.0.unit_price_minor", 68.5),
        JSON,
        "line_items.0.unit_price_minor",
    ),
    ("fractional-shipping", changed("shipping_minor", 6.95), JSON, "shipping_minor"),
    ("unknown-currency", changed("currency", "ZZZ"), JSON, "currency"),
    ("currency-not-code", changed("currency", "dollars"), JSON, "currency"),
    ("invalid-email", changed("customer.email", "ana-at-example.com"), JSON, "customer.email"),
    ("invalid-phone", changed("customer.phone", "12345"), JSON, "customer.phone"),
    ("phone-without-country", changed("customer.phone", "415 555 0100"), JSON, "customer.phone"),
    ("naive-datetime", changed("placed_at", "2026-11-20T15:04:05"), JSON, "placed_at"),
    ("not-a-datetime", changed("placed_at", "last tuesday"), JSON, "placed_at"),
    ("unknown-timezone", changed("customer.timezone", "Mars/Olympus"), JSON, "customer.timezone"),
    ("unknown-field", changed("colour", "red"), JSON, "colour"),
    ("unknown-nested-field", changed("line_items.0.colour", "red"), JSON, "line_items.0.colour"),
    ("discount-over-line", changed("line_items.1.discount_minor", 5000), JSON, "line_items.1"),
]


@pytest.mark.parametrize(
    ("body", "headers", "field"), [case[1:] for case in BAD_ORDERS], ids=[case[0] for case in BAD_ORDERS]
)
def test_a_bad_order_is_a_problem_naming_the_field_and_a_fix(
    client: TestClient, store: StoreWithKey, body: bytes, headers: dict[str, str], field: str
) -> None:
    # when a bad order is posted
    response = client.post(ORDERS, content=body, headers={**store.headers, **headers})

    # then the answer is a 422 problem document naming the field, what is wrong, and how to fix it
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == TYPE_BASE + "validation-error"
    assert problem["title"] == "Invalid input"
    assert problem["status"] == 422
    assert problem["instance"] == ORDERS
    assert field in problem["detail"]
    [named] = [e for e in problem["errors"] if e["field"] == field]
    assert named["message"]
    assert named["fix"]
    assert all(e["fix"] for e in problem["errors"])
    # and nothing was written
    assert order_count(client, store) == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_body_that_is_not_json_is_a_415_problem(
    client: TestClient, store: StoreWithKey, content_type: str
) -> None:
    # when an order is posted with a non-JSON Content-Type
    response = client.post(
        ORDERS, content=raw(order_body()), headers={**store.headers, "Content-Type": content_type}
    )

    # then it is refused as an unsupported media type naming the header and the fix, before it is read
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == TYPE_BASE + "unsupported-media-type"
    assert problem["status"] == 415
    assert problem["errors"] == [
        {"field": "Content-Type", "message": "is not JSON", "fix": "send Content-Type: application/json"}
    ]
    assert order_count(client, store) == 0
    assert client.get("/api/v1/events", headers=store.headers).json()["data"] == []


def test_a_missing_field_problem_lists_every_missing_field(client: TestClient, store: StoreWithKey) -> None:
    response = client.post(ORDERS, json={}, headers=store.headers)

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": name, "message": "Field required", "fix": "add this field"}
        for name in ("number", "placed_at", "currency", "line_items")
    ]


def test_each_wrong_type_says_what_to_send(client: TestClient, store: StoreWithKey) -> None:
    body = order_body(number=1001, line_items="two tees", customer="ana@example.com")

    response = client.post(ORDERS, json=body, headers=store.headers)

    assert response.status_code == 422
    fixes = {e["field"]: e["fix"] for e in response.json()["errors"]}
    assert fixes == {
        "number": "send a string",
        "line_items": "send a JSON array",
        "customer": "send a JSON object",
    }


def test_fractional_money_asks_for_minor_units(client: TestClient, store: StoreWithKey) -> None:
    response = client.post(ORDERS, content=changed("shipping_minor", 6.95), headers=store.headers)

    [problem] = response.json()["errors"]
    assert problem["field"] == "shipping_minor"
    assert problem["fix"] == "send a whole number (amounts are integer minor units, e.g. 1999 for 19.99)"


@pytest.mark.parametrize(
    ("path", "value", "fix"),
    [
        ("currency", "ZZZ", "send a three-letter code such as USD or EUR"),
        ("customer.email", "ana-at-example.com", "send an address like ana@example.com"),
        ("customer.phone", "12345", "send E.164 with country code, e.g. +14155550100"),
        ("placed_at", "2026-11-20T15:04:05", "send ISO 8601 with an offset, e.g. 2026-11-23T10:00:00Z"),
        ("colour", "red", "remove this field; it is not part of the request"),
    ],
    ids=["currency", "email", "phone", "naive-datetime", "unknown-field"],
)
def test_field_problems_carry_a_specific_fix(
    client: TestClient, store: StoreWithKey, path: str, value: str, fix: str
) -> None:
    response = client.post(ORDERS, content=changed(path, value), headers=store.headers)

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": path, "message": response.json()["errors"][0]["message"], "fix": fix}
    ]


# --- size -----------------------------------------------------------------------------------------------


@pytest.fixture
def small_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app on the same database, accepting bodies of at most 2048 bytes."""
    small = settings.model_copy(update={"api": settings.api.model_copy(update={"max_body_bytes": 2048})})
    with TestClient(create_app(small, engine=engine)) as client:
        yield client


def test_an_oversized_body_is_a_413_problem(
    small_client: TestClient, client: TestClient, store: StoreWithKey
) -> None:
    # given a body of more than 2048 bytes
    body = raw(order_body(note="x" * 3000))
    assert len(body) > 2048

    # when it is posted with its Content-Length
    response = small_client.post(ORDERS, content=body, headers={**store.headers, **JSON})

    # then it is refused before it is read, with a fix, and nothing was written or recorded
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == TYPE_BASE + "payload-too-large"
    assert problem["status"] == 413
    assert problem["detail"] == "the request body exceeds 2048 bytes: send a smaller body or split it"
    assert order_count(client, store) == 0
    assert client.get("/api/v1/events", headers=store.headers).json()["data"] == []


def test_an_oversized_streamed_body_is_a_413_problem(
    small_client: TestClient, client: TestClient, store: StoreWithKey
) -> None:
    # given a body sent in chunks, with no Content-Length to check up front
    body = raw(order_body(note="x" * 3000))

    def chunks() -> Iterator[bytes]:
        yield body[:1500]
        yield body[1500:]

    # when it is posted
    response = small_client.post(ORDERS, content=chunks(), headers={**store.headers, **JSON})

    # then the limit still applies
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert order_count(client, store) == 0


def test_a_body_under_the_limit_is_accepted(small_client: TestClient, store: StoreWithKey) -> None:
    body = raw(order_body())
    assert len(body) < 2048

    response = small_client.post(ORDERS, content=body, headers={**store.headers, **JSON})

    assert response.status_code == 201, response.text


# --- routes ---------------------------------------------------------------------------------------------


def test_an_unknown_route_is_a_404_problem(client: TestClient, store: StoreWithKey) -> None:
    response = client.get("/api/v1/parcels", headers=store.headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == TYPE_BASE + "not-found"
    assert problem["status"] == 404
    assert problem["instance"] == "/api/v1/parcels"
    assert "/api/docs" in problem["detail"]


def test_an_unsupported_method_is_a_405_problem(client: TestClient, store: StoreWithKey) -> None:
    response = client.delete(ORDERS, headers=store.headers)

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == TYPE_BASE + "method-not-allowed"


# --- authentication -------------------------------------------------------------------------------------


def revoked_key(factory: sessionmaker[Session], store: StoreWithKey) -> str:
    with transaction(factory) as session:
        issued = store_service.create_api_key(session, store_id=store.id, name="old")
        store_service.revoke_api_key(session, key_id=issued.key.public_id)
        return issued.secret


def bad_credentials(factory: sessionmaker[Session], store: StoreWithKey) -> dict[str, dict[str, str]]:
    lookup = store.key.split("_")[1]
    return {
        "unknown": {"Authorization": f"Bearer dsk_{'0' * 12}_{'x' * 43}"},
        "wrong-secret": {"Authorization": f"Bearer dsk_{lookup}_{'x' * 43}"},
        "revoked": {"Authorization": f"Bearer {revoked_key(factory, store)}"},
        "malformed": {"Authorization": "Bearer not-a-doorstep-key"},
        "truncated": {"Authorization": f"Bearer dsk_{lookup}"},
        "other-scheme": {"Authorization": f"Basic {store.key}"},
        "missing": {},
    }


def test_every_bad_api_key_gets_the_same_401(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    # given unknown, revoked, malformed, truncated and missing credentials
    credentials = bad_credentials(factory, store)

    # when each reads the orders
    responses = {name: client.get(ORDERS, headers=headers) for name, headers in credentials.items()}

    # then every one is the same 401 problem, with a challenge and no hint of what was wrong
    for response in responses.values():
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["WWW-Authenticate"] == "Bearer"
    bodies = {name: r.content for name, r in responses.items()}
    assert len(set(bodies.values())) == 1, bodies
    assert responses["revoked"].json() == {
        "type": TYPE_BASE + "unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": "a valid API key is required: send Authorization: Bearer dsk_…",
        "instance": ORDERS,
    }


def test_a_write_with_a_bad_key_is_neither_applied_nor_recorded(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    for headers in bad_credentials(factory, store).values():
        response = client.post(ORDERS, json=order_body(), headers=headers)
        assert response.status_code == 401

    assert order_count(client, store) == 0
    assert client.get("/api/v1/events", headers=store.headers).json()["data"] == []


def test_the_right_key_still_works(client: TestClient, store: StoreWithKey) -> None:
    response = client.get("/api/v1/stores/me", headers=store.headers)

    assert response.status_code == 200
    assert response.json()["slug"] == "acme"


# --- the inbound log ------------------------------------------------------------------------------------


def rejected_events(client: TestClient, store: StoreWithKey) -> list[dict[str, Any]]:
    response = client.get("/api/v1/events", params={"status": "rejected"}, headers=store.headers)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


def test_a_rejected_payload_is_kept_in_the_inbound_log_with_its_reason(
    client: TestClient, store: StoreWithKey
) -> None:
    # given an order without a number, sent with idiosyncratic spacing
    body = without("number").replace(b", ", b",  ")

    # when it is posted
    response = client.post(ORDERS, content=body, headers=store.headers)

    # then the answer names the event, and the log keeps it as rejected with its reason and exact bytes
    assert response.status_code == 422
    event_id = response.headers["X-Doorstep-Event"]
    [event] = rejected_events(client, store)
    assert event["id"] == event_id
    assert event["source"] == "api"
    assert event["topic"] == "orders.create"
    assert event["status"] == "rejected"
    assert event["attempts"] == 1
    assert event["applied_at"] is None
    assert "number" in event["reason"]
    assert event["errors"] == [{"field": "number", "message": "Field required", "fix": "add this field"}]
    shown = client.get(f"/api/v1/events/{event_id}", headers=store.headers).json()
    assert shown["body"] == body.decode()


def test_malformed_json_is_kept_byte_for_byte(client: TestClient, store: StoreWithKey) -> None:
    body = b'{"number": "#1",\n  "currency": "US'

    response = client.post(ORDERS, content=body, headers={**store.headers, **JSON})

    assert response.status_code == 422
    [event] = rejected_events(client, store)
    assert event["reason"].startswith("body: is not valid JSON")
    assert client.get(f"/api/v1/events/{event['id']}", headers=store.headers).json()["body"] == body.decode()


def test_a_rejected_write_to_an_unknown_subject_is_logged(client: TestClient, store: StoreWithKey) -> None:
    response = client.post(
        "/api/v1/shipments/shp_000000000000000000000000/checkpoints",
        json={"checkpoints": [{"occurred_at": "2026-11-21T12:00:00Z", "status": "in_transit"}]},
        headers=store.headers,
    )

    assert response.status_code == 404
    [event] = rejected_events(client, store)
    assert event["topic"] == "checkpoints.create"
    assert event["reason"] == "shipment shp_000000000000000000000000 not found"


def test_an_accepted_write_is_logged_as_applied(client: TestClient, store: StoreWithKey) -> None:
    response = client.post(ORDERS, json=order_body(), headers=store.headers)

    assert response.status_code == 201
    events = client.get("/api/v1/events", params={"status": "applied"}, headers=store.headers).json()["data"]
    assert [(e["id"], e["subject"], e["milestones"]) for e in events] == [
        (response.headers["X-Doorstep-Event"], response.json()["id"], ["order.placed"])
    ]
    assert rejected_events(client, store) == []


def problem_fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def test_query_parameters_are_named_too(client: TestClient, store: StoreWithKey) -> None:
    response = client.get(ORDERS, params={"limit": 0}, headers=store.headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert problem_fields(response) == ["query.limit"]
    assert response.json()["errors"][0]["fix"] == "send a value at or above the minimum"
