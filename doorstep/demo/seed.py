"""Seed a demo brand with realistic orders, parcels and carrier scans.

Every order and scan goes through ``inbound.service.submit`` with a fixed Idempotency-Key, exactly as an
API client's would, so the inbound log shows real traffic. Orders seeded by an earlier run are kept
as they are (a rerun adds only a new API key), so the demo can be run again at any time.
"""

import json
import random
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import clock
from doorstep.core.errors import NotFound
from doorstep.db import transaction
from doorstep.inbound import service as inbound_service
from doorstep.inbound.models import EventStatus
from doorstep.orders import service as order_service
from doorstep.orders.schemas import OrderRead
from doorstep.returns import service as return_service
from doorstep.returns.policy import DEFAULT_POLICY
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore

SLUG = "demo"

PRODUCTS = (
    ("p-1001", "v-1", "TRL-JKT-M", "Ridgeline Rain Jacket", "Moss / M", 18900, ("outerwear",)),
    ("p-1001", "v-2", "TRL-JKT-L", "Ridgeline Rain Jacket", "Moss / L", 18900, ("outerwear",)),
    ("p-1002", "v-3", "MER-TEE-S", "Merino Trail Tee", "Charcoal / S", 6800, ("tops",)),
    ("p-1002", "v-4", "MER-TEE-M", "Merino Trail Tee", "Charcoal / M", 6800, ("tops",)),
    ("p-1003", "v-5", "WOOL-SCK-3", "Wool Hiking Socks (3 pack)", "Oat", 2400, ("accessories",)),
    ("p-1004", "v-6", "DAY-PCK-22", "Summit Daypack 22L", "Slate", 12900, ("bags",)),
    ("p-1005", "v-7", "INS-BTL-750", "Insulated Bottle 750 ml", "Glacier", 3600, ("accessories",)),
    ("p-1006", "v-8", "FLC-HDY-M", "Grid Fleece Hoodie", "Rust / M", 9800, ("tops",)),
    ("p-1007", "v-9", "TRL-SHT-32", "Trail Shorts", "Sand / 32", 5800, ("bottoms",)),
    ("p-1008", "v-10", "CAP-LOGO", "Logo Cap", "Forest", 2800, ("accessories", "final-sale")),
)

PEOPLE = (
    ("Ana", "Souza", "pt-BR", "America/Sao_Paulo"), ("Liam", "Walsh", "en", "America/New_York"),
    ("Sofía", "García", "es", "America/Mexico_City"), ("Noah", "Keller", "de", "Europe/Berlin"),
    ("Chloé", "Martin", "fr", "Europe/Paris"), ("Emma", "Johnson", "en", "America/Chicago"),
    ("Olivia", "Brown", "en", "America/Los_Angeles"), ("Mateo", "López", "es", "America/New_York"),
    ("Mia", "Schmidt", "de", "America/Denver"), ("Lucas", "Oliveira", "pt-BR", "America/New_York"),
    ("Ava", "Nguyen", "en", "America/Los_Angeles"), ("Ethan", "Clark", "en", "America/Phoenix"),
)  # fmt: skip

# (city, region, postal code, UTC offset in hours) along US routes.
Place = tuple[str, str, str, int]
ORIGIN: Place = ("Reno", "NV", "89502", -8)
HUBS: tuple[Place, Place] = (("Salt Lake City", "UT", "84104", -7), ("Louisville", "KY", "40209", -5))
DESTINATIONS: tuple[Place, ...] = (
    ("Brooklyn", "NY", "11215", -5), ("Chicago", "IL", "60614", -6), ("Austin", "TX", "78704", -6),
    ("Denver", "CO", "80205", -7), ("Portland", "OR", "97214", -8), ("Atlanta", "GA", "30307", -5),
)  # fmt: skip

# The journey each demo parcel has made so far, by scenario.
SCENARIOS: dict[str, list[tuple[str, str | None, str]]] = {
    "pending": [],
    "label_created": [("info_received", None, "Shipping label created, carrier awaiting item")],
    "in_transit": [
        ("info_received", None, "Shipping label created"),
        ("in_transit", None, "Picked up by carrier"),
        ("in_transit", None, "Departed facility"),
        ("in_transit", None, "Arrived at hub"),
    ],
    "out_for_delivery": [
        ("info_received", None, "Shipping label created"),
        ("in_transit", None, "Picked up by carrier"),
        ("in_transit", None, "Arrived at destination facility"),
        ("out_for_delivery", None, "Out for delivery"),
    ],
    "delivered": [
        ("info_received", None, "Shipping label created"),
        ("in_transit", None, "Picked up by carrier"),
        ("in_transit", None, "Arrived at destination facility"),
        ("out_for_delivery", None, "Out for delivery"),
        ("delivered", "to_door", "Delivered, front door"),
    ],
    "attempt_failed": [
        ("info_received", None, "Shipping label created"),
        ("in_transit", None, "Picked up by carrier"),
        ("out_for_delivery", None, "Out for delivery"),
        ("attempt_failed", None, "Delivery attempted, no access to delivery location"),
    ],
    "pickup": [
        ("info_received", None, "Shipping label created"),
        ("in_transit", None, "Picked up by carrier"),
        ("available_for_pickup", None, "Available for pickup at access point"),
    ],
    "weather": [
        ("info_received", None, "Shipping label created"),
        ("in_transit", None, "Picked up by carrier"),
        ("exception", "weather", "Delayed due to severe weather"),
    ],
    "returned": [
        ("info_received", None, "Shipping label created"),
        ("in_transit", None, "Picked up by carrier"),
        ("exception", "address_issue", "Address incomplete, returning to sender"),
        ("returned", None, "Returned to sender"),
    ],
}

CARRIERS = ("ups", "usps", "fedex", "dhl")


@dataclass(frozen=True)
class Seeded:
    store_slug: str
    api_key: str
    orders: list[dict[str, Any]]
    # scenario → order number, so the demo can point at an order in each state
    examples: dict[str, str]
    # scenario → that order's tracking-page token (the shopper's link is /t/{token})
    tokens: dict[str, str] = field(default_factory=dict)


def _tracking_number(rng: random.Random, carrier: str) -> str:
    digits: Callable[[int], str] = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    if carrier == "ups":
        return (
            "1Z"
            + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(6))
            + "03"
            + digits(8)
        )
    if carrier == "usps":
        return "9400" + digits(18)
    if carrier == "fedex":
        return digits(12)
    return digits(10)


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _scenario_cycle() -> Iterator[str]:
    while True:
        yield from SCENARIOS


def _submit(
    factory: sessionmaker[Session], store_id: int, topic: str, key: str, body: dict[str, Any], **params: str
) -> dict[str, Any]:
    outcome = inbound_service.submit(
        factory,
        inbound_service.Submission(
            store_id=store_id, source="api", topic=topic, body=json.dumps(body).encode(),
            params=params, idempotency_key=key,
        ),
    )  # fmt: skip
    if outcome.status is EventStatus.rejected or outcome.response_body is None:
        raise RuntimeError(f"demo data was rejected: {outcome.reason}")
    return outcome.response_body


DEMO_RETURNS_POLICY: dict[str, object] = {
    **DEFAULT_POLICY.model_dump(mode="json"),
    "methods": ["label", "qr_dropoff", "in_store"],
    "return_address": {
        "name": "Juniper & Pine Returns", "line1": "200 Warehouse Way", "line2": "Dock 4", "city": "Reno",
        "region": "NV", "postal_code": "89502", "country": "US",
    },
    "return_carrier": "UPS",
}  # fmt: skip


def ensure_store(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        try:
            return store_service.get_store_by_slug(session, slug=SLUG).id
        except NotFound:
            store = store_service.create_store(
                session,
                cmd=CreateStore(
                    slug=SLUG, name="Juniper & Pine Outfitters", locale="en", timezone="America/New_York",
                    country="US", currency="USD", support_email="help@juniperpine.example",
                    support_phone="+14155550100", support_url="https://juniperpine.example/help",
                ),
            )  # fmt: skip
            # The demo's returns ship to a warehouse, so the portal offers the label PDF (returns-portal).
            return_service.set_policy(session, store_id=store.id, document=DEMO_RETURNS_POLICY)
            return store.id


def seed(
    factory: sessionmaker[Session],
    *,
    orders: int = 36,
    seed_value: int = 7,
    on_progress: Callable[[], None] | None = None,
) -> Seeded:
    """Create (or find) the demo store, a fresh API key, and ``orders`` orders with parcels and scans."""
    rng = random.Random(seed_value)  # noqa: S311 - demo data, not security
    store_id = ensure_store(factory)
    with transaction(factory) as session:
        key = store_service.create_api_key(session, store_id=store_id, name="demo").secret
    now = clock.now().replace(minute=0, second=0, microsecond=0)
    scenarios = _scenario_cycle()
    created: list[dict[str, Any]] = []
    examples: dict[str, str] = {}
    for n in range(orders):
        scenario = next(scenarios)
        first, last, locale, tz = PEOPLE[n % len(PEOPLE)]
        city, region, postal, _ = DESTINATIONS[n % len(DESTINATIONS)]
        picks = rng.sample(PRODUCTS, k=rng.randint(1, 3))
        placed = now - timedelta(days=len(SCENARIOS[scenario]) + 1, hours=rng.randint(1, 20))
        number = f"#{1001 + n}"
        examples.setdefault(scenario, number)
        existing = _existing_order(factory, store_id, f"demo-{1001 + n}")
        if existing is not None:  # seeded by an earlier run (maybe hours ago): keep it as it is
            created.append(existing)
            if on_progress:
                on_progress()
            continue
        order = _submit(factory, store_id, "orders.create", f"demo:order:{n}", {
            "external_id": f"demo-{1001 + n}",
            "number": number,
            "placed_at": placed.isoformat(),
            "currency": "USD",
            "customer": {
                "email": f"{_ascii(first)}.{_ascii(last)}{n}@example.com",
                "phone": f"+1415555{100 + n % 100:04d}" if n % 3 else None,
                "first_name": first, "last_name": last, "locale": locale, "timezone": tz,
                "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
            },
            "line_items": [
                {"external_id": f"demo-{1001 + n}-{i}", "product_id": p[0], "variant_id": p[1], "sku": p[2],
                 "title": p[3], "variant_title": p[4], "quantity": rng.choice((1, 1, 1, 2)),
                 "unit_price_minor": p[5], "product_tags": list(p[6]), "is_final_sale": "final-sale" in p[6]}
                for i, p in enumerate(picks)
            ],
            "shipping_minor": rng.choice((0, 695, 1295)),
            "tax_minor": rng.randint(200, 1800),
            "shipping_address": {"name": f"{first} {last}", "line1": f"{rng.randint(10, 999)} Maple Ave",
                                 "city": city, "region": region, "postal_code": postal, "country": "US"},
            "tags": ["demo"] + (["vip"] if n % 7 == 0 else []),
        })  # fmt: skip
        created.append(order)
        if scenario != "pending" or n % 2 == 0:
            _ship(factory, store_id, rng, n, order, scenario, placed)
        if on_progress:
            on_progress()
    return Seeded(SLUG, key, created, examples, _tokens(factory, store_id, created, examples))


def _tokens(
    factory: sessionmaker[Session], store_id: int, orders: list[dict[str, Any]], examples: dict[str, str]
) -> dict[str, str]:
    by_number = {order["number"]: order["id"] for order in orders}
    with transaction(factory) as session:
        return {
            scenario: order_service.get_order(
                session, store_id=store_id, order_id=by_number[number]
            ).status_token
            for scenario, number in examples.items()
            if number in by_number
        }


def _existing_order(factory: sessionmaker[Session], store_id: int, external_id: str) -> dict[str, Any] | None:
    with transaction(factory) as session:
        order = order_service.find_by_external_id(session, store_id=store_id, external_id=external_id)
        return OrderRead.of(order).model_dump(mode="json") if order else None


def _ship(
    factory: sessionmaker[Session], store_id: int, rng: random.Random, n: int, order: dict[str, Any],
    scenario: str, placed: datetime,
) -> None:  # fmt: skip
    carrier = CARRIERS[n % len(CARRIERS)]
    dest = DESTINATIONS[n % len(DESTINATIONS)]
    shipment = _submit(factory, store_id, "shipments.create", f"demo:shipment:{n}", {
        "order_id": order["id"],
        "carrier": carrier,
        "service": {"ups": "Ground", "usps": "Priority Mail", "fedex": "Home Delivery", "dhl": "Express"}[carrier],
        "tracking_number": _tracking_number(rng, carrier),
        "promised_on": (placed + timedelta(days=6)).date().isoformat(),
    })  # fmt: skip
    route = [ORIGIN, ORIGIN, *HUBS, dest, dest, dest]
    checkpoints = []
    at = placed + timedelta(hours=6)
    for step, (status, substatus, message) in enumerate(SCENARIOS[scenario]):
        city, region, postal, offset = route[min(step, len(route) - 1)]
        local = at.astimezone(timezone(timedelta(hours=offset)))
        checkpoints.append({
            "occurred_at": local.isoformat(), "status": status, "substatus": substatus, "message": message,
            "city": city, "region": region, "postal_code": postal, "country": "US",
        })  # fmt: skip
        at += timedelta(hours=rng.randint(8, 22))
    if checkpoints:
        _submit(factory, store_id, "checkpoints.create", f"demo:scans:{n}", {"checkpoints": checkpoints},
                shipment_id=shipment["id"])  # fmt: skip
