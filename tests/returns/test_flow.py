"""A return end to end through the services: label, parcel scans, inspection, refund, credit, exchange."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.orders import service as order_service
from doorstep.orders.models import Order
from doorstep.returns import credit, refunds
from doorstep.returns import service as return_service
from doorstep.returns.commands import (
    ApproveReturn,
    CreateReturn,
    InspectedItem,
    InspectReturn,
    IssueLabel,
    ReceiveReturn,
    RedeemCredit,
    RejectionReason,
    RejectReturn,
    ResolveReturn,
)
from doorstep.returns.models import ReturnRefund, StoreCredit
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import AddCheckpoints, CheckpointInput
from doorstep.shipments.status import Status as ParcelStatus
from tests.factories.returns import DELIVERED, make_order
from tests.factories.stores import StoreWithKey

NOW = DELIVERED + timedelta(days=2)


@pytest.fixture(autouse=True)
def _at_the_fixtures_now() -> Iterator[None]:
    """Now is just before the fixtures' NOW (two days after delivery): refunds are scheduled on the clock
    and looked up as due at NOW, so the clock must not have passed it (it had, once December came)."""
    with time_machine.travel(NOW - timedelta(hours=1), tick=True):
        yield


def open_return(factory: sessionmaker[Session], store_id: int, order_id: str, body: dict[str, Any]) -> str:
    with transaction(factory) as session:
        applied = return_service.create_return(
            session, store_id=store_id, order_id=order_id, cmd=CreateReturn.model_validate(body), now=NOW
        )
        return applied.return_request.public_id


def milestones(factory: sessionmaker[Session], store_id: int, subject: str) -> list[str]:
    with transaction(factory) as session:
        return [m.name for m in flow_service.list_for_subject(session, store_id=store_id, subject_id=subject)]


def scan(
    factory: sessionmaker[Session], store_id: int, shipment_id: str, status: ParcelStatus, hours: int
) -> None:
    with transaction(factory) as session:
        shipment_service.add_checkpoints(
            session, store_id=store_id, shipment_id=shipment_id,
            cmd=AddCheckpoints(checkpoints=(CheckpointInput(occurred_at=NOW + timedelta(hours=hours), status=status),)),
        )  # fmt: skip


def test_refund_return_moves_through_every_step(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    # given an approved return of one tee for a refund
    order = make_order(factory, store.id)
    body = {
        "items": [{"line_item_id": order.lines[0], "quantity": 2, "reason": "too_big"}],
        "resolution": "refund",
    }
    return_id = open_return(factory, store.id, order.order_id, body)

    # when a label is issued and the return parcel is scanned in transit, twice, then delivered
    with transaction(factory) as session:
        applied = return_service.issue_label(
            session, store_id=store.id, return_id=return_id,
            cmd=IssueLabel(carrier="usps", tracking_number="9400100000000000000001"),
        )  # fmt: skip
        parcel = applied.return_request.return_shipment_id
        shipment = shipment_service.list_shipments(
            session, store_id=store.id, limit=10, tracking_number="9400100000000000000001"
        )[0][0]
        assert shipment.id == parcel
        assert shipment.direction == "return"
        shipment_id = shipment.public_id
    scan(factory, store.id, shipment_id, ParcelStatus.in_transit, 1)
    with transaction(factory) as session:
        moved = return_service.advance_from_shipments(session, store_id=store.id)
    scan(factory, store.id, shipment_id, ParcelStatus.in_transit, 2)
    with transaction(factory) as session:
        assert return_service.advance_from_shipments(session, store_id=store.id) == []  # nothing new
    scan(factory, store.id, shipment_id, ParcelStatus.delivered, 30)
    with transaction(factory) as session:
        return_service.advance_from_shipments(session, store_id=store.id)
        request = return_service.get_return(session, store_id=store.id, return_id=return_id)
        status, received_at = request.status, request.received_at

    # then the return went in transit, then received at the delivery scan's time
    assert [a.milestones for a in moved] == [["return.in_transit"]]
    assert status == "received"
    assert received_at == NOW + timedelta(hours=30)

    # when one of the two units fails inspection and the return is resolved
    with transaction(factory) as session:
        return_service.inspect_return(
            session, store_id=store.id, return_id=return_id,
            cmd=InspectReturn(items=(InspectedItem(line_item_id=order.lines[0], accepted_quantity=1, note="worn"),)),
        )  # fmt: skip
        resolved = return_service.resolve_return(
            session, store_id=store.id, return_id=return_id, cmd=ResolveReturn()
        )
        refund_minor = resolved.return_request.refund_minor
        assert resolved.return_request.outcome == "refunded"

    # then half the quoted refund waits in the outbox, and a platform success records it on the order
    assert refund_minor == (2 * 7297 - 500) // 2
    with transaction(factory) as session:
        due = refunds.due_refunds(session, store_id=store.id, now=NOW + timedelta(days=1))
        assert [(d.amount_minor, d.lines[0]["quantity"]) for d in due] == [(refund_minor, 1)]
        refunds.record_result(
            session,
            store_id=store.id,
            refund_id=due[0].refund_id,
            channel="shopify",
            ok=True,
            external_id="rf-1",
        )
        again = refunds.record_result(
            session,
            store_id=store.id,
            refund_id=due[0].refund_id,
            channel="shopify",
            ok=True,
            external_id="rf-1",
        )
        assert again.status == "succeeded"
        assert (
            order_service.get_order(session, store_id=store.id, order_id=order.order_id).refunded_minor
            == refund_minor
        )
    assert sorted(milestones(factory, store.id, return_id)) == sorted([
        "return.requested", "return.approved", "return.label_issued", "return.in_transit", "return.received",
        "return.resolved",
    ])  # fmt: skip


def test_failed_refunds_back_off_then_fail_and_can_be_retried(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "too_big"}], "resolution": "refund",
            "method": "in_store"}  # fmt: skip
    return_id = open_return(factory, store.id, order.order_id, body)
    with transaction(factory) as session:
        return_service.receive_return(session, store_id=store.id, return_id=return_id, cmd=ReceiveReturn())
        return_service.inspect_return(session, store_id=store.id, return_id=return_id, cmd=InspectReturn())
        return_service.resolve_return(session, store_id=store.id, return_id=return_id, cmd=ResolveReturn())
        refund_id = refunds.due_refunds(session, store_id=store.id, now=NOW)[0].refund_id
    for attempt in range(refunds.MAX_ATTEMPTS):
        with transaction(factory) as session:
            row = refunds.record_result(
                session,
                store_id=store.id,
                refund_id=refund_id,
                channel="shopify",
                ok=False,
                error=f"HTTP 503 #{attempt}",
            )
            status, error = row.status, row.last_error
    assert (status, error) == ("failed", "HTTP 503 #5")
    with transaction(factory) as session:
        assert refunds.retry_refund(session, store_id=store.id, refund_id=refund_id).status == "pending"
        assert (
            order_service.get_order(session, store_id=store.id, order_id=order.order_id).refunded_minor == 0
        )


def test_store_credit_is_a_ledger_with_an_unguessable_code(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "changed_mind"}],
            "resolution": "store_credit", "method": "in_store"}  # fmt: skip
    return_id = open_return(factory, store.id, order.order_id, body)
    with transaction(factory) as session:
        return_service.receive_return(session, store_id=store.id, return_id=return_id, cmd=ReceiveReturn())
        return_service.inspect_return(session, store_id=store.id, return_id=return_id, cmd=InspectReturn())
        request = return_service.resolve_return(
            session, store_id=store.id, return_id=return_id, cmd=ResolveReturn()
        ).return_request
        assert request.outcome == "credited"
        credit_row = session.get(StoreCredit, request.store_credit_id)
        assert credit_row is not None
        code, balance = credit_row.code, credit_row.balance_minor
        assert [(e.kind, e.amount_minor) for e in credit_row.entries] == [("issue", 7297), ("bonus", 729)]
    assert balance == 7297 + 729  # in store: no fee
    assert len(code.replace("-", "")) == 20
    with transaction(factory) as session:
        spent = credit.redeem(
            session,
            store_id=store.id,
            cmd=RedeemCredit(code=code.lower(), amount_minor=1000, reference="cart-1"),
        )
        repeat = credit.redeem(
            session, store_id=store.id, cmd=RedeemCredit(code=code, amount_minor=1000, reference="cart-1")
        )
        assert spent.entry is not None
        assert repeat.entry is None
        assert repeat.credit.balance_minor == balance - 1000
    with pytest.raises(Invalid, match="more than the"), transaction(factory) as session:
        credit.redeem(
            session, store_id=store.id, cmd=RedeemCredit(code=code, amount_minor=balance, reference="cart-2")
        )
    with pytest.raises(NotFound), transaction(factory) as session:
        credit.redeem(
            session, store_id=store.id + 1, cmd=RedeemCredit(code=code, amount_minor=1, reference="x")
        )


def test_instant_exchange_creates_the_replacement_order(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given two orders of one product in two sizes (the store's catalogue of variants)
    tee = {"title": "Merino Tee", "product_id": "p-tee", "quantity": 1}
    make_order(
        factory,
        store.id,
        7,
        line_items=[
            tee | {"external_id": "l", "variant_id": "v-l", "variant_title": "L", "unit_price_minor": 7200}
        ],
    )
    order = make_order(factory, store.id, 8, line_items=[tee | {"external_id": "m", "variant_id": "v-m", "variant_title": "M", "unit_price_minor": 6800}], tax_minor=0)  # fmt: skip
    with transaction(factory) as session:
        options = return_service.list_exchange_options(
            session, store_id=store.id, line_item_id=order.lines[0]
        )
    assert [(o.variant_id, o.unit_price_minor) for o in options] == [("v-l", 7200), ("v-m", 6800)]

    # when the M is exchanged for the L (4.00 dearer)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "too_small", "exchange_variant_id": "v-l"}],
            "resolution": "exchange"}  # fmt: skip
    return_id = open_return(factory, store.id, order.order_id, body)

    # then the replacement order exists at once, charging the difference, and the fee is waived
    with transaction(factory) as session:
        request = return_service.get_return(session, store_id=store.id, return_id=return_id)
        assert (request.status, request.charge_minor, request.fee_minor) == ("approved", 400, 0)
        replacement = session.get(Order, request.exchange_order_id)
        assert replacement is not None
        assert (replacement.total_minor, replacement.source) == (400, "exchange")
        assert [(li.variant_id, li.variant_title, li.unit_price_minor) for li in replacement.line_items] == [
            ("v-l", "L", 7200)
        ]
        assert replacement.customer_id == request.order.customer_id


def test_unknown_exchange_variant_is_refused(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "too_small", "exchange_variant_id": "v-xl"}],
            "resolution": "exchange"}  # fmt: skip
    with pytest.raises(Invalid, match="is not a variant offered"), transaction(factory) as session:
        return_service.create_return(session, store_id=store.id, order_id=order.order_id,
                                     cmd=CreateReturn.model_validate(body), now=NOW)  # fmt: skip


def test_reject_with_a_reason_and_illegal_moves(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "damaged", "photos": ["pho_x"]}],
            "resolution": "refund"}  # fmt: skip
    return_id = open_return(factory, store.id, order.order_id, body)  # held for review (damaged)
    with pytest.raises(Conflict, match="cannot get a label"), transaction(factory) as session:
        return_service.issue_label(
            session,
            store_id=store.id,
            return_id=return_id,
            cmd=IssueLabel(carrier="usps", tracking_number="940011"),
        )
    with transaction(factory) as session:
        return_service.reject_return(
            session, store_id=store.id, return_id=return_id,
            cmd=RejectReturn(reason=RejectionReason.outside_policy, message="Photos show wear."), now=NOW,
        )  # fmt: skip
    with pytest.raises(Conflict, match="it is closed"), transaction(factory) as session:
        return_service.approve_return(session, store_id=store.id, return_id=return_id, cmd=ApproveReturn())
    assert milestones(factory, store.id, return_id) == ["return.requested", "return.rejected"]
    # a rejected return frees its units for a new return
    with transaction(factory) as session:
        assert (
            return_service.returned_by_line(session, store_id=store.id, order_id=order.order_id)[
                order.lines[0]
            ]
            == 0
        )


def test_another_store_cannot_act_on_a_return(
    factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    body = {
        "items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "too_big"}],
        "resolution": "refund",
    }
    return_id = open_return(factory, store.id, order.order_id, body)
    with pytest.raises(NotFound), transaction(factory) as session:
        return_service.receive_return(
            session, store_id=other_store.id, return_id=return_id, cmd=ReceiveReturn()
        )
    with transaction(factory) as session:
        assert return_service.get_return(session, store_id=store.id, return_id=return_id).status == "approved"
        assert session.scalars(select(ReturnRefund)).all() == []


def test_simulated_return_parcel_moves_the_return_through_the_real_poller(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    """The demo path: the label is issued on approval on Doorstep's simulated carrier, the tracking poller
    fetches its scans like any carrier's, and the returns job moves the return along from them."""
    import httpx

    from doorstep.core import clock
    from doorstep.inbound import polling
    from doorstep.returns.policy import DEFAULT_POLICY
    from tests.conftest import TEST_SECRET

    with transaction(factory) as session:
        return_service.set_policy(
            session,
            store_id=store.id,
            document=DEFAULT_POLICY.model_dump(mode="json") | {"auto_label": "simulated"},
        )
    order = make_order(factory, store.id)
    body = {
        "items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "too_big"}],
        "resolution": "refund",
    }
    with transaction(factory) as session:
        applied = return_service.create_return(
            session, store_id=store.id, order_id=order.order_id, cmd=CreateReturn.model_validate(body)
        )
        request = applied.return_request
        assert applied.milestones == ["return.requested", "return.approved", "return.label_issued"]
        return_id, rma = request.public_id, request.rma
    seen: list[str] = []
    with httpx.Client() as client:
        for days in (1, 2, 4, 8):
            at = clock.now() + timedelta(days=days)
            polling.poll_due(factory, secret=TEST_SECRET, client=client, now=at)
            with transaction(factory) as session:
                return_service.advance_from_shipments(session, store_id=store.id, now=at)
                request = return_service.get_return(session, store_id=store.id, return_id=return_id)
                parcel = shipment_service.list_shipments(
                    session, store_id=store.id, limit=5, tracking_number=rma
                )[0][0]
                seen.append(f"{parcel.status}:{request.status}")
    assert parcel.direction == "return"
    assert parcel.carrier == "simulated"
    # whatever path the simulated parcel takes, the return follows it: moving → in transit, delivered → received
    for step in seen:
        parcel_status, return_status = step.split(":")
        if parcel_status == "delivered":
            assert return_status == "received"
        elif parcel_status in ("in_transit", "out_for_delivery", "attempt_failed", "available_for_pickup"):
            assert return_status in ("in_transit", "received")
    assert any(step.endswith(("in_transit", "received")) for step in seen), seen
