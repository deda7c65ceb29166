"""Shipments and checkpoints: the only writer of shipments, shipment_items and checkpoints."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.flows import service as flow_service
from doorstep.orders import service as order_service
from doorstep.orders.models import LineItem, Order
from doorstep.shipments import carriers, polling, promise
from doorstep.shipments.commands import (
    AddCheckpoints,
    ApplyFulfillmentEvent,
    ApplyTracking,
    CheckpointInput,
    CreateShipment,
    UpdateShipment,
    UpsertFulfillment,
)
from doorstep.shipments.models import Checkpoint, Shipment, ShipmentItem
from doorstep.shipments.status import (
    TERMINAL,
    Scan,
    ShipmentState,
    Status,
    Substatus,
    derive_fingerprint,
    derive_state,
    milestones_crossed,
    milestones_moved_earlier,
)
from doorstep.stores import service as store_service
from doorstep.stores.models import Store

SIMULATED = "simulated"  # Doorstep's own simulated carrier (demo): always polled, in-process


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
        stmt = stmt.where(Shipment.tracking_number == _normalize_number(tracking_number))
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
        tracking_number=_normalize_number(cmd.tracking_number),
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
    if shipment.promised_on is None and order is not None:
        shipment.promised_on = _promise(session, shipment, order.placed_at)
    _schedule_polling(session, shipment)
    session.flush()
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
    seen: set[str] = set()
    for index, item in enumerate(cmd.items):
        if item.line_item_id in seen:
            raise Invalid.field(
                f"items.{index}.line_item_id",
                f"{item.line_item_id} is listed twice",
                "list each line item once with its total quantity",
            )
        seen.add(item.line_item_id)
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
    # Only what derivation needs, as plain rows: this runs for every scan a source sends.
    known = session.execute(
        scoped(
            select(Checkpoint.occurred_at, Checkpoint.status, Checkpoint.substatus, Checkpoint.fingerprint),
            Checkpoint,
            shipment.store_id,
        ).where(Checkpoint.shipment_id == shipment.id)
    ).all()
    scans = [
        Scan(at, Status(status), Substatus(sub) if sub else None, fingerprint)
        for at, status, sub, fingerprint in known
    ]
    before = derive_state(scans)
    seen = {scan.fingerprint for scan in scans}
    rows: list[dict[str, object]] = []
    now = clock.now()
    for cp in inputs:
        fingerprint = derive_fingerprint(
            cp.occurred_at, cp.raw_code or cp.status.value, cp.message, cp.city, cp.postal_code, cp.country
        )
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        occurred_at = clock.as_utc(cp.occurred_at)
        rows.append(
            {
                "public_id": ids.new_id("cp"), "store_id": shipment.store_id, "shipment_id": shipment.id,
                "occurred_at": occurred_at, "utc_offset": _offset(cp), "status": cp.status.value,
                "substatus": cp.substatus.value if cp.substatus else None, "raw_code": cp.raw_code,
                "raw_message": cp.message, "city": cp.city, "region": cp.region, "postal_code": cp.postal_code,
                "country": cp.country, "source": source, "fingerprint": fingerprint, "created_at": now,
            }
        )  # fmt: skip
        scans.append(Scan(occurred_at, cp.status, cp.substatus, fingerprint))
    if rows:
        session.execute(insert(Checkpoint), rows)
    added = len(rows)
    after = derive_state(scans)
    _set_state(shipment, after)
    if added:
        shipment.is_stalled = False
    _reschedule_poll(shipment, clock.now())
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
    occurrences.extend(_delay_check(shipment, clock.now()))
    recorded = flow_service.emit(session, store_id=shipment.store_id, occurrences=occurrences)
    return Applied(shipment, added, len(inputs) - added, recorded)


def _reschedule_poll(shipment: Shipment, now: datetime) -> None:
    if shipment.poll_source is None:
        return
    shipment.next_poll_at = polling.next_poll_at(
        status=Status(shipment.status),
        last_activity=shipment.last_checkpoint_at or shipment.created_at,
        expected_on=shipment.expected_on,
        now=now,
    )
    if shipment.next_poll_at is None and Status(shipment.status) not in TERMINAL:
        shipment.status = Status.expired.value  # silent too long: stop asking


def _schedule_polling(session: Session, shipment: Shipment) -> None:
    """Poll a parcel when the store connected its carrier's API (or it rides the simulated carrier)."""
    connected = store_service.list_connections(session, store_id=shipment.store_id)
    if shipment.carrier == SIMULATED or shipment.carrier in connected:
        shipment.poll_source = shipment.carrier
        shipment.next_poll_at = clock.now()


def due_for_polling(session: Session, *, now: datetime, limit: int) -> list[Shipment]:
    """Parcels whose next poll is due, across stores (the poller then works per store and source)."""
    stmt = (
        select(Shipment)
        .where(Shipment.next_poll_at.is_not(None), Shipment.next_poll_at <= now)
        .order_by(Shipment.next_poll_at, Shipment.id)
        .limit(limit)
    )
    return list(session.scalars(stmt).unique())


def reschedule_polls(session: Session, *, store_id: int, shipment_ids: Sequence[str], now: datetime) -> None:
    stmt = scoped(select(Shipment), Shipment, store_id).where(Shipment.public_id.in_(shipment_ids))
    for shipment in session.scalars(stmt).unique():
        _reschedule_poll(shipment, now)
    session.flush()


def postpone_poll(session: Session, *, store_id: int, shipment_ids: Sequence[str], until: datetime) -> None:
    """After a failed poll: try again later without touching the parcel's state."""
    stmt = scoped(select(Shipment), Shipment, store_id).where(Shipment.public_id.in_(shipment_ids))
    for shipment in session.scalars(stmt).unique():
        shipment.next_poll_at = until
    session.flush()


def _delay_check(shipment: Shipment, now: datetime) -> list[flow_service.Occurrence]:
    """Flag (once) a parcel whose expected delivery moved past its promise."""
    reason = promise.delay_reason(
        is_terminal=Status(shipment.status) in TERMINAL,
        promised_on=shipment.promised_on,
        expected_on=shipment.expected_on,
        today=now.date(),
    )
    shipment.is_delayed = reason is not None or (shipment.is_delayed and Status(shipment.status) in TERMINAL)
    if reason is None:
        return []
    shipment.delay_reason = reason
    order_id = shipment.order.public_id if shipment.order else None
    return [
        flow_service.Occurrence("shipment.delayed", shipment.public_id, order_id, now, {"reason": reason})
    ]


def check_overdue_and_stalled(session: Session, *, store_id: int, now: datetime) -> list[str]:
    """The periodic sweep: flag parcels now past their promise or with no scan for too long."""
    store = session.get(Store, store_id)
    policies = store.policies if store else {}
    days = promise.stall_business_days(policies)
    active = [s.value for s in Status if s not in TERMINAL]
    stmt = scoped(select(Shipment), Shipment, store_id).where(Shipment.status.in_(active))
    occurrences: list[flow_service.Occurrence] = []
    for shipment in session.scalars(stmt.order_by(Shipment.id)).unique():
        occurrences.extend(_delay_check(shipment, now))
        address = (shipment.order.shipping_address if shipment.order else None) or {}
        reason = promise.stall_reason(
            is_terminal=False,
            last_activity=shipment.last_checkpoint_at or shipment.created_at,
            now=now,
            business_days=days,
            country=address.get("country"),
            region=address.get("region"),
        )
        if reason and not shipment.is_stalled:
            shipment.is_stalled = True
            order_id = shipment.order.public_id if shipment.order else None
            occurrences.append(
                flow_service.Occurrence(
                    "shipment.stalled", shipment.public_id, order_id, now, {"reason": reason}
                )
            )
    session.flush()
    return flow_service.emit(session, store_id=store_id, occurrences=occurrences)


def _set_state(shipment: Shipment, state: ShipmentState) -> None:
    shipment.status = state.status.value
    shipment.substatus = state.substatus.value if state.substatus else None
    shipment.status_changed_at = state.status_changed_at
    shipment.last_checkpoint_at = state.last_checkpoint_at
    shipment.shipped_at = state.shipped_at
    shipment.delivered_at = state.delivered_at
    shipment.updated_at = clock.now()


# --- tracking sources and commerce fulfillments -------------------------------------------------


def _normalize_number(number: str) -> str:
    return "".join(number.split()).upper()


def _carrier_for(name: str | None, number: str) -> str | None:
    slug = carriers.normalize(name)
    if slug:
        return slug
    detected = carriers.detect(number)
    return detected[0] if detected else None


def _find_by_number(
    session: Session, store_id: int, number: str, direction: str | None, carrier: str | None
) -> Shipment | None:
    """The parcel with this number (and direction, when given; outbound first when not)."""
    stmt = (
        scoped(select(Shipment), Shipment, store_id)
        .where(Shipment.tracking_number == number)
        .order_by(Shipment.id)
        .with_for_update(of=Shipment)
    )
    if direction is not None:
        stmt = stmt.where(Shipment.direction == direction)
    rows = sorted(session.scalars(stmt).unique(), key=lambda row: row.direction != "outbound")
    for row in rows:
        if carrier and row.carrier == carrier:
            return row
    return rows[0] if rows else None


def _new_shipment(
    session: Session, store_id: int, *, order: Order | None, number: str, carrier: str | None,
    service: str | None, direction: str, order_ref: str | None = None, external_id: str | None = None,
    tracking_url: str | None = None,
) -> Shipment:  # fmt: skip
    slug = carrier or "unknown"
    shipment = Shipment(
        public_id=ids.new_id("shp"),
        store_id=store_id,
        order_id=order.id if order else None,
        order_ref=None if order else order_ref,
        external_id=external_id,
        carrier=slug,
        service=service,
        tracking_number=number,
        tracking_url=tracking_url or carriers.tracking_url(slug, number),
        direction=direction,
        status=Status.pending.value,
    )
    if order is not None:
        shipment.items = [
            ShipmentItem(store_id=store_id, line_item=li, quantity=li.quantity) for li in order.line_items
        ]
    session.add(shipment)
    _schedule_polling(session, shipment)
    session.flush()
    return shipment


def apply_tracking(session: Session, *, store_id: int, cmd: ApplyTracking, source: str) -> Applied:
    """Apply a tracking source's view of one parcel, creating or attaching the shipment as needed."""
    number = _normalize_number(cmd.tracking_number)
    carrier = _carrier_for(cmd.carrier, number)
    # Carriers do not say which way a parcel travels: unless the source did, a known return parcel
    # (a return's label) matches too, so its scans reach it instead of creating an outbound twin.
    direction = cmd.direction.value if "direction" in cmd.model_fields_set else None
    shipment = _find_by_number(session, store_id, number, direction, carrier)
    if shipment is None:
        order = (
            order_service.find_by_external_id(session, store_id=store_id, external_id=cmd.order_ref)
            if cmd.order_ref
            else None
        )
        shipment = _new_shipment(
            session, store_id, order=order, number=number, carrier=carrier, service=cmd.service,
            direction=cmd.direction.value, order_ref=cmd.order_ref,
        )  # fmt: skip
    elif shipment.carrier == "unknown" and carrier:
        shipment.carrier = carrier
        shipment.tracking_url = shipment.tracking_url or carriers.tracking_url(carrier, number)
    if cmd.service and not shipment.service:
        shipment.service = cmd.service
    if cmd.estimated_delivery_on:
        shipment.expected_on = cmd.estimated_delivery_on
    if cmd.signed_by:
        shipment.signed_by = cmd.signed_by
    return _apply(session, shipment, cmd.checkpoints, source=source)


def upsert_fulfillment(
    session: Session, *, store_id: int, cmd: UpsertFulfillment, source: str
) -> list[Applied]:
    """One parcel per tracking number of a platform fulfillment, attached to its order and items.

    The order must exist (else NotFound: the payload stays rejected and is replayed once it does).
    A parcel a tracking source reported earlier is attached rather than duplicated.
    """
    order = order_service.find_by_external_id(session, store_id=store_id, external_id=cmd.order_external_id)
    if order is None:
        raise NotFound(
            f"order {cmd.order_external_id} is not known yet; replay this fulfillment after the order arrives"
        )
    by_external = {li.external_id: li for li in order.line_items if li.external_id}
    results: list[Applied] = []
    for index, raw_number in enumerate(cmd.tracking_numbers):
        number = _normalize_number(raw_number)
        carrier = _carrier_for(cmd.carrier, number)
        url = cmd.tracking_urls[index] if index < len(cmd.tracking_urls) else None
        shipment = _find_by_number(session, store_id, number, "outbound", carrier)
        if shipment is None:
            shipment = _new_shipment(
                session, store_id, order=order, number=number, carrier=carrier, service=cmd.service,
                direction="outbound", external_id=cmd.external_id, tracking_url=url,
            )  # fmt: skip
        else:
            _attach(shipment, order)
            shipment.external_id = shipment.external_id or cmd.external_id
            shipment.service = shipment.service or cmd.service
            shipment.tracking_url = url or shipment.tracking_url
        if cmd.lines:
            wanted = {
                by_external[line.line_external_id].id: min(
                    line.quantity, by_external[line.line_external_id].quantity
                )
                for line in cmd.lines
                if line.line_external_id in by_external
            }
            _set_items(shipment, wanted, by_external)
        if shipment.promised_on is None and shipment.order is not None:
            shipment.promised_on = _promise(session, shipment, cmd.shipped_at or clock.now())
        session.flush()
        results.append(Applied(shipment, 0, 0, []))
    return results


def _set_items(shipment: Shipment, wanted: dict[int, int], lines: dict[str, LineItem]) -> None:
    """Make the parcel's items exactly ``wanted`` (line item id → quantity), updating rows in place."""
    # Items added in this transaction may not be flushed yet: key them by their line item object.
    current = {item.line_item_id or item.line_item.id: item for item in shipment.items}
    for line_item_id, item in current.items():
        if line_item_id not in wanted:
            shipment.items.remove(item)
        else:
            item.quantity = wanted[line_item_id]
    by_id = {line.id: line for line in lines.values()}
    for line_item_id, quantity in wanted.items():
        if line_item_id not in current:
            shipment.items.append(
                ShipmentItem(store_id=shipment.store_id, line_item=by_id[line_item_id], quantity=quantity)
            )


def apply_fulfillment_event(
    session: Session, *, store_id: int, cmd: ApplyFulfillmentEvent, source: str
) -> Applied:
    stmt = (
        scoped(select(Shipment), Shipment, store_id)
        .join(Order, Order.id == Shipment.order_id)
        .where(
            Shipment.external_id == cmd.fulfillment_external_id, Order.external_id == cmd.order_external_id
        )
        .order_by(Shipment.id)
        .with_for_update(of=Shipment)
    )
    shipment = session.scalars(stmt).unique().first()
    if shipment is None:
        raise NotFound(
            f"fulfillment {cmd.fulfillment_external_id} of order {cmd.order_external_id} is not known yet; "
            "replay this event after the fulfillment arrives"
        )
    if cmd.estimated_delivery_on:
        shipment.expected_on = cmd.estimated_delivery_on
    return _apply(session, shipment, [cmd.checkpoint], source=source)


def _attach(shipment: Shipment, order: Order) -> None:
    if shipment.order_id is None:
        shipment.order = order
        shipment.order_id = order.id
        shipment.order_ref = None
        if not shipment.items:
            shipment.items = [
                ShipmentItem(store_id=shipment.store_id, line_item=li, quantity=li.quantity)
                for li in order.line_items
            ]


def attach_waiting(session: Session, *, store_id: int, order_id: str) -> int:
    """Attach parcels that were tracked before their order arrived (matched by the order's external id)."""
    order = order_service.get_order(session, store_id=store_id, order_id=order_id)
    if not order.external_id:
        return 0
    stmt = scoped(select(Shipment), Shipment, store_id).where(
        Shipment.order_id.is_(None), Shipment.order_ref == order.external_id
    )
    waiting = list(session.scalars(stmt).unique())
    for shipment in waiting:
        _attach(shipment, order)
    session.flush()
    return len(waiting)


def _promise(session: Session, shipment: Shipment, shipped: datetime) -> date:
    store = session.get(Store, shipment.store_id)
    address = (shipment.order.shipping_address if shipment.order else None) or {}
    return promise.derive_promise(
        shipped,
        service=shipment.service,
        policies=store.policies if store else {},
        country=address.get("country"),
        region=address.get("region"),
    )


def list_order_parcels(
    session: Session, *, store_id: int, order_id: int
) -> list[tuple[Shipment, list[Checkpoint]]]:
    """An order's outbound parcels, oldest first, each with its scans by carrier time (two queries)."""
    stmt = scoped(select(Shipment), Shipment, store_id).where(
        Shipment.order_id == order_id, Shipment.direction == "outbound"
    )
    shipments = list(session.scalars(stmt.order_by(Shipment.created_at, Shipment.id)).unique())
    if not shipments:
        return []
    scans: dict[int, list[Checkpoint]] = {s.id: [] for s in shipments}
    cps = scoped(select(Checkpoint), Checkpoint, store_id).where(Checkpoint.shipment_id.in_(list(scans)))
    for cp in session.scalars(cps.order_by(Checkpoint.occurred_at, Checkpoint.id)):
        scans[cp.shipment_id].append(cp)
    return [(s, scans[s.id]) for s in shipments]
