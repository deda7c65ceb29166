"""Package-protection claims: when the parcel's status allows them, amounts, auto-approval, decisions."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.orders.models import Order
from doorstep.returns import claims
from doorstep.returns.commands import DecideClaim, FileClaim
from doorstep.returns.models import ReturnRefund
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import AddCheckpoints, CheckpointInput, CreateShipment
from doorstep.shipments.status import Status, Substatus
from tests.factories.returns import DELIVERED, PLACED, make_order
from tests.factories.stores import StoreWithKey

CHEAP = [{"external_id": "s", "title": "Socks", "quantity": 2, "unit_price_minor": 1200}]


def options(
    factory: sessionmaker[Session], store_id: int, shipment_id: str, hours: int
) -> dict[str, claims.ClaimOption]:
    with transaction(factory) as session:
        found = claims.claimable(
            session, store_id=store_id, shipment_id=shipment_id, now=DELIVERED + timedelta(hours=hours)
        )
    return {o.kind.value: o for o in found}


def file(
    factory: sessionmaker[Session], store_id: int, order_id: str, hours: int = 72, **fields: object
) -> tuple[str, list[str]]:
    with transaction(factory) as session:
        claim, names = claims.file_claim(
            session, store_id=store_id, order_id=order_id, cmd=FileClaim.model_validate(fields),
            now=DELIVERED + timedelta(hours=hours),
        )  # fmt: skip
        return claim.public_id, names


def test_a_delivered_parcel_can_be_reported_stolen_only_after_the_wait(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    assert order.shipment_id is not None
    early = options(factory, store.id, order.shipment_id, hours=10)
    assert (early["stolen"].allowed, early["stolen"].reason) == (False, "too_soon")
    assert early["stolen"].available_at == DELIVERED + timedelta(hours=48)
    assert (early["lost"].allowed, early["lost"].reason) == (False, "not_lost")
    assert early["damaged"].allowed
    assert early["wrong_item"].allowed
    assert options(factory, store.id, order.shipment_id, hours=49)["stolen"].allowed
    late = options(factory, store.id, order.shipment_id, hours=24 * 40)
    assert {o.reason for o in late.values()} == {"window_closed"}


def test_lost_after_a_lost_exception(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id, delivered_at=None)
    with transaction(factory) as session:
        shipment = shipment_service.create_shipment(
            session,
            store_id=store.id,
            cmd=CreateShipment(order_id=order.order_id, carrier="ups", tracking_number="1Z999LOST01"),
        ).shipment
        shipment_id = shipment.public_id
    assert options(factory, store.id, shipment_id, hours=0)["lost"].allowed is False
    with transaction(factory) as session:
        shipment_service.add_checkpoints(
            session, store_id=store.id, shipment_id=shipment_id,
            cmd=AddCheckpoints(checkpoints=(CheckpointInput(
                occurred_at=PLACED + timedelta(days=2), status=Status.exception, substatus=Substatus.lost),)),
        )  # fmt: skip
    found = options(factory, store.id, shipment_id, hours=0)
    assert found["lost"].allowed
    assert (found["damaged"].allowed, found["stolen"].reason) == (False, "not_delivered_yet")


def test_small_claims_are_settled_at_once_with_a_reship(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id, line_items=CHEAP, tax_minor=0, shipping_minor=0)
    assert order.shipment_id is not None
    claim_id, names = file(factory, store.id, order.order_id, shipment_id=order.shipment_id, kind="stolen")
    assert names == ["claim.filed", "claim.resolved"]
    with transaction(factory) as session:
        claim = claims.get_claim(session, store_id=store.id, claim_id=claim_id)
        assert (claim.status, claim.resolution, claim.is_auto_approved, claim.amount_minor) == (
            "resolved",
            "reship",
            True,
            2400,
        )
        replacement = session.get(Order, claim.replacement_order_id)
        assert replacement is not None
        assert (replacement.total_minor, replacement.source) == (0, "claim")
        assert [(li.title, li.quantity) for li in replacement.line_items] == [("Socks", 2)]


def test_larger_claims_wait_for_the_merchant(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    assert order.shipment_id is not None
    claim_id, names = file(
        factory, store.id, order.order_id, shipment_id=order.shipment_id, kind="damaged", evidence=["pho_1"],
        preferred_resolution="refund", items=[{"line_item_id": order.lines[0], "quantity": 1}],
    )  # fmt: skip
    assert names == ["claim.filed"]
    with pytest.raises(Invalid, match="reason"), transaction(factory) as session:
        claims.decide_claim(session, store_id=store.id, claim_id=claim_id, cmd=DecideClaim(approve=False))
    with transaction(factory) as session:
        claim, decided = claims.decide_claim(
            session, store_id=store.id, claim_id=claim_id, cmd=DecideClaim(approve=True)
        )
        assert (claim.status, claim.resolution, claim.amount_minor) == (
            "resolved",
            "refund",
            6800 + 1200 * 6800 // 16400 + 695 * 6800 // 16400,
        )
        refund = session.scalars(select(ReturnRefund).where(ReturnRefund.id == claim.refund_id)).one()
        assert (refund.amount_minor, refund.status) == (claim.amount_minor, "pending")
        names_now = [
            m.name for m in flow_service.list_for_subject(session, store_id=store.id, subject_id=claim_id)
        ]
    assert decided == ["claim.resolved"]
    assert sorted(names_now) == ["claim.filed", "claim.resolved"]
    with pytest.raises(Conflict, match="already resolved"), transaction(factory) as session:
        claims.decide_claim(session, store_id=store.id, claim_id=claim_id, cmd=DecideClaim(approve=True))


def test_bad_claims_are_refused(
    factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    order, other = make_order(factory, store.id, 1), make_order(factory, store.id, 2)
    assert order.shipment_id is not None
    assert other.shipment_id is not None
    with pytest.raises(Invalid, match="photo"):
        file(factory, store.id, order.order_id, shipment_id=order.shipment_id, kind="damaged")
    with pytest.raises(Invalid, match="cannot be claimed now"):
        file(factory, store.id, order.order_id, shipment_id=order.shipment_id, kind="lost")
    with pytest.raises(Invalid, match="more than the 2 in this parcel"):
        file(factory, store.id, order.order_id, shipment_id=order.shipment_id, kind="wrong_item", evidence=["pho_1"],
             items=[{"line_item_id": order.lines[0], "quantity": 5}])  # fmt: skip
    with pytest.raises(NotFound):  # a parcel of another order
        file(factory, store.id, order.order_id, shipment_id=other.shipment_id, kind="stolen")
    with pytest.raises(NotFound):  # another store
        file(factory, other_store.id, order.order_id, shipment_id=order.shipment_id, kind="stolen")
    first, _ = file(
        factory, store.id, order.order_id, shipment_id=order.shipment_id, kind="stolen", idempotency_key="c-1"
    )
    again, names = file(
        factory, store.id, order.order_id, shipment_id=order.shipment_id, kind="stolen", idempotency_key="c-1"
    )
    assert (again, names) == (first, [])
    with pytest.raises(Conflict, match="already open"):
        file(factory, store.id, order.order_id, shipment_id=order.shipment_id, kind="stolen")
