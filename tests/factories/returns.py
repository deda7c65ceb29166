"""Orders ready to return: created through the orders service, delivered through a real shipment."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.orders import service as order_service
from doorstep.orders.commands import CreateOrder
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import AddCheckpoints, CheckpointInput, CreateShipment
from doorstep.shipments.status import Status
from tests.factories.orders import order_body

PLACED = datetime.fromisoformat("2026-11-20T15:04:05+00:00")
DELIVERED = PLACED + timedelta(days=3)


@dataclass(frozen=True)
class ReturnableOrder:
    order_id: str
    lines: list[str]  # line item public ids, in order
    shipment_id: str | None


def make_order(
    factory: sessionmaker[Session],
    store_id: int,
    n: int = 1,
    *,
    delivered_at: datetime | None = DELIVERED,
    **overrides: object,
) -> ReturnableOrder:
    """An order (2 x 68.00 tee, 1 x 28.00 final-sale cap by default), shipped and delivered."""
    body = order_body(n, placed_at=PLACED.isoformat(), **overrides)
    with transaction(factory) as session:
        order = order_service.create_order(
            session, store_id=store_id, cmd=CreateOrder.model_validate(body)
        ).order
        shipment_id = None
        if delivered_at is not None:
            applied = shipment_service.create_shipment(
                session,
                store_id=store_id,
                cmd=CreateShipment(
                    order_id=order.public_id, carrier="ups", tracking_number=f"1Z999AA10{n:09d}"
                ),
            )
            shipment_service.add_checkpoints(
                session,
                store_id=store_id,
                shipment_id=applied.shipment.public_id,
                cmd=AddCheckpoints(
                    checkpoints=(
                        CheckpointInput(occurred_at=PLACED + timedelta(days=1), status=Status.in_transit),
                        CheckpointInput(occurred_at=delivered_at, status=Status.delivered),
                    )
                ),
            )
            shipment_id = applied.shipment.public_id
        return ReturnableOrder(order.public_id, [li.public_id for li in order.line_items], shipment_id)
