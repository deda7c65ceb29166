"""`doorstep import olist`: the committed small sample imports exactly, once, resumably, without notifying."""

import csv
import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import column, func, inspect, select, table
from sqlalchemy.orm import Session, sessionmaker

from doorstep.catalog.models import Category, Product, Seller
from doorstep.customers.models import Customer
from doorstep.db import transaction
from doorstep.flows.models import MilestoneEvent
from doorstep.imports import olist, runner
from doorstep.imports.models import ImportRun
from doorstep.imports.rejects import Rejects
from doorstep.orders.models import LineItem, Order, OrderPayment
from doorstep.reviews.models import ReviewImport
from doorstep.shipments.models import Checkpoint, Shipment
from tests.factories.stores import StoreWithKey

SMALL = Path(__file__).resolve().parents[1] / "payloads" / "imports" / "olist_small"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "olist" / "sample_4000_orders"


def _csv(directory: Path, name: str) -> list[dict[str, str]]:
    with (directory / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _import(
    factory: sessionmaker[Session],
    store_id: int,
    directory: Path,
    *,
    batch_size: int = 10,
    stop_after_batches: int | None = None,
    repeat: int = 1,
) -> tuple[runner.Summary, Rejects]:
    found = Rejects()
    data = olist.read(directory, found)
    summary = runner.run_import(
        factory,
        store_id=store_id,
        source="olist",
        input_ref=str(directory),
        catalog=data.catalog,
        batches=data.batches(found, size=batch_size, repeat=repeat),
        rejects=found,
        stop_after_batches=stop_after_batches,
    )
    return summary, found


def _count(session: Session, model: type, store_id: int) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.store_id == store_id)) or 0


def _counts(factory: sessionmaker[Session], store_id: int) -> dict[str, int]:
    with transaction(factory) as session:
        models = {
            "orders": Order, "lines": LineItem, "customers": Customer, "payments": OrderPayment,
            "reviews": ReviewImport, "shipments": Shipment, "checkpoints": Checkpoint,
            "milestones": MilestoneEvent, "products": Product, "categories": Category, "sellers": Seller,
        }  # fmt: skip
        return {name: _count(session, model, store_id) for name, model in models.items()}


def _expected(directory: Path) -> dict[str, object]:
    orders = _csv(directory, olist.ORDERS)
    customers = {c["customer_id"]: c["customer_unique_id"] for c in _csv(directory, olist.CUSTOMERS)}
    return {
        "orders": len(orders),
        "by_status": Counter(o["order_status"] for o in orders),
        "delivered": sum(1 for o in orders if o["order_delivered_customer_date"]),
        "items": len(_csv(directory, olist.ITEMS)),
        "customers": len({customers[o["customer_id"]] for o in orders}),
        "payments": len(_csv(directory, olist.PAYMENTS)),
        "reviews": len(_csv(directory, olist.REVIEWS)),
        "cancelled_unshipped": sum(
            1
            for o in orders
            if o["order_status"] in olist.CANCELLED
            and not o["order_delivered_carrier_date"]
            and not o["order_delivered_customer_date"]
        ),
    }


def _assert_matches_source(factory: sessionmaker[Session], store_id: int, directory: Path) -> None:
    expected = _expected(directory)
    counts = _counts(factory, store_id)
    assert counts["orders"] == expected["orders"]
    assert counts["lines"] == expected["items"]
    assert counts["customers"] == expected["customers"]
    assert counts["payments"] == expected["payments"]
    assert counts["reviews"] == expected["reviews"]
    assert counts["shipments"] == expected["orders"] - expected["cancelled_unshipped"]  # type: ignore[operator]
    with transaction(factory) as session:
        tags = Counter(
            tags[1] for tags in session.scalars(select(Order.tags).where(Order.store_id == store_id))
        )
        delivered = session.scalar(
            select(func.count())
            .select_from(Shipment)
            .where(Shipment.store_id == store_id, Shipment.status == "delivered")
        )
        cancelled = session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.store_id == store_id, Order.cancelled_at.is_not(None))
        )
    assert tags == expected["by_status"]
    assert delivered == expected["delivered"]
    by_status = expected["by_status"]
    assert isinstance(by_status, Counter)
    assert cancelled == by_status["canceled"] + by_status["unavailable"]


@pytest.mark.usefixtures("backend")
def test_the_small_sample_imports_exactly(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    summary, found = _import(factory, store.id, SMALL)

    assert (summary.status, summary.rejected, found.items) == ("completed", 0, [])
    assert summary.orders_imported == 39
    _assert_matches_source(factory, store.id, SMALL)
    counts = _counts(factory, store.id)
    assert counts["sellers"] == len(_csv(SMALL, olist.SELLERS))
    assert counts["products"] == len(_csv(SMALL, olist.PRODUCTS))


@pytest.mark.usefixtures("backend")
def test_money_places_and_the_parcel_journey_come_from_olist(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    _import(factory, store.id, SMALL)
    source = next(o for o in _csv(SMALL, olist.ORDERS) if o["order_status"] == "delivered")
    items = [i for i in _csv(SMALL, olist.ITEMS) if i["order_id"] == source["order_id"]]

    with transaction(factory) as session:
        order = session.scalars(
            select(Order).where(Order.store_id == store.id, Order.external_id == source["order_id"])
        ).one()
        shipment = session.scalars(select(Shipment).where(Shipment.order_id == order.id)).unique().one()
        scans = session.scalars(
            select(Checkpoint).where(Checkpoint.shipment_id == shipment.id).order_by(Checkpoint.occurred_at)
        ).all()
        lines = list(order.line_items)
        seller_ids = {li.seller_id for li in lines}

    assert order.currency == "BRL"
    assert order.subtotal_minor == sum(round(float(i["price"]) * 100) for i in items)
    assert order.shipping_minor == sum(round(float(i["freight_value"]) * 100) for i in items)
    assert order.total_minor == order.subtotal_minor + order.shipping_minor
    assert order.shipping_address is not None
    assert order.shipping_address["country"] == "BR"
    assert [s.status for s in scans] == ["info_received", "in_transit", "delivered"]
    assert scans[0].utc_offset in ("-03:00", "-02:00")  # São Paulo time, kept
    assert shipment.status == "delivered"
    assert shipment.promised_on is not None
    assert shipment.promised_on.isoformat() == source["order_estimated_delivery_date"][:10]
    assert None not in seller_ids


@pytest.mark.usefixtures("backend")
def test_history_milestones_are_historical_and_notify_nobody(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    _import(factory, store.id, SMALL)

    with transaction(factory) as session:
        milestones = session.scalars(select(MilestoneEvent).where(MilestoneEvent.store_id == store.id)).all()
        present = set(inspect(session.connection()).get_table_names())
        # Whatever the notification machinery writes (jobs, messages), history wrote none of it.
        effects = {
            name: session.scalar(
                select(func.count())
                .select_from(table(name, column("store_id")))
                .where(column("store_id") == store.id)
            )
            for name in ("jobs", "messages")
            if name in present
        }
    expected = _expected(SMALL)
    names = Counter(m.name for m in milestones)
    assert milestones
    assert all(m.is_historical for m in milestones)
    assert names["order.placed"] == expected["orders"]
    assert names["shipment.delivered"] == expected["delivered"]
    assert all(count == 0 for count in effects.values()), effects


@pytest.mark.usefixtures("backend")
def test_a_rerun_changes_nothing(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    _import(factory, store.id, SMALL)
    before = _counts(factory, store.id)

    summary, _ = _import(factory, store.id, SMALL)

    assert (summary.orders_imported, summary.orders_skipped) == (0, 39)
    assert _counts(factory, store.id) == before


@pytest.mark.usefixtures("backend")
def test_an_interrupted_run_resumes(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    # given a run stopped after 2 batches of 10 orders, as a crash would stop it
    stopped, _ = _import(factory, store.id, SMALL, batch_size=10, stop_after_batches=2)
    assert (stopped.status, stopped.orders_imported) == ("stopped", 20)
    assert _counts(factory, store.id)["orders"] == 20

    # when the same import runs again
    resumed, _ = _import(factory, store.id, SMALL, batch_size=10)

    # then it skips what is there and imports the rest, exactly once
    assert (resumed.status, resumed.orders_skipped, resumed.orders_imported) == ("completed", 20, 19)
    _assert_matches_source(factory, store.id, SMALL)
    with transaction(factory) as session:
        runs = session.scalars(select(ImportRun).where(ImportRun.store_id == store.id).order_by(ImportRun.id))
        assert [(r.status, r.orders_imported) for r in runs] == [("stopped", 20), ("completed", 19)]


@pytest.mark.usefixtures("backend")
def test_two_stores_import_the_same_data_separately(
    factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    _import(factory, store.id, SMALL)
    _import(factory, other_store.id, SMALL)

    assert _counts(factory, store.id) == _counts(factory, other_store.id)
    _assert_matches_source(factory, other_store.id, SMALL)


@pytest.mark.usefixtures("backend")
def test_bad_rows_are_rejected_with_file_line_and_reason(
    factory: sessionmaker[Session], store: StoreWithKey, tmp_path: Path
) -> None:
    # given the sample with a bad purchase time, an item of an unknown order and a broken review score
    directory = tmp_path / "olist"
    shutil.copytree(SMALL, directory)
    orders = (directory / olist.ORDERS).read_text().splitlines()
    first = orders[1].split(",")
    first[3] = "yesterday"
    orders[1] = ",".join(first)
    (directory / olist.ORDERS).write_text("\n".join(orders) + "\n")
    with (directory / olist.ITEMS).open("a") as handle:
        handle.write("ffffffffffffffffffffffffffffffff,1,p,s,2018-01-01 00:00:00,10.00,1.00\n")
    items_line = len((directory / olist.ITEMS).read_text().splitlines())

    summary, found = _import(factory, store.id, directory)
    written = found.write(tmp_path / "rejects.csv")

    assert summary.rejected == 2
    assert written is not None
    rows = list(csv.DictReader(written.open()))
    assert rows == [
        {"file": olist.ITEMS, "line": str(items_line), "reason": "item for order ffffffffffffffffffffffffffffffff, which is not in olist_orders_dataset.csv"},
        {"file": olist.ORDERS, "line": "2", "reason": f"order {first[0]}: order_purchase_timestamp 'yesterday' is not a date and time"},
    ]  # fmt: skip
    assert _counts(factory, store.id)["orders"] == 38  # the rest imported


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared Olist sample is not at {SHARED}")
@pytest.mark.usefixtures("backend")
def test_the_shared_4000_order_sample_imports_exactly(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    summary, found = _import(factory, store.id, SHARED, batch_size=2000)

    assert (summary.status, found.items) == ("completed", [])
    assert summary.orders_imported == 4000
    _assert_matches_source(factory, store.id, SHARED)
    again, _ = _import(factory, store.id, SHARED, batch_size=2000)
    assert (again.orders_imported, again.orders_skipped) == (0, 4000)
