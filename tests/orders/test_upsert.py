"""orders.service.upsert_order / record_refund / cancel_by_external_id: the rules commerce platforms rely on."""

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core.errors import Invalid, NotFound
from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.orders import service as order_service
from doorstep.orders.commands import CancelOrderByRef, RecordRefund, UpsertOrder
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import CreateShipment, ShipmentItemInput
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey

PLACED = "2026-11-20T15:04:05-05:00"
_orders = itertools.count(1)


def upsert(n: int = 1, **overrides: Any) -> UpsertOrder:
    """An order as a platform sends it: 2 x 68.00 tee + 1 x 28.00 cap, shipping 6.95, tax 12.00."""
    body = order_body(n, source="shopify", **overrides)
    return UpsertOrder.model_validate(body)


def refund(external_id: str, amount: int, order: str = "ext-1", **fields: Any) -> RecordRefund:
    return RecordRefund(
        order_external_id=order,
        external_id=external_id,
        processed_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        amount_minor=amount,
        **fields,
    )


def names(factory: sessionmaker[Session], store: StoreWithKey, subject: str) -> list[str]:
    with transaction(factory) as session:
        return [m.name for m in flow_service.list_for_subject(session, store_id=store.id, subject_id=subject)]


def apply_upsert(
    factory: sessionmaker[Session], store: StoreWithKey, cmd: UpsertOrder
) -> order_service.Applied:
    with transaction(factory) as session:
        return order_service.upsert_order(session, store_id=store.id, cmd=cmd)


def apply_refund(
    factory: sessionmaker[Session], store: StoreWithKey, cmd: RecordRefund
) -> order_service.Applied:
    with transaction(factory) as session:
        return order_service.record_refund(session, store_id=store.id, cmd=cmd)


# --- upsert_order ---------------------------------------------------------------------------------------


def test_a_new_external_id_creates_the_order_and_emits_placed(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # when a platform's order arrives for the first time
    done = apply_upsert(factory, store, upsert())

    # then it is created with its totals and lines, and order.placed is recorded once
    assert done.milestones == ["order.placed"]
    assert (done.order.external_id, done.order.number, done.order.source) == ("ext-1", "#1001", "shopify")
    assert (done.order.subtotal_minor, done.order.total_minor, done.order.refunded_minor) == (16400, 18295, 0)
    assert [li.external_id for li in done.order.line_items] == ["li-1-1", "li-1-2"]
    assert names(factory, store, done.order.public_id) == ["order.placed"]


def test_a_repeat_updates_the_same_order_in_place(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given an order the platform sent once
    first = apply_upsert(factory, store, upsert())
    tee_id = first.order.line_items[0].public_id

    # when it sends the order again with 3 tees, a new note, other tags and a new total
    lines = order_body(1)["line_items"]
    lines[0] = {**lines[0], "quantity": 3}
    again = apply_upsert(
        factory, store, upsert(line_items=lines, tags=["gift"], note="leave at door", total_minor=25095)
    )

    # then the same order (and the same tee line) now says so, and nothing is announced twice
    assert again.order.public_id == first.order.public_id
    assert again.milestones == []
    assert (again.order.total_minor, again.order.subtotal_minor) == (25095, 23200)
    assert (again.order.tags, again.order.note) == (["gift"], "leave at door")
    assert again.order.line_items[0].public_id == tee_id
    assert again.order.line_items[0].quantity == 3
    assert names(factory, store, first.order.public_id) == ["order.placed"]


def test_lines_are_matched_by_external_id(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    # given an order with a tee and a cap
    first = apply_upsert(factory, store, upsert())
    tee = first.order.line_items[0]

    # when the platform now lists a sock and the tee (in that order), and no cap
    sock = {"external_id": "li-1-3", "sku": "SOCK", "title": "Socks", "quantity": 1, "unit_price_minor": 1200}
    again = apply_upsert(factory, store, upsert(line_items=[sock, order_body(1)["line_items"][0]]))

    # then the sock is added, the tee is kept as the same row, and the cap is gone
    assert [(li.external_id, li.position) for li in again.order.line_items] == [("li-1-3", 0), ("li-1-1", 1)]
    assert again.order.line_items[1].public_id == tee.public_id
    assert again.order.subtotal_minor == 1200 + 2 * 6800


def test_a_line_held_by_a_shipment_is_kept_when_the_platform_drops_it(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given an order whose cap already left in a parcel
    first = apply_upsert(factory, store, upsert())
    cap = first.order.line_items[1]
    with transaction(factory) as session:
        shipment_service.create_shipment(
            session,
            store_id=store.id,
            cmd=CreateShipment(
                order_id=first.order.public_id,
                carrier="ups",
                tracking_number="1Z999AA10123456784",
                items=(ShipmentItemInput(line_item_id=cap.public_id, quantity=1),),
            ),
        )

    # when the platform sends the order without the cap
    again = apply_upsert(factory, store, upsert(line_items=order_body(1)["line_items"][:1]))

    # then the cap stays (the parcel still holds it), after the lines the platform listed
    assert [li.external_id for li in again.order.line_items] == ["li-1-1", "li-1-2"]
    assert again.order.line_items[1].public_id == cap.public_id


def test_cancelled_at_cancels_once_and_is_never_undone(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given a live order
    order_id = apply_upsert(factory, store, upsert()).order.public_id
    cancelled_at = "2026-11-21T09:00:00-05:00"

    # when the platform says it was cancelled, twice, and then sends it without cancelled_at
    first = apply_upsert(factory, store, upsert(cancelled_at=cancelled_at, cancel_reason="customer"))
    second = apply_upsert(factory, store, upsert(cancelled_at=cancelled_at, cancel_reason="customer"))
    third = apply_upsert(factory, store, upsert())

    # then order.cancelled is recorded once, and the order stays cancelled
    assert (first.milestones, second.milestones, third.milestones) == (["order.cancelled"], [], [])
    assert third.order.cancelled_at == datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
    assert third.order.cancel_reason == "customer"
    assert names(factory, store, order_id) == ["order.placed", "order.cancelled"]


def test_an_order_first_seen_cancelled_is_placed_then_cancelled(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    done = apply_upsert(factory, store, upsert(cancelled_at="2026-11-21T09:00:00-05:00"))

    assert done.milestones == ["order.placed", "order.cancelled"]


def test_upsert_needs_an_external_id_on_every_line() -> None:
    lines = [{**order_body(1)["line_items"][0], "external_id": None}]

    with pytest.raises(ValidationError, match="external_id is required"):
        upsert(line_items=lines)


def test_upsert_refuses_a_total_below_what_was_already_refunded(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given an order of 182.95 with 100.00 refunded
    apply_upsert(factory, store, upsert())
    apply_refund(factory, store, refund("r1", 10000))

    # when the platform says the order now totals 50.00
    with pytest.raises(Invalid) as caught:
        apply_upsert(factory, store, upsert(total_minor=5000))

    # then it is refused, naming the field
    assert [p.field for p in caught.value.problems] == ["total_minor"]


def test_cancel_by_external_id(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    cancel = CancelOrderByRef(external_id="ext-1", reason="fraud", cancelled_at=None)
    with pytest.raises(NotFound), transaction(factory) as session:
        order_service.cancel_by_external_id(session, store_id=store.id, cmd=cancel)

    apply_upsert(factory, store, upsert())
    with transaction(factory) as session:
        done = order_service.cancel_by_external_id(session, store_id=store.id, cmd=cancel)
        again = order_service.cancel_by_external_id(session, store_id=store.id, cmd=cancel)

    assert (done.milestones, again.milestones, done.order.cancel_reason) == (["order.cancelled"], [], "fraud")


# --- record_refund --------------------------------------------------------------------------------------


def test_a_refund_is_recorded_once_and_announced(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    # given an order of 182.95
    order = apply_upsert(factory, store, upsert()).order

    # when a refund of 68.00 arrives, then again
    first = apply_refund(factory, store, refund("r1", 6800, currency="USD"))
    again = apply_refund(factory, store, refund("r1", 6800, currency="USD"))

    # then it counts once, and refund.issued is recorded on the refund's own id
    assert (first.milestones, again.milestones) == (["refund.issued"], [])
    assert again.order.refunded_minor == 6800
    with transaction(factory) as session:
        rows = order_service.list_refunds(session, store_id=store.id, order_id=order.public_id)
        assert [(r.external_id, r.amount_minor, r.currency) for r in rows] == [("r1", 6800, "USD")]
        refund_id = rows[0].public_id
    assert refund_id.startswith("rf_")
    assert len(refund_id) <= 40
    assert names(factory, store, refund_id) == ["refund.issued"]


def test_refunds_add_up_to_at_most_the_total(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    # given an order of 182.95 with 150.00 refunded
    apply_upsert(factory, store, upsert())
    apply_refund(factory, store, refund("r1", 15000))

    # when a second refund of 40.00 would pass the total
    with pytest.raises(Invalid) as caught:
        apply_refund(factory, store, refund("r2", 4000))

    # then it is refused naming the amount, and the exact remainder is still accepted
    assert [p.field for p in caught.value.problems] == ["amount_minor"]
    assert "send at most 3295" in caught.value.problems[0].fix
    assert apply_refund(factory, store, refund("r3", 3295)).order.refunded_minor == 18295


def test_a_refund_in_another_currency_is_refused(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    apply_upsert(factory, store, upsert())

    with pytest.raises(Invalid) as caught:
        apply_refund(factory, store, refund("r1", 100, currency="EUR"))

    assert [p.field for p in caught.value.problems] == ["currency"]


def test_a_refund_for_an_unknown_order_waits_for_it(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    with pytest.raises(NotFound, match="replay this refund"):
        apply_refund(factory, store, refund("r1", 100, order="nope"))


def test_a_refund_without_money_is_recorded_but_not_announced(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    apply_upsert(factory, store, upsert())

    done = apply_refund(factory, store, refund("restock-only", 0))

    assert (done.milestones, done.order.refunded_minor) == ([], 0)


def test_refunds_are_per_store(
    factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    # given the same platform order id in two stores
    apply_upsert(factory, store, upsert())
    apply_upsert(factory, other_store, upsert())

    # when one store's refund is recorded
    apply_refund(factory, store, refund("r1", 1000))

    # then the other store's order is untouched
    assert apply_refund(factory, other_store, refund("r2", 0)).order.refunded_minor == 0


# Each step: (refund id drawn from a small set, so repeats happen; amount up to just over the total).
STEPS = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 20000)), max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_refunded_never_exceeds_the_total_and_repeats_change_nothing(
    factory: sessionmaker[Session], store: StoreWithKey, steps: list[tuple[str, int]]
) -> None:
    # given a fresh order of 182.95 (a new platform id per example, in the same database)
    external = f"prop-{next(_orders)}"
    total = apply_upsert(factory, store, upsert(external_id=external)).order.total_minor
    accepted: dict[str, int] = {}

    for refund_id, amount in steps:
        # when each refund arrives (some repeated, some too large)
        try:
            done = apply_refund(factory, store, refund(refund_id, amount, order=external))
        except Invalid:
            # then a refused refund is one that would have passed the total
            assert refund_id not in accepted
            assert sum(accepted.values()) + amount > total
            continue
        if refund_id in accepted:
            assert done.milestones == []  # a repeat announces nothing
        else:
            accepted[refund_id] = amount
        # and the order's refunded sum is exactly the accepted refunds, never above the total
        assert done.order.refunded_minor == sum(accepted.values()) <= total
