"""Orders: the only writer of orders and line items."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.customers import service as customer_service
from doorstep.flows import service as flow_service
from doorstep.orders.commands import (
    CancelOrder,
    CancelOrderByRef,
    CreateOrder,
    LineItemInput,
    RecordRefund,
    UpdateOrder,
    UpsertOrder,
)
from doorstep.orders.models import LineItem, Order, OrderRefund


@dataclass(frozen=True)
class Applied:
    order: Order
    milestones: list[str]


def get_order(session: Session, *, store_id: int, order_id: str) -> Order:
    stmt = scoped(select(Order), Order, store_id).where(Order.public_id == order_id)
    order = session.scalars(stmt).one_or_none()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def find_by_external_id(session: Session, *, store_id: int, external_id: str) -> Order | None:
    stmt = scoped(select(Order), Order, store_id).where(Order.external_id == external_id)
    return session.scalars(stmt).one_or_none()


def list_orders(
    session: Session,
    *,
    store_id: int,
    limit: int,
    cursor: str | None = None,
    number: str | None = None,
    customer_email: str | None = None,
) -> tuple[list[Order], str | None]:
    stmt = scoped(select(Order), Order, store_id)
    if number is not None:
        stmt = stmt.where(Order.number == number)
    if customer_email is not None:
        from doorstep.customers.models import Customer

        stmt = stmt.join(Customer, Customer.id == Order.customer_id).where(
            Customer.email == customer_email.lower()
        )
    return paginate(session, stmt, Order, limit=limit, cursor=cursor)


def _totals(cmd: CreateOrder) -> tuple[int, int]:
    subtotal = sum(li.unit_price_minor * li.quantity - li.discount_minor for li in cmd.line_items)
    computed = subtotal - cmd.discount_minor + cmd.shipping_minor + cmd.tax_minor
    return subtotal, cmd.total_minor if cmd.total_minor is not None else max(computed, 0)


def create_order(session: Session, *, store_id: int, cmd: CreateOrder, historical: bool = False) -> Applied:
    """Create an order with its lines (and upsert its shopper); emits ``order.placed``."""
    if cmd.external_id and find_by_external_id(session, store_id=store_id, external_id=cmd.external_id):
        raise Conflict(
            f"an order with external_id {cmd.external_id!r} already exists; update it with PATCH /api/v1/orders/{{id}}"
        )
    customer = (
        customer_service.upsert_customer(session, store_id=store_id, cmd=cmd.customer)
        if cmd.customer
        else None
    )
    subtotal, total = _totals(cmd)
    order = Order(
        public_id=ids.new_id("ord"),
        store_id=store_id,
        customer_id=customer.id if customer else None,
        external_id=cmd.external_id,
        number=cmd.number,
        source=cmd.source,
        placed_at=clock.as_utc(cmd.placed_at),
        currency=cmd.currency,
        subtotal_minor=subtotal,
        shipping_minor=cmd.shipping_minor,
        tax_minor=cmd.tax_minor,
        discount_minor=cmd.discount_minor,
        total_minor=total,
        shipping_address=cmd.shipping_address.model_dump(mode="json", exclude_none=True)
        if cmd.shipping_address
        else None,
        tags=list(cmd.tags),
        note=cmd.note,
        status_token=ids.new_token(),
    )
    order.line_items = [
        LineItem(
            public_id=ids.new_id("li"),
            store_id=store_id,
            position=position,
            external_id=li.external_id,
            product_id=li.product_id,
            variant_id=li.variant_id,
            sku=li.sku,
            title=li.title,
            variant_title=li.variant_title,
            quantity=li.quantity,
            unit_price_minor=li.unit_price_minor,
            discount_minor=li.discount_minor,
            image_url=li.image_url,
            product_tags=list(li.product_tags),
            is_final_sale=li.is_final_sale,
        )
        for position, li in enumerate(cmd.line_items)
    ]
    session.add(order)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create with the same external_id won the race
        raise Conflict(f"an order with external_id {cmd.external_id!r} already exists") from exc
    recorded = flow_service.emit(
        session,
        store_id=store_id,
        occurrences=[
            flow_service.Occurrence("order.placed", order.public_id, order.public_id, cmd.placed_at)
        ],
        historical=historical,
    )
    return Applied(order, recorded)


def update_order(session: Session, *, store_id: int, order_id: str, cmd: UpdateOrder) -> Order:
    order = get_order(session, store_id=store_id, order_id=order_id)
    if cmd.customer is not None:
        order.customer_id = customer_service.upsert_customer(session, store_id=store_id, cmd=cmd.customer).id
    if cmd.number is not None:
        order.number = cmd.number
    if cmd.shipping_address is not None:
        order.shipping_address = cmd.shipping_address.model_dump(mode="json", exclude_none=True)
    if cmd.tags is not None:
        order.tags = list(cmd.tags)
    if cmd.note is not None:
        order.note = cmd.note
    order.updated_at = clock.now()
    session.flush()
    session.refresh(order)
    return order


def cancel_order(session: Session, *, store_id: int, order_id: str, cmd: CancelOrder) -> Applied:
    """Cancel once; cancelling again is a no-op. Emits ``order.cancelled``."""
    order = get_order(session, store_id=store_id, order_id=order_id)
    recorded = _mark_cancelled(session, order, cmd.cancelled_at, cmd.reason)
    return Applied(order, recorded)


def cancel_by_external_id(session: Session, *, store_id: int, cmd: CancelOrderByRef) -> Applied:
    """Cancel the order a platform knows by its external id; NotFound until that order arrives."""
    order = _by_external_id(session, store_id, cmd.external_id, lock=True)
    if order is None:
        raise NotFound(
            f"order {cmd.external_id} is not known yet; replay this cancellation after the order arrives"
        )
    return Applied(order, _mark_cancelled(session, order, cmd.cancelled_at, cmd.reason))


def _mark_cancelled(
    session: Session, order: Order, at: datetime | None, reason: str | None, *, historical: bool = False
) -> list[str]:
    if order.cancelled_at is not None:
        return []
    order.cancelled_at = clock.as_utc(at) if at else clock.now()
    order.cancel_reason = reason
    session.flush()
    return flow_service.emit(
        session,
        store_id=order.store_id,
        occurrences=[
            flow_service.Occurrence(
                "order.cancelled", order.public_id, order.public_id, order.cancelled_at, {"reason": reason}
            )
        ],
        historical=historical,
    )


# --- commerce platforms: upserts and refunds ------------------------------------------------------


def _by_external_id(session: Session, store_id: int, external_id: str, *, lock: bool = False) -> Order | None:
    stmt = scoped(select(Order), Order, store_id).where(Order.external_id == external_id)
    if lock:
        # Serialises concurrent deliveries for one order on PostgreSQL (SQLite has one writer anyway).
        stmt = stmt.with_for_update(of=Order)
    return session.scalars(stmt).unique().one_or_none()


def upsert_order(session: Session, *, store_id: int, cmd: UpsertOrder, historical: bool = False) -> Applied:
    """Create the order when its external id is new, else bring it in line with the platform's view.

    Emits ``order.placed`` on create and ``order.cancelled`` the first time ``cancelled_at`` appears.
    Lines are matched by external id; a line the platform no longer lists is removed unless a
    shipment holds it (then it stays, so parcels keep their contents).
    """
    order = _by_external_id(session, store_id, cmd.external_id, lock=True)
    recorded: list[str] = []
    if order is None:
        try:
            with session.begin_nested():
                created = create_order(session, store_id=store_id, cmd=cmd, historical=historical)
        except Conflict:
            # A concurrent delivery of the same order created it first: update that one instead.
            order = _by_external_id(session, store_id, cmd.external_id, lock=True)
            if order is None:
                raise
            _update_from(session, order, cmd)
        else:
            order, recorded = created.order, list(created.milestones)
    else:
        _update_from(session, order, cmd)
    if cmd.cancelled_at is not None:
        recorded += _mark_cancelled(
            session, order, cmd.cancelled_at, cmd.cancel_reason, historical=historical
        )
    return Applied(order, recorded)


def _update_from(session: Session, order: Order, cmd: UpsertOrder) -> None:
    subtotal, total = _totals(cmd)
    if total < order.refunded_minor:
        raise Invalid.field(
            "total_minor",
            f"{total} is less than the {order.refunded_minor} already refunded on order {order.public_id}",
            "send the order's total before refunds",
        )
    if cmd.customer is not None:
        order.customer = customer_service.upsert_customer(session, store_id=order.store_id, cmd=cmd.customer)
    order.number = cmd.number
    order.placed_at = clock.as_utc(cmd.placed_at)
    order.currency = cmd.currency
    order.subtotal_minor = subtotal
    order.shipping_minor = cmd.shipping_minor
    order.tax_minor = cmd.tax_minor
    order.discount_minor = cmd.discount_minor
    order.total_minor = total
    if "shipping_address" in cmd.model_fields_set:
        order.shipping_address = (
            cmd.shipping_address.model_dump(mode="json", exclude_none=True) if cmd.shipping_address else None
        )
    if "tags" in cmd.model_fields_set:
        order.tags = list(cmd.tags)
    if "note" in cmd.model_fields_set:
        order.note = cmd.note
    order.line_items = _merge_lines(session, order, cmd.line_items)
    order.updated_at = clock.now()
    session.flush()


def _merge_lines(session: Session, order: Order, inputs: tuple[LineItemInput, ...]) -> list[LineItem]:
    by_external = {li.external_id: li for li in order.line_items if li.external_id}
    merged: list[LineItem] = []
    for li in inputs:
        row = by_external.pop(li.external_id or "", None)
        if row is None:
            row = LineItem(public_id=ids.new_id("li"), store_id=order.store_id)
        row.position = len(merged)
        row.external_id = li.external_id
        for attr in ("product_id", "variant_id", "sku", "title", "variant_title", "quantity", "image_url"):
            setattr(row, attr, getattr(li, attr))
        row.unit_price_minor = li.unit_price_minor
        row.discount_minor = li.discount_minor
        # Merchant-side facts the platform may not carry are only changed when sent.
        row.product_tags = (
            list(li.product_tags) if "product_tags" in li.model_fields_set else row.product_tags or []
        )
        row.is_final_sale = (
            li.is_final_sale if "is_final_sale" in li.model_fields_set else bool(row.is_final_sale)
        )
        merged.append(row)
    gone = [li for li in order.line_items if li not in merged]
    held = _held_by_shipments(session, order.store_id, [li.id for li in gone])
    for row in gone:
        if row.id in held:
            row.position = len(merged)
            merged.append(row)
    return merged


def _held_by_shipments(session: Session, store_id: int, line_ids: list[int]) -> set[int]:
    if not line_ids:
        return set()
    # Shipments build on orders, so this one read looks upwards; imported here to keep that visible.
    from doorstep.shipments.models import ShipmentItem

    stmt = scoped(select(ShipmentItem.line_item_id), ShipmentItem, store_id).where(
        ShipmentItem.line_item_id.in_(line_ids)
    )
    return set(session.scalars(stmt))


def record_refund(session: Session, *, store_id: int, cmd: RecordRefund) -> Applied:
    """Record money returned for an order, once per refund id; emits ``refund.issued`` when money moved.

    The sum refunded never exceeds the order's total: a refund that would pass it is refused.
    """
    order = _by_external_id(session, store_id, cmd.order_external_id, lock=True)
    if order is None:
        raise NotFound(
            f"order {cmd.order_external_id} is not known yet; replay this refund after the order arrives"
        )
    stmt = scoped(select(OrderRefund), OrderRefund, store_id).where(
        OrderRefund.order_id == order.id, OrderRefund.external_id == cmd.external_id
    )
    if session.scalars(stmt).one_or_none() is not None:
        return Applied(order, [])  # a repeat of a refund already recorded changes nothing
    if cmd.currency is not None and cmd.currency != order.currency:
        raise Invalid.field(
            "currency",
            f"{cmd.currency} is not the currency of order {order.public_id} ({order.currency})",
            f"send the refund amount in {order.currency}",
        )
    refunded = order.refunded_minor + cmd.amount_minor
    if refunded > order.total_minor:
        raise Invalid.field(
            "amount_minor",
            f"{cmd.amount_minor} would bring the refunds of order {order.public_id} to {refunded}, "
            f"more than its total of {order.total_minor}",
            f"send at most {order.total_minor - order.refunded_minor}",
        )
    refund = OrderRefund(
        public_id=ids.new_id("rf"),
        store_id=store_id,
        order_id=order.id,
        external_id=cmd.external_id,
        amount_minor=cmd.amount_minor,
        currency=order.currency,
        processed_at=clock.as_utc(cmd.processed_at),
        lines=[line.model_dump(mode="json") for line in cmd.lines],
    )
    session.add(refund)
    order.refunded_minor = refunded
    order.updated_at = clock.now()
    session.flush()
    if cmd.amount_minor == 0:
        return Applied(order, [])  # e.g. a restock without money back: recorded, but nothing to announce
    recorded = flow_service.emit(
        session,
        store_id=store_id,
        occurrences=[
            flow_service.Occurrence(
                "refund.issued",
                refund.public_id,
                order.public_id,
                cmd.processed_at,
                {
                    "amount_minor": cmd.amount_minor,
                    "currency": order.currency,
                    "external_id": cmd.external_id,
                },
            )
        ],
    )
    return Applied(order, recorded)


def list_refunds(session: Session, *, store_id: int, order_id: str) -> list[OrderRefund]:
    order = get_order(session, store_id=store_id, order_id=order_id)
    stmt = scoped(select(OrderRefund), OrderRefund, store_id).where(OrderRefund.order_id == order.id)
    return list(session.scalars(stmt.order_by(OrderRefund.processed_at, OrderRefund.id)))
