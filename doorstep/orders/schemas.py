from datetime import datetime
from typing import Any

from pydantic import BaseModel

from doorstep.customers.schemas import CustomerRead
from doorstep.orders.models import LineItem, Order


class LineItemRead(BaseModel):
    id: str
    external_id: str | None
    product_id: str | None
    variant_id: str | None
    sku: str | None
    title: str
    variant_title: str | None
    quantity: int
    unit_price_minor: int
    discount_minor: int
    image_url: str | None
    product_tags: list[str]
    is_final_sale: bool

    @classmethod
    def of(cls, item: LineItem) -> "LineItemRead":
        return cls(
            id=item.public_id,
            external_id=item.external_id,
            product_id=item.product_id,
            variant_id=item.variant_id,
            sku=item.sku,
            title=item.title,
            variant_title=item.variant_title,
            quantity=item.quantity,
            unit_price_minor=item.unit_price_minor,
            discount_minor=item.discount_minor,
            image_url=item.image_url,
            product_tags=list(item.product_tags),
            is_final_sale=item.is_final_sale,
        )


class OrderRead(BaseModel):
    id: str
    external_id: str | None
    number: str
    source: str
    placed_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str | None
    currency: str
    subtotal_minor: int
    shipping_minor: int
    tax_minor: int
    discount_minor: int
    total_minor: int
    shipping_address: dict[str, Any] | None
    tags: list[str]
    note: str | None
    customer: CustomerRead | None
    line_items: list[LineItemRead]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order) -> "OrderRead":
        return cls(
            id=order.public_id,
            external_id=order.external_id,
            number=order.number,
            source=order.source,
            placed_at=order.placed_at,
            cancelled_at=order.cancelled_at,
            cancel_reason=order.cancel_reason,
            currency=order.currency,
            subtotal_minor=order.subtotal_minor,
            shipping_minor=order.shipping_minor,
            tax_minor=order.tax_minor,
            discount_minor=order.discount_minor,
            total_minor=order.total_minor,
            shipping_address=order.shipping_address,
            tags=list(order.tags),
            note=order.note,
            customer=CustomerRead.of(order.customer) if order.customer else None,
            line_items=[LineItemRead.of(i) for i in order.line_items],
            created_at=order.created_at,
            updated_at=order.updated_at,
        )


class OrderPage(BaseModel):
    data: list[OrderRead]
    next_cursor: str | None


class StatusLinkRead(BaseModel):
    """The shopper's order-status link: a random token (192 bits) in the path, never the order id."""

    order_id: str
    token: str
    path: str
    visits: int
    last_visit_at: datetime | None

    @classmethod
    def of(cls, order: Order) -> "StatusLinkRead":
        return cls(
            order_id=order.public_id,
            token=order.status_token,
            path=f"/t/{order.status_token}",
            visits=order.tracking_page_visits or 0,
            last_visit_at=order.tracking_page_last_visit_at,
        )
