"""The API's write topics: how a recorded API payload is parsed and which service applies it.

Each topic turns the raw body into a typed command (Pydantic, errors as problems naming the field)
and calls exactly one domain service. Webhook sources register their adapters in the tracking issue.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from doorstep.core.errors import Invalid, invalid_from_validation
from doorstep.orders import service as order_service
from doorstep.orders.commands import CancelOrder, CreateOrder, UpdateOrder
from doorstep.orders.schemas import OrderRead, StatusLinkRead
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import AddCheckpoints, CreateShipment, UpdateShipment
from doorstep.shipments.schemas import CheckpointsApplied, ShipmentRead
from doorstep.stores import service as store_service
from doorstep.stores.commands import UpdateBranding
from doorstep.stores.schemas import BrandingRead


@dataclass(frozen=True)
class Result:
    """What applying one payload did: the subject it touched, milestones crossed, and the API answer."""

    subject: str | None
    status_code: int
    body: dict[str, Any]
    milestones: list[str] = field(default_factory=list)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: bytes) -> M:
    if not body.strip():
        raise Invalid.field("body", "is empty", f"send a JSON object matching {model.__name__}")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid.field("body", f"is not valid JSON ({exc})", "send a valid JSON object") from exc
    if not isinstance(data, dict):
        raise Invalid.field("body", "is not a JSON object", f"send a JSON object matching {model.__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(list(exc.errors())) from exc  # type: ignore[arg-type]


def _order_create(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    done = order_service.create_order(session, store_id=store_id, cmd=parse(CreateOrder, body))
    shipment_service.attach_waiting(session, store_id=store_id, order_id=done.order.public_id)
    return Result(
        done.order.public_id, 201, OrderRead.of(done.order).model_dump(mode="json"), done.milestones
    )


def _order_update(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    order = order_service.update_order(
        session, store_id=store_id, order_id=params["order_id"], cmd=parse(UpdateOrder, body)
    )
    return Result(order.public_id, 200, OrderRead.of(order).model_dump(mode="json"))


def _order_cancel(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = parse(CancelOrder, body) if body.strip() else CancelOrder()
    done = order_service.cancel_order(session, store_id=store_id, order_id=params["order_id"], cmd=cmd)
    return Result(
        done.order.public_id, 200, OrderRead.of(done.order).model_dump(mode="json"), done.milestones
    )


def _shipment_create(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    applied = shipment_service.create_shipment(session, store_id=store_id, cmd=parse(CreateShipment, body))
    read = ShipmentRead.of(applied.shipment)
    return Result(applied.shipment.public_id, 201, read.model_dump(mode="json"), applied.milestones)


def _shipment_update(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    shipment = shipment_service.update_shipment(
        session, store_id=store_id, shipment_id=params["shipment_id"], cmd=parse(UpdateShipment, body)
    )
    return Result(shipment.public_id, 200, ShipmentRead.of(shipment).model_dump(mode="json"))


def _checkpoints_add(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    applied = shipment_service.add_checkpoints(
        session, store_id=store_id, shipment_id=params["shipment_id"], cmd=parse(AddCheckpoints, body)
    )
    out = CheckpointsApplied(
        shipment=ShipmentRead.of(applied.shipment),
        added=applied.added,
        duplicates=applied.duplicates,
        milestones=applied.milestones,
    )
    return Result(applied.shipment.public_id, 201, out.model_dump(mode="json"), applied.milestones)


def _status_link_rotate(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    order = order_service.rotate_status_token(session, store_id=store_id, order_id=params["order_id"])
    return Result(order.public_id, 200, StatusLinkRead.of(order).model_dump(mode="json"))


def _branding_update(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    done = store_service.update_branding(session, store_id=store_id, cmd=parse(UpdateBranding, body))
    return Result(
        done.store.public_id, 200, BrandingRead.of(done.store, done.removed_css).model_dump(mode="json")
    )


Handler = Callable[[Session, int, bytes, dict[str, Any]], Result]

API_TOPICS: dict[str, Handler] = {
    "orders.create": _order_create,
    "orders.update": _order_update,
    "orders.cancel": _order_cancel,
    "shipments.create": _shipment_create,
    "shipments.update": _shipment_update,
    "checkpoints.create": _checkpoints_add,
    "orders.status_link.rotate": _status_link_rotate,
    "stores.branding.update": _branding_update,
}


def _returns_topics() -> dict[str, Handler]:
    from doorstep.inbound import returns_topics  # builds on Result and parse above

    return returns_topics.TOPICS


API_TOPICS.update(_returns_topics())
