"""Applying what a commerce platform sent: each command goes to exactly one domain service.

The adapter (``integrations/commerce/<platform>.py``) has already turned the payload into commands;
this runs them in order inside the caller's transaction. A payload whose main object could not be
read (``Parsed.errors``) is refused as a whole, so the event stays rejected and can be replayed.
"""

from typing import assert_never

from sqlalchemy.orm import Session

from doorstep.core.errors import FieldProblem, Invalid
from doorstep.customers import service as customer_service
from doorstep.customers.commands import UpsertCustomer
from doorstep.inbound.topics import Result
from doorstep.integrations.commerce.protocol import Command, Parsed
from doorstep.orders import service as order_service
from doorstep.orders.commands import CancelOrderByRef, RecordRefund, UpsertOrder
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import ApplyFulfillmentEvent, ApplyTracking, UpsertFulfillment


def apply(session: Session, store_id: int, parsed: Parsed, *, source: str = "shopify") -> Result:
    """Apply every command of one payload; the subject is the order touched, when there is one."""
    if parsed.errors:
        raise Invalid(
            f"the payload could not be read: {'; '.join(parsed.errors)}",
            problems=[
                FieldProblem("body", error, "fix the record in the platform and resend")
                for error in parsed.errors
            ],
        )
    milestones: list[str] = []
    subjects: list[str] = []
    for command in parsed.commands:
        subject, crossed = _dispatch(session, store_id, command, source)
        milestones.extend(crossed)
        if subject is not None:
            subjects.append(subject)
    orders = [s for s in subjects if s.startswith("ord_")]
    body = {"commands": len(parsed.commands), "ignored": list(parsed.ignored), "milestones": milestones}
    subject = (orders or subjects)[0] if subjects else None
    return Result(subject, 200, body, milestones)


def _dispatch(session: Session, store_id: int, command: Command, source: str) -> tuple[str | None, list[str]]:
    """Each command goes to its own service (an order upsert also attaches parcels that were waiting for it).

    Returns the subject touched (an order's public id when there is one) and the milestones crossed.
    """
    if isinstance(command, UpsertOrder):
        done = order_service.upsert_order(session, store_id=store_id, cmd=command)
        # Parcels a tracking source reported before the order existed join it now (as orders.create does).
        shipment_service.attach_waiting(session, store_id=store_id, order_id=done.order.public_id)
        return done.order.public_id, done.milestones
    if isinstance(command, CancelOrderByRef):
        done = order_service.cancel_by_external_id(session, store_id=store_id, cmd=command)
        return done.order.public_id, done.milestones
    if isinstance(command, RecordRefund):
        done = order_service.record_refund(session, store_id=store_id, cmd=command)
        return done.order.public_id, done.milestones
    if isinstance(command, UpsertCustomer):
        customer = customer_service.upsert_customer(session, store_id=store_id, cmd=command)
        return customer.public_id, []
    if isinstance(command, UpsertFulfillment):
        parcels = shipment_service.upsert_fulfillment(session, store_id=store_id, cmd=command, source=source)
        orders = [p.shipment.order.public_id for p in parcels if p.shipment.order is not None]
        return (orders[0] if orders else None), [m for p in parcels for m in p.milestones]
    if isinstance(command, ApplyTracking):
        tracked = shipment_service.apply_tracking(session, store_id=store_id, cmd=command, source=source)
        return _order_of(tracked), _milestones(tracked)
    if isinstance(command, ApplyFulfillmentEvent):
        event = shipment_service.apply_fulfillment_event(
            session, store_id=store_id, cmd=command, source=source
        )
        return _order_of(event), _milestones(event)
    assert_never(command)


def _order_of(applied: shipment_service.Applied | None) -> str | None:
    if applied is None:
        return None
    shipment = applied.shipment
    return shipment.order.public_id if shipment.order is not None else shipment.public_id


def _milestones(applied: shipment_service.Applied | None) -> list[str]:
    return applied.milestones if applied is not None else []
