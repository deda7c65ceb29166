"""Shipments and checkpoints: the only writer of shipments, shipment_items and checkpoints."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.flows import service as flow_service
from doorstep.orders import service as order_service
from doorstep.orders.models import Order
from doorstep.shipments.commands import AddCheckpoints, CheckpointInput, CreateShipment, UpdateShipment
from doorstep.shipments.models import Checkpoint, Shipment, ShipmentItem
from doorstep.shipments.status import (
    Scan,
    ShipmentState,
    Status,
    Substatus,
    derive_fingerprint,
    derive_state,
    milestones_crossed,
    milestones_moved_earlier,
)


@dataclass(frozen=True)
class Applied:
    shipment: Shipment
    added: int
    duplicates: int
    milestones: list[str]


def get_shipment(session: Session, *, store_id: int, shipment_id: str, lock: bool = False) -> Shipment:
    stmt = scoped(select(Shipment), Shipment, store_id).where(Shipment.public_id == shipment_id)
    if lock:
        # Serialises concurrent scans for one parcel on PostgreSQL (SQLite already has one writer).
        stmt = stmt.with_for_update(of=Shipment)
    shipment = session.scalars(stmt).unique().one_or_none()
    if shipment is None:
        raise NotFound(f"shipment {shipment_id} not found")
    return shipment


def list_shipments(
    session: Session,
    *,
    store_id: int,
    limit: int,
    cursor: str | None = None,
    order_id: str | None = None,
    status: Status | None = None,
    tracking_number: str | None = None,
) -> tuple[list[Shipment], str | None]:
    stmt = scoped(select(Shipment), Shipment, store_id)
    if order_id is not None:
        stmt = stmt.join(Order, Order.id == Shipment.order_id).where(Order.public_id == order_id)
    if status is not None:
        stmt = stmt.where(Shipment.status == status)
    if tracking_number is not None:
        stmt = stmt.where(Shipment.tracking_number == tracking_number)
    return paginate(session, stmt, Shipment, limit=limit, cursor=cursor)


def list_checkpoints(session: Session, *, store_id: int, shipment_id: str) -> list[Checkpoint]:
    shipment = get_shipment(session, store_id=store_id, shipment_id=shipment_id)
    return _checkpoints(session, shipment)


def _checkpoints(session: Session, shipment: Shipment) -> list[Checkpoint]:
    stmt = scoped(select(Checkpoint), Checkpoint, shipment.store_id).where(
        Checkpoint.shipment_id == shipment.id
    )
    return list(session.scalars(stmt.order_by(Checkpoint.occurred_at, Checkpoint.id)))


def create_shipment(session: Session, *, store_id: int, cmd: CreateShipment, source: str = "api") -> Applied:
    """Create a parcel for an order (items default to the whole order) and apply any scans sent with it."""
    order = (
        order_service.get_order(session, store_id=store_id, order_id=cmd.order_id) if cmd.order_id else None
    )
    shipment = Shipment(
        public_id=ids.new_id("shp"),
        store_id=store_id,
        order_id=order.id if order else None,
        external_id=cmd.external_id,
        carrier=cmd.carrier.lower(),
        service=cmd.service,
        tracking_number=cmd.tracking_number.replace(" ", "").upper(),
        tracking_url=cmd.tracking_url,
        direction=cmd.direction.value,
        status=Status.pending.value,
        promised_on=cmd.promised_on,
    )
    shipment.items = _items(store_id, order, cmd)
    session.add(shipment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"{cmd.carrier} tracking number {cmd.tracking_number} is already a {cmd.direction.value} shipment; "
            "post checkpoints to that shipment instead"
        ) from exc
    if not cmd.checkpoints:
        return Applied(shipment, 0, 0, [])
    return _apply(session, shipment, cmd.checkpoints, source=source)


def _items(store_id: int, order: Order | None, cmd: CreateShipment) -> list[ShipmentItem]:
    if order is None:
        if cmd.items:
            raise Invalid.field("items", "items need an order", "send order_id with the items, or omit items")
        return []
    by_id = {li.public_id: li for li in order.line_items}
    if cmd.items is None:
        return [
            ShipmentItem(store_id=store_id, line_item=li, quantity=li.quantity) for li in order.line_items
        ]
    items: list[ShipmentItem] = []
    for index, item in enumerate(cmd.items):
        line = by_id.get(item.line_item_id)
        if line is None:
            raise Invalid.field(
                f"items.{index}.line_item_id",
                f"{item.line_item_id} is not a line item of order {order.public_id}",
                "use an id from the order's line_items",
            )
        if item.quantity > line.quantity:
            raise Invalid.field(
                f"items.{index}.quantity",
                f"{item.quantity} exceeds the {line.quantity} ordered",
                f"send at most {line.quantity}",
            )
        items.append(ShipmentItem(store_id=store_id, line_item=line, quantity=item.quantity))
    return items


def update_shipment(session: Session, *, store_id: int, shipment_id: str, cmd: UpdateShipment) -> Shipment:
    shipment = get_shipment(session, store_id=store_id, shipment_id=shipment_id)
    for field in cmd.model_fields_set:
        setattr(shipment, field, getattr(cmd, field))
    shipment.updated_at = clock.now()
    session.flush()
    return shipment


def add_checkpoints(
    session: Session, *, store_id: int, shipment_id: str, cmd: AddCheckpoints, source: str = "api"
) -> Applied:
    shipment = get_shipment(session, store_id=store_id, shipment_id=shipment_id, lock=True)
    return _apply(session, shipment, cmd.checkpoints, source=source)


def _scan(cp: Checkpoint) -> Scan:
    return Scan(
        occurred_at=cp.occurred_at,
        status=Status(cp.status),
        substatus=Substatus(cp.substatus) if cp.substatus else None,
        fingerprint=cp.fingerprint,
    )


def _offset(cp: CheckpointInput) -> str | None:
    delta = cp.occurred_at.utcoffset()
    if delta is None:
        return None
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _apply(
    session: Session, shipment: Shipment, inputs: Sequence[CheckpointInput], *, source: str
) -> Applied:
    """Insert new scans, re-derive state from all of them, and emit the milestones crossed."""
    existing = _checkpoints(session, shipment)
    scans = [_scan(cp) for cp in existing]
    before = derive_state(scans)
    seen = {cp.fingerprint for cp in existing}
    added = 0
    now = clock.now()
    for cp in inputs:
        fingerprint = derive_fingerprint(
            cp.occurred_at, cp.raw_code or cp.status.value, cp.message, cp.city, cp.postal_code, cp.country
        )
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        row = Checkpoint(
            public_id=ids.new_id("cp"),
            store_id=shipment.store_id,
            shipment_id=shipment.id,
            occurred_at=clock.as_utc(cp.occurred_at),
            utc_offset=_offset(cp),
            status=cp.status.value,
            substatus=cp.substatus.value if cp.substatus else None,
            raw_code=cp.raw_code,
            raw_message=cp.message,
            city=cp.city,
            region=cp.region,
            postal_code=cp.postal_code,
            country=cp.country,
            source=source,
            fingerprint=fingerprint,
            created_at=now,
        )
        session.add(row)
        scans.append(_scan(row))
        added += 1
    after = derive_state(scans)
    _set_state(shipment, after)
    session.flush()
    reached_at = dict(after.reached_at)
    occurrences = [
        flow_service.Occurrence(
            name,
            shipment.public_id,
            shipment.order.public_id if shipment.order else None,
            reached_at[name],
            {"status": after.status.value, "substatus": after.substatus.value if after.substatus else None},
        )
        for name in [*milestones_crossed(before, after), *milestones_moved_earlier(before, after)]
    ]
    recorded = flow_service.emit(session, store_id=shipment.store_id, occurrences=occurrences)
    return Applied(shipment, added, len(inputs) - added, recorded)


def _set_state(shipment: Shipment, state: ShipmentState) -> None:
    shipment.status = state.status.value
    shipment.substatus = state.substatus.value if state.substatus else None
    shipment.status_changed_at = state.status_changed_at
    shipment.last_checkpoint_at = state.last_checkpoint_at
    shipment.shipped_at = state.shipped_at
    shipment.delivered_at = state.delivered_at
    shipment.updated_at = clock.now()
