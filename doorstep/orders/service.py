"""Orders: the only writer of orders and line items."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.customers import service as customer_service
from doorstep.flows import service as flow_service
from doorstep.orders.commands import CancelOrder, CreateOrder, UpdateOrder
from doorstep.orders.models import LineItem, Order


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
        placed_at=cmd.placed_at,
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
    recorded: list[str] = []
    if order.cancelled_at is None:
        order.cancelled_at = cmd.cancelled_at or clock.now()
        order.cancel_reason = cmd.reason
        session.flush()
        recorded = flow_service.emit(
            session,
            store_id=store_id,
            occurrences=[
                flow_service.Occurrence(
                    "order.cancelled",
                    order.public_id,
                    order.public_id,
                    order.cancelled_at,
                    {"reason": cmd.reason},
                )
            ],
        )
    return Applied(order, recorded)
