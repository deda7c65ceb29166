"""Returns and claims notify the shopper at each step: service → milestone → flow job → worker → devbox outbox."""

import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.outbox.models import OutboxMessage
from doorstep.returns import claims
from doorstep.returns import service as return_service
from doorstep.returns.commands import (
    ApproveReturn,
    ClaimKind,
    ClaimResolution,
    CreateReturn,
    DecideClaim,
    FileClaim,
    InspectReturn,
    IssueLabel,
    RejectionReason,
    RejectReturn,
    ResolveReturn,
)
from doorstep.returns.models import ReturnRequest, StoreCredit
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import AddCheckpoints, CheckpointInput
from doorstep.shipments.status import Status as ParcelStatus
from tests.factories.orders import order_body
from tests.factories.returns import make_order
from tests.factories.stores import StoreWithKey
from tests.messaging.conftest import NOW, messages, run_worker


def _outbox(factory: sessionmaker[Session], store_id: int) -> list[OutboxMessage]:
    with transaction(factory) as session:
        rows = list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.store_id == store_id).order_by(OutboxMessage.id)
            )
        )
        session.expunge_all()
        return rows


class Outbox:
    """Runs the worker and answers what it newly put in the devbox outbox."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings, store_id: int) -> None:
        self.factory, self.settings, self.store_id = factory, settings, store_id
        self.seen = len(_outbox(factory, store_id))

    def new(self) -> list[OutboxMessage]:
        run_worker(self.factory, self.settings)
        rows = _outbox(self.factory, self.store_id)
        fresh, self.seen = rows[self.seen :], len(rows)
        return fresh


def _customer(locale: str) -> dict[str, object]:
    customer: dict[str, object] = order_body()["customer"]
    return {**customer, "locale": locale, "timezone": "America/New_York"}


def _token(factory: sessionmaker[Session], store_id: int, return_id: str) -> str:
    with transaction(factory) as session:
        return return_service.get_return(session, store_id=store_id, return_id=return_id).token


def test_a_return_sends_one_message_per_step_with_what_to_do_next(
    factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, clock: time_machine.Traveller
) -> None:
    # Given a delivered order (its own messages already sent) and a shopper who consented to e-mail
    order = make_order(factory, store.id, customer=_customer("en"))
    run_worker(factory, settings)
    outbox = Outbox(factory, settings, store.id)

    # When the shopper asks to return two tees for store credit, with a prepaid label
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 2, "reason": "too_big"}],
            "resolution": "store_credit", "method": "label"}  # fmt: skip
    with transaction(factory) as session:
        applied = return_service.create_return(
            session, store_id=store.id, order_id=order.order_id, cmd=CreateReturn.model_validate(body)
        )
        return_id, status = applied.return_request.public_id, applied.return_request.status
    sent = outbox.new()
    with transaction(factory) as session:
        request = return_service.get_return(session, store_id=store.id, return_id=return_id)
        rma, page = request.rma, f"/r/{request.token}"
    # Then the request is confirmed by e-mail
    if status == "requested":  # the store reviews returns by hand: approve it
        assert [(m.kind, m.subject) for m in sent] == [
            ("email", "We've received your return request for order #1001")
        ]
        with transaction(factory) as session:
            return_service.approve_return(
                session, store_id=store.id, return_id=return_id, cmd=ApproveReturn()
            )
        sent = outbox.new()
    else:  # the policy approved it at once: both moments are told
        assert sorted(m.subject or "" for m in sent) == [
            "We've received your return request for order #1001",
            "Your return for order #1001 is approved",
        ]
        sent = [m for m in sent if m.subject == "Your return for order #1001 is approved"]
    assert len(sent) == 1
    assert sent[0].subject == "Your return for order #1001 is approved"
    assert "We're preparing your prepaid return label" in sent[0].text
    assert "/e/c/msg_" in (sent[0].html or "")

    # When the label is issued
    with transaction(factory) as session:
        return_service.issue_label(
            session, store_id=store.id, return_id=return_id,
            cmd=IssueLabel(carrier="usps", tracking_number="9400100000000000000042"),
        )  # fmt: skip
        parcel = shipment_service.list_shipments(
            session, store_id=store.id, limit=10, tracking_number="9400100000000000000042"
        )[0][0].public_id
    (label,) = outbox.new()
    assert label.subject == "Your return for order #1001 is ready to send"
    assert "Your prepaid return label is ready on your return page" in label.text
    assert f"Return code: {rma}, order #1001." in label.text

    # When the carrier scans the return parcel (in transit: off by default) and delivers it to the store
    for status_, hours in ((ParcelStatus.in_transit, 1), (ParcelStatus.delivered, 2)):
        with transaction(factory) as session:
            shipment_service.add_checkpoints(
                session, store_id=store.id, shipment_id=parcel,
                cmd=AddCheckpoints(checkpoints=(CheckpointInput(occurred_at=NOW.replace(hour=10 + hours), status=status_),)),
            )  # fmt: skip
            return_service.advance_from_shipments(session, store_id=store.id)
    got = outbox.new()
    (received,) = got
    assert received.subject == "We've received your return for order #1001"
    assert f"Your return {rma} for order #1001 has arrived" in received.text

    # When it is inspected and resolved: the credit code is in the message, the amount in the shopper's locale
    with transaction(factory) as session:
        return_service.inspect_return(session, store_id=store.id, return_id=return_id, cmd=InspectReturn())
        request = return_service.resolve_return(
            session, store_id=store.id, return_id=return_id, cmd=ResolveReturn()
        ).return_request
        credit = session.get(StoreCredit, request.store_credit_id)
        assert credit is not None
        code, credit_minor = credit.code, request.credit_minor
    (resolved,) = outbox.new()
    assert resolved.subject == "Your return for order #1001 is complete"
    amount = f"${credit_minor // 100}.{credit_minor % 100:02d}"
    assert (
        f"We've added {amount} in store credit for return {rma} (order #1001). Your code: {code}"
        in resolved.text
    )
    assert page not in resolved.text  # the link goes through the click redirect, never bare
    assert resolved.to_address == "shopper1@example.com"

    # And every return message was decided once and sent; the worker running again sends nothing twice
    # (requested and approved may be claimed by the worker in either order when the policy approves at once)
    decided = [m for m in messages(factory, store.id) if m.subject_id == return_id]
    assert sorted((m.milestone, m.status) for m in decided) == [
        ("return.approved", "sent"), ("return.label_issued", "sent"), ("return.received", "sent"),
        ("return.requested", "sent"), ("return.resolved", "sent"),
    ]  # fmt: skip
    assert outbox.new() == []


def test_the_click_link_of_a_return_message_leads_to_the_return_page(
    factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, clock: time_machine.Traveller
) -> None:
    from doorstep.messaging import links

    order = make_order(factory, store.id, customer=_customer("en"))
    run_worker(factory, settings)
    outbox = Outbox(factory, settings, store.id)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "changed_mind"}],
            "resolution": "refund", "method": "in_store"}  # fmt: skip
    with transaction(factory) as session:
        return_id = return_service.create_return(
            session, store_id=store.id, order_id=order.order_id, cmd=CreateReturn.model_validate(body)
        ).return_request.public_id
    sent = outbox.new()
    page = f"https://track.example/r/{_token(factory, store.id, return_id)}"
    target = links.click("https://track.example", settings.security.secret_key.get_secret_value(),
                         sent[0].message_id, page)  # fmt: skip
    assert target in sent[0].text


def test_a_rejected_return_gives_the_reason_in_the_shoppers_language(
    factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, clock: time_machine.Traveller
) -> None:
    order = make_order(factory, store.id, customer=_customer("fr"))
    run_worker(factory, settings)
    outbox = Outbox(factory, settings, store.id)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "changed_mind"}],
            "resolution": "refund", "method": "label"}  # fmt: skip
    with transaction(factory) as session:
        return_id = return_service.create_return(
            session, store_id=store.id, order_id=order.order_id, cmd=CreateReturn.model_validate(body)
        ).return_request.public_id
    outbox.new()
    with transaction(factory) as session:
        return_service.reject_return(
            session, store_id=store.id, return_id=return_id,
            cmd=RejectReturn(reason=RejectionReason.condition_not_met, message="Les étiquettes ont été retirées."),
        )  # fmt: skip
    (rejected,) = outbox.new()
    assert rejected.locale == "fr"
    assert rejected.subject == "À propos de votre retour pour la commande #1001"
    assert (
        "car les articles ne remplissent pas nos conditions de retour. Les étiquettes ont été retirées."
        in (rejected.text)
    )


def test_a_claim_filed_then_resolved_notifies_twice(
    factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, clock: time_machine.Traveller
) -> None:
    order = make_order(factory, store.id, customer=_customer("en"))
    run_worker(factory, settings)
    outbox = Outbox(factory, settings, store.id)
    assert order.shipment_id is not None
    with transaction(factory) as session:
        claim, _ = claims.file_claim(
            session, store_id=store.id, order_id=order.order_id,
            cmd=FileClaim(shipment_id=order.shipment_id, kind=ClaimKind.damaged, preferred_resolution=ClaimResolution.refund, evidence=("pho_1",)),
        )  # fmt: skip
        claim_id, status, amount_minor = claim.public_id, claim.status, claim.amount_minor
    sent = outbox.new()
    if status == "filed":  # above the auto-approval limit: the store decides
        assert [m.subject for m in sent] == ["We've received your claim for order #1001"]
        assert "Your claim (damaged items) for order #1001 is with us." in sent[0].text
        with transaction(factory) as session:
            claims.decide_claim(session, store_id=store.id, claim_id=claim_id, cmd=DecideClaim(approve=True))
        sent = outbox.new()
    assert [m.subject for m in sent] == ["Your claim for order #1001"]
    amount = f"${amount_minor // 100}.{amount_minor % 100:02d}"
    assert f"We're refunding {amount} for order #1001." in sent[0].text


def test_historical_and_repeated_return_milestones_send_nothing(
    factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, clock: time_machine.Traveller
) -> None:
    order = make_order(factory, store.id, customer=_customer("en"))
    run_worker(factory, settings)
    outbox = Outbox(factory, settings, store.id)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "changed_mind"}],
            "resolution": "refund", "method": "in_store"}  # fmt: skip
    with transaction(factory) as session:
        return_id = return_service.create_return(
            session, store_id=store.id, order_id=order.order_id, cmd=CreateReturn.model_validate(body)
        ).return_request.public_id
    first = outbox.new()
    assert first
    # When the same milestones are emitted again (a retried request), nothing new is recorded or sent
    with transaction(factory) as session:
        request = session.scalars(select(ReturnRequest).where(ReturnRequest.public_id == return_id)).one()
        again = [
            flow_service.Occurrence(n, return_id, order.order_id, NOW, {})
            for n in ("return.requested", "return.approved")
        ]
        assert flow_service.emit(session, store_id=store.id, occurrences=again) == []
        # and a milestone imported from history triggers no flow
        past = flow_service.Occurrence("return.received", return_id, order.order_id, NOW, {})
        assert flow_service.emit(session, store_id=store.id, occurrences=[past], historical=True) == [
            "return.received"
        ]
        assert request.status in ("requested", "approved")
    assert outbox.new() == []
