"""Shopify: pure parsing of every stored payload, HMAC verification, and webhooks through the real door.

Payloads come from ../shared/data/shopify-webhooks (see its SOURCES.md): Shopify's docs samples (checked
against explicit values), anonymized real deliveries (shape only: they must parse or give a reason, never
crash) and REST resource fixtures (unwrapped, as webhooks send them).
"""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.customers.commands import Channel, ConsentInput, UpsertCustomer
from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.inbound import service as inbound_service
from doorstep.inbound.models import EventStatus
from doorstep.integrations.commerce import registry, shopify
from doorstep.integrations.commerce.protocol import CommerceSource, Parsed, Unsupported
from doorstep.orders import service as order_service
from doorstep.orders.commands import CancelOrderByRef, RecordRefund, UpsertOrder
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import ApplyFulfillmentEvent, ApplyTracking, UpsertFulfillment
from doorstep.shipments.status import Status, Substatus, is_valid_pair
from doorstep.stores import service as store_service
from tests.factories.stores import StoreWithKey

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "shopify-webhooks"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real Shopify payloads not present at {DATA}")

SOURCE = shopify.SOURCE
# Topics the anonymized exemplars and REST fixtures stand for (their folder or file names the resource).
EXEMPLAR_TOPICS = {
    "orders": "orders/updated",
    "customers": "customers/update",
    "fulfillments": "fulfillments/update",
    "refunds": "refunds/create",
}
FIXTURE_TOPICS = {
    "order": "orders/create",
    "customer": "customers/create",
    "fulfillment": "fulfillments/create",
    "refund": "refunds/create",
}


def payloads() -> list[str]:
    return sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.json")) if DATA.is_dir() else []


def load(relative: str) -> tuple[str, bytes]:
    """(topic, body bytes as a webhook would deliver them) for a stored payload."""
    kind, *rest = Path(relative).parts
    raw = (DATA / relative).read_bytes()
    if kind == "docs-samples":
        return rest[0].replace("__", "/"), raw
    if kind == "anonymized-exemplars":
        return EXEMPLAR_TOPICS[rest[0]], raw
    stem = Path(relative).stem  # REST fixtures are wrapped in their resource key; webhooks are not
    return FIXTURE_TOPICS[stem], json.dumps(json.loads(raw)[stem]).encode()


def parse(relative: str) -> Parsed:
    return SOURCE.parse(*load(relative))


T = TypeVar("T")


def only(parsed: Parsed, kind: type[T]) -> T:
    found = [c for c in parsed.commands if isinstance(c, kind)]
    assert len(found) == 1, parsed
    return found[0]


# --- (a) every stored payload, parsed purely -------------------------------------------------------------


@pytest.mark.parametrize("relative", payloads())
def test_every_stored_payload_parses_or_says_why(relative: str) -> None:
    # when any stored payload is parsed for its topic
    parsed = parse(relative)

    # then it yields commands, or a deliberate skip, or a reason naming what could not be read
    assert parsed.commands or parsed.ignored or parsed.errors
    for error in parsed.errors:
        assert ":" in error  # "<topic> <object> <id>: <field>: <why>"
    if relative.startswith(("docs-samples", "rest-resource-fixtures")):
        assert parsed.errors == []
    # and parsing is pure: the same bytes give the same result
    assert SOURCE.parse(*load(relative)) == parsed


ORDER_9999 = {  # Shopify's sample order: 3 lines in these versions, cancelled by the customer
    "external_id": "820982911946154500",  # the scrape's rounded id, consistent across its samples
    "number": "#9999",
    "currency": "USD",
    "placed_at": datetime(2022, 1, 1, 0, 0, tzinfo=UTC),
    "shipping_minor": 1000,
    "tax_minor": 0,
    "discount_minor": 2000,
    "total_minor": 35997,
    "tags": ("tag1", "tag2"),
    "cancel_reason": "customer",
    "lines": 3,
    "email": "john@example.com",
}
ORDERS = {
    "docs-samples/orders__create/2024-07.json": ORDER_9999,
    "docs-samples/orders__create/2025-04.json": ORDER_9999,
    "docs-samples/orders__create/2025-10.json": ORDER_9999,
    "docs-samples/orders__create/2026-04.json": {**ORDER_9999, "total_minor": 40495, "lines": 5},
    "rest-resource-fixtures/order.json": {
        "external_id": "450789469", "number": "#1001", "currency": "USD",
        "placed_at": datetime(2008, 1, 10, 16, 0, tzinfo=UTC), "shipping_minor": 0, "tax_minor": 1194,
        "discount_minor": 0, "total_minor": 40994, "tags": (), "cancel_reason": None, "lines": 3,
        "email": "bob.norman@hostmail.com",
    },
}  # fmt: skip


@pytest.mark.parametrize(("relative", "want"), ORDERS.items(), ids=list(ORDERS))
def test_orders_become_upsert_order(relative: str, want: dict[str, Any]) -> None:
    parsed = parse(relative)
    order = only(parsed, UpsertOrder)

    assert order.external_id == want["external_id"]
    assert order.number == want["number"]
    assert order.currency == want["currency"]
    assert order.placed_at == want["placed_at"]
    assert order.placed_at.utcoffset() is not None
    assert (order.shipping_minor, order.tax_minor, order.discount_minor) == (
        want["shipping_minor"], want["tax_minor"], want["discount_minor"],
    )  # fmt: skip
    assert order.total_minor == want["total_minor"]
    assert order.tags == want["tags"]
    assert order.cancel_reason == want["cancel_reason"]
    assert len(order.line_items) == want["lines"]
    assert order.customer is not None
    assert order.customer.email == want["email"]
    assert order.source == "shopify"
    assert parsed.commands == [order]


def test_the_sample_order_in_detail() -> None:
    parsed = parse("docs-samples/orders__create/2026-04.json")
    order = only(parsed, UpsertOrder)

    # lines keep Shopify's ids as strings, prices in cents
    sunglasses = order.line_items[0]
    assert (sunglasses.external_id, sunglasses.product_id, sunglasses.variant_id) == (
        "487817672276298560", "788032119674292900", None,
    )  # fmt: skip
    assert (sunglasses.sku, sunglasses.title, sunglasses.quantity, sunglasses.unit_price_minor) == (
        "SKU2006-001", "Aviator sunglasses", 1, 8999,
    )  # fmt: skip
    # the shipping address keeps ISO codes; its phone "555-555-SHIP" is dropped with the reason
    assert order.shipping_address is not None
    assert order.shipping_address.model_dump(exclude_none=True) == {
        "name": "Steve Shipper", "company": "Shipping Company", "line1": "123 Shipping Street",
        "city": "Shippington", "region": "KY", "postal_code": "40003", "country": "US",
    }  # fmt: skip
    assert parsed.ignored == [
        "order 820982911946154500: shipping_address.phone '555-555-SHIP' is not a valid phone number: dropped"
    ]
    # the shopper: Shopify's customer id, names and locale
    assert order.customer == UpsertCustomer(
        external_id="115310627314723950", email="john@example.com", first_name="John", last_name="Smith",
        locale="en",
    )  # fmt: skip
    assert order.cancelled_at == datetime(2022, 1, 1, 0, 0, tzinfo=UTC)


CUSTOMERS = {
    "docs-samples/customers__create/2024-01.json": ("706405506930370000", "bob@biller.com"),
    "docs-samples/customers__create/2025-04.json": ("706405506930370000", None),
    "docs-samples/customers__create/2026-04.json": ("706405506930370000", "bob@biller.com"),
    "rest-resource-fixtures/customer.json": ("207119551", "bob.norman@hostmail.com"),
}


@pytest.mark.parametrize(("relative", "want"), CUSTOMERS.items(), ids=list(CUSTOMERS))
def test_customers_become_upsert_customer(relative: str, want: tuple[str, str | None]) -> None:
    customer = only(parse(relative), UpsertCustomer)

    assert (customer.external_id, customer.email) == want
    assert customer.first_name == "Bob"


FULFILLMENTS = {
    "docs-samples/fulfillments__create/2023-07.json": ("820982911946154500", "123456", "UPS", ("1z827wk74630",), 2),
    "docs-samples/fulfillments__create/2026-04.json": ("820982911946154500", "123456", "UPS", ("1z827wk74630",), 5),
    "rest-resource-fixtures/fulfillment.json": ("450789469", "255858046", "null-company", ("1Z2345",), 1),
}  # fmt: skip


@pytest.mark.parametrize(("relative", "want"), FULFILLMENTS.items(), ids=list(FULFILLMENTS))
def test_fulfillments_become_upsert_fulfillment(relative: str, want: tuple[Any, ...]) -> None:
    parsed = parse(relative)
    fulfillment = only(parsed, UpsertFulfillment)

    order, external, carrier, numbers, lines = want
    assert (fulfillment.order_external_id, fulfillment.external_id, fulfillment.carrier) == (
        order,
        external,
        carrier,
    )
    assert fulfillment.tracking_numbers == numbers
    assert len(fulfillment.lines) == lines
    assert all(line.quantity == 1 for line in fulfillment.lines)
    assert fulfillment.is_cancelled is False
    assert fulfillment.shipped_at is not None
    assert parsed.commands == [fulfillment]  # shipment_status is null: nothing to track yet


def test_the_fulfillment_event_sample_becomes_apply_fulfillment_event() -> None:
    event = only(parse("docs-samples/fulfillment_events__create/2026-04.json"), ApplyFulfillmentEvent)

    assert (event.order_external_id, event.fulfillment_external_id) == ("820982911946154500", "123456")
    checkpoint = event.checkpoint
    assert (checkpoint.status, checkpoint.raw_code, checkpoint.message) == (
        Status.in_transit, "in_transit", "Item is now in transit",
    )  # fmt: skip
    assert checkpoint.occurred_at == datetime(2022, 1, 1, 0, 0, tzinfo=UTC)
    assert checkpoint.country == "CA"
    assert event.estimated_delivery_on is None


REFUNDS = {  # (amount in cents, lines): transactions when Shopify sends them, else the lines
    "docs-samples/refunds__create/2023-07.json": (39800, 2),
    "docs-samples/refunds__create/2024-04.json": (8500, 2),
    "docs-samples/refunds__create/2025-04.json": (8500, 3),
    "docs-samples/refunds__create/2026-04.json": (8500, 5),
    "rest-resource-fixtures/refund.json": (20900, 2),
}


@pytest.mark.parametrize(("relative", "want"), REFUNDS.items(), ids=list(REFUNDS))
def test_refunds_become_record_refund(relative: str, want: tuple[int, int]) -> None:
    refund = only(parse(relative), RecordRefund)

    assert (refund.amount_minor, len(refund.lines)) == want
    assert refund.currency == "USD"
    assert refund.processed_at.utcoffset() is not None


def test_the_refund_sample_in_detail() -> None:
    refund = only(parse("docs-samples/refunds__create/2026-04.json"), RecordRefund)

    assert (refund.order_external_id, refund.external_id) == ("820982911946154500", "890088186047892400")
    assert refund.lines[0].model_dump() == {
        "line_external_id": "487817672276298560", "quantity": 1, "restock_type": "no_restock",
    }  # fmt: skip


IGNORED = [
    p for p in payloads() if p.startswith(("docs-samples/returns__", "docs-samples/reverse_deliveries__"))
]


@pytest.mark.parametrize("relative", IGNORED)
def test_returns_topics_are_acknowledged_and_skipped_with_a_reason(relative: str) -> None:
    parsed = parse(relative)

    assert (parsed.commands, parsed.errors) == ([], [])
    assert len(parsed.ignored) == 1
    assert "not applied yet" in parsed.ignored[0]


def test_every_docs_sample_has_explicit_expectations() -> None:
    expected = {*ORDERS, *CUSTOMERS, *FULFILLMENTS, *REFUNDS, *IGNORED}
    expected |= {"docs-samples/fulfillment_events__create/2026-04.json"}
    docs = {p for p in payloads() if p.startswith(("docs-samples", "rest-resource-fixtures"))}

    assert docs - expected == set()


EXEMPLARS = {  # anonymized: placeholders such as "example string" where a currency or amount belongs
    "anonymized-exemplars/orders/2023-10_1.json": "orders/updated order 123: currency: 'example string' is not an ISO 4217 currency",
    "anonymized-exemplars/refunds/2025-04_1.json": "refunds/create: refund_line_items.subtotal_set.shop_money.currency_code: 'example string' is not an ISO 4217 currency",
}  # fmt: skip


@pytest.mark.parametrize(("relative", "reason"), EXEMPLARS.items(), ids=list(EXEMPLARS))
def test_placeholder_values_give_a_clear_reason(relative: str, reason: str) -> None:
    parsed = parse(relative)

    assert (parsed.commands, parsed.errors) == ([], [reason])


def test_an_anonymized_fulfillment_keeps_its_unknown_shipment_status() -> None:
    parsed = parse("anonymized-exemplars/fulfillments/2025-04_1.json")

    tracking = only(parsed, ApplyTracking)
    assert (tracking.checkpoints[0].status, tracking.checkpoints[0].substatus) == (
        Status.exception,
        Substatus.other,
    )
    assert parsed.unknown_codes == ["example string"]


# --- the status table ------------------------------------------------------------------------------------

EXPECTED_STATUS = {
    "label_printed": (Status.info_received, None),
    "label_purchased": (Status.info_received, None),
    "confirmed": (Status.info_received, None),
    "carrier_picked_up": (Status.in_transit, None),
    "in_transit": (Status.in_transit, None),
    "delayed": (Status.in_transit, None),
    "out_for_delivery": (Status.out_for_delivery, None),
    "attempted_delivery": (Status.attempt_failed, None),
    "ready_for_pickup": (Status.available_for_pickup, None),
    "picked_up": (Status.delivered, None),
    "delivered": (Status.delivered, None),
    "failure": (Status.exception, Substatus.other),
}


def event_body(status: str, **fields: Any) -> bytes:
    sample = json.loads((DATA / "docs-samples/fulfillment_events__create/2026-04.json").read_text())
    return json.dumps({**sample, "status": status, **fields}).encode()


@pytest.mark.parametrize(("code", "want"), EXPECTED_STATUS.items())
def test_every_documented_fulfillment_event_status_maps_to_one_status(
    code: str, want: tuple[Status, Substatus | None]
) -> None:
    parsed = SOURCE.parse("fulfillment_events/create", event_body(code))
    checkpoint = only(parsed, ApplyFulfillmentEvent).checkpoint

    assert (checkpoint.status, checkpoint.substatus, checkpoint.raw_code) == (*want, code)
    assert parsed.unknown_codes == []
    assert shopify.STATUS_MAP[code] == want


def test_the_status_table_only_names_valid_pairs() -> None:
    assert all(is_valid_pair(status, substatus) for status, substatus in shopify.STATUS_MAP.values())
    assert set(EXPECTED_STATUS) <= set(shopify.STATUS_MAP)


def test_an_unknown_status_falls_back_to_exception_and_is_reported() -> None:
    parsed = SOURCE.parse("fulfillment_events/create", event_body("teleported"))
    checkpoint = only(parsed, ApplyFulfillmentEvent).checkpoint

    assert (checkpoint.status, checkpoint.substatus, checkpoint.raw_code) == (
        Status.exception, Substatus.other, "teleported",
    )  # fmt: skip
    assert parsed.unknown_codes == ["teleported"]


# --- reading rules -----------------------------------------------------------------------------------


def order_sample(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = json.loads((DATA / "docs-samples/orders__create/2026-04.json").read_text())
    order.update(changes)
    return order


def test_ids_are_exact_64_bit_integers_and_never_floats() -> None:
    # a real delivery carries the exact id (the docs scrape rounded it through a float)
    exact = SOURCE.parse("orders/create", json.dumps(order_sample(id=820982911946154508)).encode())
    assert only(exact, UpsertOrder).external_id == "820982911946154508"

    # an id written as a float is refused rather than silently rounded
    rounded = SOURCE.parse("orders/create", json.dumps(order_sample(id=8.209829119461545e17)).encode())
    assert rounded.commands == []
    assert rounded.errors == ["orders/create: id: Input should be a valid integer"]


def test_money_is_exact_whether_sent_as_text_or_as_a_json_number() -> None:
    body = (DATA / "docs-samples/refunds__create/2023-07.json").read_text()
    refund = json.loads(body)
    for line in refund["refund_line_items"]:  # keep only the float-typed fields
        del line["subtotal_set"], line["total_tax_set"]
    refund["refund_line_items"][0]["subtotal"] = 0.1
    refund["refund_line_items"][1]["subtotal"] = 0.2
    refund["total_duties_set"] = {"shop_money": {"amount": "0.00", "currency_code": "USD"}}

    parsed = SOURCE.parse("refunds/create", json.dumps(refund).encode())

    assert only(parsed, RecordRefund).amount_minor == 30  # 0.1 + 0.2 as cents, not 30.000000000000004


def test_phones_are_normalised_with_the_address_country_and_bad_ones_dropped() -> None:
    address = {**order_sample()["shipping_address"], "phone": "(415) 555-2671"}
    customer = {**order_sample()["customer"], "phone": "call me maybe"}
    parsed = SOURCE.parse(
        "orders/create", json.dumps(order_sample(shipping_address=address, customer=customer)).encode()
    )
    order = only(parsed, UpsertOrder)

    assert order.shipping_address is not None
    assert order.shipping_address.phone == "+14155552671"
    assert order.customer is not None
    assert order.customer.phone is None
    assert parsed.ignored == [
        "order 820982911946154500: customer.phone 'call me maybe' is not a valid phone number: dropped"
    ]


def test_marketing_consents_carry_their_source_and_time() -> None:
    customer = {
        "id": 42, "email": "ana@example.com",
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "confirmed_opt_in",
                                    "consent_updated_at": "2026-11-01T10:00:00-03:00"},
        "sms_marketing_consent": {"state": "unsubscribed", "consent_updated_at": "2026-11-02T10:00:00Z"},
    }  # fmt: skip
    pending = {**customer, "email_marketing_consent": {"state": "pending"}, "sms_marketing_consent": None}
    legacy = {"id": 43, "accepts_marketing": True, "accepts_marketing_updated_at": "2020-01-01T00:00:00Z"}

    def consents(body: dict[str, Any]) -> tuple[ConsentInput, ...]:
        return only(SOURCE.parse("customers/update", json.dumps(body).encode()), UpsertCustomer).consents

    assert consents(customer) == (
        ConsentInput(channel=Channel.email, granted=True, source="shopify",
                     recorded_at=datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
        ConsentInput(channel=Channel.sms, granted=False, source="shopify",
                     recorded_at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),
    )  # fmt: skip
    assert consents(pending) == ()  # double opt-in not confirmed yet: no statement
    assert consents(legacy) == (
        ConsentInput(channel=Channel.email, granted=True, source="shopify",
                     recorded_at=datetime(2020, 1, 1, tzinfo=UTC)),
    )  # fmt: skip


def test_line_discounts_stay_on_lines_and_the_rest_is_order_level() -> None:
    lines = order_sample()["line_items"]
    lines[0] = {**lines[0], "total_discount": "5.00", "total_discount_set": None}

    order = only(
        SOURCE.parse("orders/create", json.dumps(order_sample(line_items=lines)).encode()), UpsertOrder
    )

    assert order.line_items[0].discount_minor == 500
    assert order.discount_minor == 2000 - 500  # total_discounts 20.00 includes the line's 5.00


def test_an_unreadable_cancelled_order_still_cancels_by_reference() -> None:
    body = json.dumps(order_sample(currency="example string")).encode()

    parsed = SOURCE.parse("orders/cancelled", body)

    assert parsed.commands == [
        CancelOrderByRef(
            external_id="820982911946154500", reason="customer", cancelled_at=datetime(2022, 1, 1, tzinfo=UTC)
        )
    ]
    assert parsed.errors == []
    assert "applying the cancellation alone" in parsed.ignored[-1]


def test_a_fulfillment_with_a_shipment_status_also_tracks_each_number() -> None:
    sample = json.loads((DATA / "docs-samples/fulfillments__create/2026-04.json").read_text())
    body = {
        **sample,
        "shipment_status": "out_for_delivery",
        "tracking_numbers": ["1Z", "1Z999AA10123456784"],
    }

    parsed = SOURCE.parse("fulfillments/update", json.dumps(body).encode())

    tracking = [c for c in parsed.commands if isinstance(c, ApplyTracking)]
    assert [t.tracking_number for t in tracking] == ["1Z999AA10123456784"]  # "1Z" is too short to track
    assert parsed.ignored == ["fulfillment 123456: tracking number '1Z' is too short to track: skipped"]
    assert tracking[0].order_ref == "820982911946154500"
    assert tracking[0].checkpoints[0].status is Status.out_for_delivery
    assert tracking[0].checkpoints[0].occurred_at == datetime(2022, 1, 1, tzinfo=UTC)  # updated_at


def test_a_cancelled_fulfillment_is_marked_and_not_tracked() -> None:
    sample = json.loads((DATA / "docs-samples/fulfillments__create/2026-04.json").read_text())
    body = {**sample, "status": "cancelled", "shipment_status": "in_transit"}

    parsed = SOURCE.parse("fulfillments/update", json.dumps(body).encode())

    assert only(parsed, UpsertFulfillment).is_cancelled is True
    assert [type(c) for c in parsed.commands] == [UpsertFulfillment]


def test_a_refund_paid_in_another_currency_is_counted_in_the_shop_currency() -> None:
    refund = json.loads((DATA / "docs-samples/refunds__create/2026-04.json").read_text())
    for transaction_ in refund["transactions"]:
        transaction_["currency"] = "EUR"

    parsed = SOURCE.parse("refunds/create", json.dumps(refund).encode())

    found = only(parsed, RecordRefund)
    assert (found.amount_minor, found.currency) == (8999 + 1999 + 2499 + 15999 + 11999, "USD")
    assert "not the shop's USD" in parsed.ignored[0]


def test_pending_refund_transactions_are_not_counted_and_say_so() -> None:
    refund = json.loads((DATA / "docs-samples/refunds__create/2026-04.json").read_text())
    refund["transactions"][1]["status"] = "pending"

    parsed = SOURCE.parse("refunds/create", json.dumps(refund).encode())

    assert only(parsed, RecordRefund).amount_minor == 7500
    assert parsed.ignored == [
        "refund 890088186047892400: refund transactions with status pending are not counted"
    ]


def test_without_refund_transactions_the_refunded_lines_are_counted() -> None:
    parsed = parse("docs-samples/refunds__create/2023-07.json")

    assert only(parsed, RecordRefund).amount_minor == 19900 + 19900
    assert parsed.ignored == [
        "refund 890088186047892400: no refund transactions: amount taken from the refunded lines (subtotal + tax)"
    ]


def test_unknown_topics_are_loud_and_bodies_must_be_json_objects() -> None:
    with pytest.raises(Unsupported):
        SOURCE.parse("carts/update", b"{}")
    with pytest.raises(ValueError, match="not JSON"):
        SOURCE.parse("orders/create", b"<xml/>")
    with pytest.raises(ValueError, match="not a JSON object"):
        SOURCE.parse("orders/create", b"[]")


def test_shopify_is_registered_as_a_commerce_source() -> None:
    assert registry.SOURCES == {"shopify": SOURCE}
    assert isinstance(SOURCE, CommerceSource)


# --- (b) HMAC verification -------------------------------------------------------------------------------

SECRET = "shpss_test_0123456789abcdef"


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def config(**fields: Any) -> shopify.Config:
    return shopify.Config.model_validate({"webhook_secret": SECRET, **fields})


def test_verify_accepts_the_signature_of_the_raw_bytes() -> None:
    body = (DATA / "docs-samples/orders__create/2026-04.json").read_bytes()

    assert SOURCE.verify({"x-shopify-hmac-sha256": sign(body)}, body, config())
    assert SOURCE.verify({"shopify-hmac-sha256": sign(body)}, body, config())  # newer header name
    assert SOURCE.verify({"X-Shopify-Hmac-SHA256": sign(body)}, body, config())


class OtherConfig(BaseModel):
    """Some other adapter's configuration."""


def test_verify_rejects_anything_else() -> None:
    body = (DATA / "docs-samples/orders__create/2026-04.json").read_bytes()
    reserialised = json.dumps(json.loads(body)).encode()  # same JSON, different bytes

    assert not SOURCE.verify({"x-shopify-hmac-sha256": sign(body, "another secret")}, body, config())
    assert not SOURCE.verify({"x-shopify-hmac-sha256": sign(body)}, reserialised, config())
    assert not SOURCE.verify({"x-shopify-hmac-sha256": sign(body)[:-4]}, body, config())
    assert not SOURCE.verify({"x-shopify-hmac-sha256": "é"}, body, config())
    assert not SOURCE.verify({}, body, config())
    assert not SOURCE.verify({"x-shopify-hmac-sha256": sign(body)}, body, OtherConfig())


def test_verify_checks_the_shop_when_one_is_configured() -> None:
    body = b'{"id": 1}'
    headers = {"x-shopify-hmac-sha256": sign(body), "x-shopify-shop-domain": "Acme.myshopify.com"}

    assert SOURCE.verify(headers, body, config(shop_domain="acme.myshopify.com"))
    assert not SOURCE.verify(headers, body, config(shop_domain="globex.myshopify.com"))


def test_topic_and_idempotency_key_come_from_the_headers() -> None:
    headers = {
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }

    assert SOURCE.topic(headers) == "orders/create"
    assert SOURCE.idempotency_key(headers) == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert (SOURCE.topic({}), SOURCE.idempotency_key({})) == (None, None)


# --- (c) through the real door ---------------------------------------------------------------------------


@pytest.fixture
def connected(factory: sessionmaker[Session], store: StoreWithKey, settings: Settings) -> StoreWithKey:
    with transaction(factory) as session:
        store_service.set_connection(
            session,
            store_id=store.id,
            provider="shopify",
            config={"webhook_secret": SECRET, "shop_domain": "acme.myshopify.com"},
            secret=settings.security.secret_key.get_secret_value(),
        )
    return store


def deliver(
    client: TestClient,
    topic: str,
    body: bytes,
    webhook_id: str,
    *,
    slug: str = "acme",
    signature: str | None = None,
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body) if signature is None else signature,
        "X-Shopify-Shop-Domain": "acme.myshopify.com",
        "X-Shopify-API-Version": "2026-04",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Triggered-At": "2026-11-23T10:00:00Z",
    }
    response: httpx.Response = client.post(f"/hooks/shopify/{slug}", content=body, headers=headers)
    return response


def sample(relative: str, **changes: Any) -> bytes:
    if not DATA.is_dir():  # collected without the shared data: the module is skipped anyway
        return b"{}"
    data = json.loads((DATA / "docs-samples" / relative).read_text())
    data.update(changes)
    return json.dumps(data).encode()


# A live (not cancelled) version of the sample order, then its parcel's journey and a refund.
ORDER = sample("orders__create/2026-04.json", cancelled_at=None, cancel_reason=None)
FULFILLMENT = sample("fulfillments__create/2026-04.json", created_at="2026-11-20T16:00:00-05:00")
JOURNEY = [
    ("in_transit", "Picked up by UPS", "2026-11-20T18:30:00-05:00"),
    ("out_for_delivery", "Out for delivery", "2026-11-22T08:10:00-05:00"),
    ("delivered", "Delivered, front porch", "2026-11-22T14:02:00-05:00"),
]
REFUND = sample("refunds__create/2026-04.json", processed_at="2026-11-25T10:00:00-05:00")


def event(n: int, status: str, message: str, at: str) -> bytes:
    return sample(
        "fulfillment_events__create/2026-04.json",
        id=1234567 + n, status=status, message=message, happened_at=at, created_at=at, country="US",
    )  # fmt: skip


def names(factory: sessionmaker[Session], store: StoreWithKey, subject: str) -> list[str]:
    with transaction(factory) as session:
        return [m.name for m in flow_service.list_for_subject(session, store_id=store.id, subject_id=subject)]


def test_a_shopify_order_travels_from_checkout_to_refund(
    client: TestClient, factory: sessionmaker[Session], connected: StoreWithKey
) -> None:
    # given a store connected to Shopify, when Shopify delivers the order, its fulfillment, three
    # tracking events and a refund, each signed with the store's secret
    # (each arrives when it happened: the journey is on time, so no delay is flagged whatever today is)
    with time_machine.travel("2026-11-20T16:01:00-05:00", tick=False):
        answers = [deliver(client, "orders/create", ORDER, "wh-order")]
        answers.append(deliver(client, "fulfillments/create", FULFILLMENT, "wh-fulfillment"))
    for n, step in enumerate(JOURNEY):
        with time_machine.travel(datetime.fromisoformat(step[2]) + timedelta(minutes=1), tick=False):
            answers.append(deliver(client, "fulfillment_events/create", event(n, *step), f"wh-event-{n}"))
    with time_machine.travel("2026-11-25T10:01:00-05:00", tick=False):
        answers.append(deliver(client, "refunds/create", REFUND, "wh-refund"))

    # then each was recorded and applied
    assert [(a.status_code, a.json()["status"]) for a in answers] == [(200, "applied")] * 6
    assert all(a.json()["event"].startswith("evt_") for a in answers)

    with transaction(factory) as session:
        order = order_service.find_by_external_id(
            session, store_id=connected.id, external_id="820982911946154500"
        )
        assert order is not None
        order_id = order.public_id
        # the order as Shopify described it, less the refund
        assert (order.number, order.total_minor, order.refunded_minor, order.cancelled_at) == (
            "#9999", 40495, 8500, None,
        )  # fmt: skip
        assert order.customer is not None
        assert order.customer.email == "john@example.com"
        # one UPS parcel holding the five lines, delivered
        shipments, _ = shipment_service.list_shipments(
            session, store_id=connected.id, limit=10, order_id=order_id
        )
        assert [(s.carrier, s.tracking_number, s.status) for s in shipments] == [
            ("ups", "1Z827WK74630", "delivered")
        ]
        assert len(shipments[0].items) == 5
        shipment_id = shipments[0].public_id
        refunds = order_service.list_refunds(session, store_id=connected.id, order_id=order_id)
        assert [(r.external_id, r.amount_minor) for r in refunds] == [("890088186047892400", 8500)]
        refund_id = refunds[0].public_id

    # and each fact was recorded once, on its own subject
    assert names(factory, connected, order_id) == ["order.placed"]
    assert names(factory, connected, shipment_id) == [
        "shipment.shipped", "shipment.out_for_delivery", "shipment.delivered",
    ]  # fmt: skip
    assert names(factory, connected, refund_id) == ["refund.issued"]
    assert answers[0].json()["milestones"] == ["order.placed"]
    assert answers[-1].json()["milestones"] == ["refund.issued"]


def test_the_same_webhook_id_twice_is_a_duplicate_and_not_applied_again(
    client: TestClient, factory: sessionmaker[Session], connected: StoreWithKey
) -> None:
    # given an order and a refund already applied
    deliver(client, "orders/create", ORDER, "wh-order")
    first = deliver(client, "refunds/create", REFUND, "wh-refund")

    # when Shopify retries the refund delivery (same webhook id)
    again = deliver(client, "refunds/create", REFUND, "wh-refund")

    # then it is acknowledged as a duplicate of the first and changes nothing
    assert (first.json()["status"], again.status_code, again.json()["status"]) == (
        "applied",
        200,
        "duplicate",
    )
    with transaction(factory) as session:
        order = order_service.find_by_external_id(
            session, store_id=connected.id, external_id="820982911946154500"
        )
        assert order is not None
        assert order.refunded_minor == 8500
        events, _ = inbound_service.list_events(session, store_id=connected.id, source="shopify")
        assert sorted(e.status for e in events) == ["applied", "applied", "duplicate"]


def test_a_cancelled_order_is_placed_and_cancelled(
    client: TestClient, factory: sessionmaker[Session], connected: StoreWithKey
) -> None:
    answer = deliver(client, "orders/cancelled", sample("orders__create/2026-04.json"), "wh-cancelled")

    assert answer.json()["milestones"] == ["order.placed", "order.cancelled"]


def test_a_refund_before_its_order_waits_and_is_replayed(
    client: TestClient, factory: sessionmaker[Session], connected: StoreWithKey
) -> None:
    # given a refund that arrives before its order
    early = deliver(client, "refunds/create", REFUND, "wh-refund")
    assert (early.status_code, early.json()["status"]) == (202, "rejected")
    assert "not known yet" in early.json()["reason"]

    # when the order arrives and the refund is replayed
    deliver(client, "orders/create", ORDER, "wh-order")
    outcome = inbound_service.replay(factory, early.json()["event"])

    # then it is applied from the recorded payload
    assert (outcome.status, outcome.milestones) == (EventStatus.applied, ["refund.issued"])


def test_a_bad_or_missing_signature_is_401_and_recorded_as_rejected(
    client: TestClient, factory: sessionmaker[Session], connected: StoreWithKey
) -> None:
    forged = deliver(client, "orders/create", ORDER, "wh-1", signature=sign(ORDER, "not the secret"))
    unsigned = deliver(client, "orders/create", ORDER, "wh-2", signature="")

    assert (forged.status_code, unsigned.status_code) == (401, 401)
    with transaction(factory) as session:
        events, _ = inbound_service.list_events(session, store_id=connected.id, source="shopify")
        assert [e.status for e in events] == ["rejected", "rejected"]
        assert (
            order_service.find_by_external_id(
                session, store_id=connected.id, external_id="820982911946154500"
            )
            is None
        )


def test_a_signed_payload_that_cannot_be_read_is_202_and_kept(
    client: TestClient, factory: sessionmaker[Session], connected: StoreWithKey
) -> None:
    placeholder = (DATA / "anonymized-exemplars/orders/2023-10_1.json").read_bytes()

    answers = [
        deliver(client, "orders/updated", placeholder, "wh-1"),
        deliver(client, "orders/create", b"not json", "wh-2"),
        deliver(client, "carts/update", b"{}", "wh-3"),
    ]

    assert [(a.status_code, a.json()["status"]) for a in answers] == [(202, "rejected")] * 3
    assert "currency: 'example string' is not an ISO 4217 currency" in answers[0].json()["reason"]


def test_returns_are_acknowledged_without_effect(
    client: TestClient, factory: sessionmaker[Session], connected: StoreWithKey
) -> None:
    answer = deliver(client, "returns/request", sample("returns__request/2026-04.json"), "wh-return")

    assert (answer.status_code, answer.json()["status"], answer.json()["milestones"]) == (200, "applied", [])


def test_an_unknown_store_is_404(client: TestClient, connected: StoreWithKey) -> None:
    assert deliver(client, "orders/create", ORDER, "wh-1", slug="nope").status_code == 404
