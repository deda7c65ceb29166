"""`doorstep import shopify-orders`: Shopify's order export, one row per line item."""

import shutil
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.customers.models import Customer
from doorstep.db import transaction
from doorstep.flows.models import MilestoneEvent
from doorstep.imports import runner, shopify_csv
from doorstep.imports.rejects import Rejects
from doorstep.orders.models import Order, OrderPayment
from doorstep.shipments.models import Checkpoint, Shipment
from tests.factories.stores import StoreWithKey

SAMPLE = Path(__file__).resolve().parents[1] / "payloads" / "imports" / "shopify_orders_export__sample.csv"


def _import(factory: sessionmaker[Session], store_id: int, path: Path) -> tuple[runner.Summary, Rejects]:
    found = Rejects()
    export = shopify_csv.read(path, found)
    summary = runner.run_import(
        factory,
        store_id=store_id,
        source="shopify",
        input_ref=str(path),
        catalog=runner.Catalog(),
        batches=partial(export.batches, size=2),
        rejects=found,
    )
    return summary, found


@pytest.mark.usefixtures("backend")
def test_the_sample_export_imports(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    summary, found = _import(factory, store.id, SAMPLE)

    assert (summary.orders_imported, summary.rejected, found.items) == (5, 0, [])
    with transaction(factory) as session:
        orders = {
            o.number: o for o in session.scalars(select(Order).where(Order.store_id == store.id)).unique()
        }
        customers = session.scalars(select(Customer.email).where(Customer.store_id == store.id)).all()
        payments = session.scalars(select(OrderPayment).where(OrderPayment.store_id == store.id)).all()
        shipments = session.scalars(select(Shipment).where(Shipment.store_id == store.id)).unique().all()
        scans = session.scalars(select(Checkpoint).where(Checkpoint.store_id == store.id)).all()
        milestones = session.scalars(select(MilestoneEvent).where(MilestoneEvent.store_id == store.id)).all()
        first = orders["#1001"]
        lines = [(li.title, li.quantity, li.unit_price_minor, li.sku) for li in first.line_items]
        second = orders["#1002"]
        cancelled = orders["#1004"]
    assert set(orders) == {"#1001", "#1002", "#1003", "#1004", "#1005"}
    assert sorted(customers) == [
        "ana.souza@example.com",
        "emma.johnson@example.com",
        "liam.walsh@example.com",
    ]
    assert lines == [
        ("Ridgeline Rain Jacket - Moss / M", 1, 18900, "TRL-JKT-M"),
        ("Merino Trail Tee - Charcoal / S", 1, 6800, "MER-TEE-S"),
    ]
    assert (first.external_id, first.currency, first.tax_minor, first.total_minor) == (
        "5501234567890",
        "USD",
        1028,
        26728,
    )
    assert first.tags == ["first-order", "vip"]
    assert (second.subtotal_minor, second.shipping_minor, second.discount_minor, second.total_minor) == (
        7200,
        895,
        480,
        7615,
    )
    assert first.shipping_address is not None
    assert (first.shipping_address["postal_code"], first.shipping_address["country"]) == ("11211", "US")
    assert cancelled.cancelled_at is not None
    assert sorted(p.amount_minor for p in payments) == [7615, 14400, 26728]  # paid orders only
    assert len(shipments) == 3  # the fulfilled ones
    assert {s.status for s in shipments} == {"in_transit"}
    assert len(scans) == 3
    assert all(m.is_historical for m in milestones)
    assert {m.name for m in milestones} == {"order.placed", "order.cancelled", "shipment.shipped"}


@pytest.mark.usefixtures("backend")
def test_a_rerun_is_a_no_op(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    _import(factory, store.id, SAMPLE)

    summary, _ = _import(factory, store.id, SAMPLE)

    assert (summary.orders_imported, summary.orders_skipped) == (0, 5)


def test_bad_orders_are_rejected_and_the_rest_import(
    factory: sessionmaker[Session], store: StoreWithKey, tmp_path: Path
) -> None:
    # given the sample with an unknown currency on order #1002 (line 4) and a line item with no name
    path = tmp_path / "orders_export.csv"
    shutil.copy(SAMPLE, path)
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(",USD,", ",XYZ,", 1)
    lines.append("#1099" + "," * (lines[0].count(",")))
    path.write_text("\n".join(lines) + "\n")

    summary, found = _import(factory, store.id, path)

    assert summary.orders_imported == 4
    assert [(r.file, r.line, r.reason) for r in found.items] == [
        ("orders_export.csv", 4, "order #1002: Currency 'XYZ' is not an ISO 4217 code"),
        ("orders_export.csv", 9, "order #1099: Currency '' is not an ISO 4217 code"),
    ]
