"""`doorstep import olist`: the committed small sample imports exactly, once, resumably, without notifying."""

import csv
import shutil
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import column, func, inspect, select, table, text
from sqlalchemy.orm import Session, sessionmaker

from doorstep.catalog.models import Category, Product, Seller
from doorstep.customers.models import Customer
from doorstep.db import transaction
from doorstep.flows.models import MilestoneEvent
from doorstep.imports import olist, runner
from doorstep.imports.drafts import OrderDraft
from doorstep.imports.models import ImportRun
from doorstep.imports.pipeline import PlannerFailed
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
    parallel: bool = False,
) -> tuple[runner.Summary, Rejects]:
    found = Rejects()
    data = olist.read(directory, found)
    summary = runner.run_import(
        factory,
        store_id=store_id,
        source="olist",
        input_ref=str(directory),
        catalog=data.catalog,
        batches=partial(data.batches, size=batch_size, repeat=repeat),
        rejects=found,
        stop_after_batches=stop_after_batches,
        parallel=parallel,
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


@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "planner-process"])
@pytest.mark.usefixtures("backend")
def test_an_interrupted_run_resumes(
    factory: sessionmaker[Session], store: StoreWithKey, parallel: bool
) -> None:
    # given a run stopped after 2 batches of 10 orders, as a crash would stop it
    stopped, _ = _import(factory, store.id, SMALL, batch_size=10, stop_after_batches=2, parallel=parallel)
    assert (stopped.status, stopped.orders_imported) == ("stopped", 20)
    assert _counts(factory, store.id)["orders"] == 20

    # when the same import runs again, in batches of 15: the second mixes 5 known orders and 10 new ones
    resumed, _ = _import(factory, store.id, SMALL, batch_size=15, parallel=parallel)

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


@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "planner-process"])
@pytest.mark.usefixtures("backend")
def test_bad_rows_are_rejected_with_file_line_and_reason(
    factory: sessionmaker[Session], store: StoreWithKey, tmp_path: Path, parallel: bool
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

    summary, found = _import(factory, store.id, directory, batch_size=7, parallel=parallel)
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


def _content(factory: sessionmaker[Session], store_id: int) -> dict[str, list[tuple[object, ...]]]:
    """Everything an import wrote for the store, with database ids replaced by the natural keys they
    point at (so a wrong id in any reference column shows up as a different row)."""
    queries = {
        "orders": """select o.external_id, o.number, o.subtotal_minor, o.shipping_minor, o.total_minor,
                            o.placed_at, o.cancelled_at, c.external_id from orders o
                     left join customers c on c.id = o.customer_id where o.store_id = :s""",
        "lines": """select o.external_id, li.external_id, li.position, li.unit_price_minor, li.product_id,
                           se.external_id from line_items li join orders o on o.id = li.order_id
                    left join sellers se on se.id = li.seller_id where li.store_id = :s""",
        "payments": """select o.external_id, p.sequence, p.method, p.amount_minor from order_payments p
                       join orders o on o.id = p.order_id where p.store_id = :s""",
        "reviews": """select o.external_id, r.external_id, r.score from review_imports r
                      join orders o on o.id = r.order_id where r.store_id = :s""",
        "shipments": """select o.external_id, sh.status, sh.shipped_at, sh.delivered_at, sh.is_delayed
                        from shipments sh join orders o on o.id = sh.order_id where sh.store_id = :s""",
        "items": """select o.external_id, li.external_id, si.quantity, li.order_id = sh.order_id
                    from shipment_items si
                    join shipments sh on sh.id = si.shipment_id join orders o on o.id = sh.order_id
                    join line_items li on li.id = si.line_item_id where si.store_id = :s""",
        "scans": """select o.external_id, cp.occurred_at, cp.status, cp.fingerprint from checkpoints cp
                    join shipments sh on sh.id = cp.shipment_id join orders o on o.id = sh.order_id
                    where cp.store_id = :s""",
        "milestones": """select o.external_id, m.name, m.occurred_at, m.subject_id = o.public_id
                         from milestone_events m join orders o on o.public_id = m.order_id
                         where m.store_id = :s""",
        "customers": "select external_id, email from customers where store_id = :s",
    }
    with transaction(factory) as session:
        return {
            name: sorted(
                (tuple(row) for row in session.execute(text(sql), {"s": store_id})),
                key=lambda row: tuple(str(value) for value in row),
            )
            for name, sql in queries.items()
        }


@pytest.mark.usefixtures("backend")
def test_planning_in_a_second_process_writes_the_same_rows(
    factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    one, _ = _import(factory, store.id, SMALL, batch_size=7)
    two, _ = _import(factory, other_store.id, SMALL, batch_size=7, parallel=True)

    assert (two.status, two.orders_imported, two.batches) == (one.status, one.orders_imported, one.batches)
    assert two.rows == one.rows
    content = _content(factory, store.id)
    assert all(content.values()), {name: len(rows) for name, rows in content.items()}
    assert _content(factory, other_store.id) == content
    # and the references point where the source says: each line in its order, each parcel item too
    items = _csv(SMALL, olist.ITEMS)
    assert [row[:2] + row[3:4] for row in content["lines"]] == sorted(
        (i["order_id"], i["order_item_id"], round(float(i["price"]) * 100)) for i in items
    )
    assert content["items"]
    assert all(row[3] for row in content["items"])
    _assert_matches_source(factory, other_store.id, SMALL)


def _fails_after_two_batches(rejects: Rejects, *, directory: Path) -> Iterator[list[OrderDraft]]:
    """A source that breaks mid-run (module level, so the planner process can be handed it)."""
    for number, batch in enumerate(olist.read(directory, Rejects()).batches(rejects, size=10)):
        if number == 2:
            raise OSError("the disk went away")
        yield batch


@pytest.mark.usefixtures("backend")
def test_a_planner_process_that_fails_stops_the_run_and_keeps_what_was_written(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    with pytest.raises(PlannerFailed, match="the disk went away"):
        runner.run_import(
            factory,
            store_id=store.id,
            source="olist",
            input_ref=str(SMALL),
            catalog=olist.read(SMALL, Rejects()).catalog,
            batches=partial(_fails_after_two_batches, directory=SMALL),
            rejects=Rejects(),
            parallel=True,
        )

    # the two batches written before it are there, and a run of the good source completes them
    assert _counts(factory, store.id)["orders"] == 20
    resumed, _ = _import(factory, store.id, SMALL, parallel=True)
    assert (resumed.orders_skipped, resumed.orders_imported) == (20, 19)
    _assert_matches_source(factory, store.id, SMALL)
