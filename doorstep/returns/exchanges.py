"""Instant exchanges: the replacement order is created when the return is approved, so it ships now.

The replacement's lines carry the variant's own price; an order-level discount brings its total down
to what the shopper still owes (the price difference, or nothing), since the returned items pay for it.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from doorstep.customers.commands import UpsertCustomer
from doorstep.orders import service as order_service
from doorstep.orders.commands import Address, CreateOrder, LineItemInput
from doorstep.returns.models import ReturnRequest


def create_replacement_order(session: Session, *, request: ReturnRequest, now: datetime) -> int:
    """Create the replacement order for an exchange (emits ``order.placed``); return its row id."""
    original = request.order
    lines = [
        LineItemInput(
            external_id=f"{request.rma}-{index}",
            product_id=item.line_item.product_id,
            variant_id=item.exchange_variant_id,
            title=item.line_item.title,
            variant_title=item.exchange_variant_title,
            quantity=item.quantity,
            unit_price_minor=item.exchange_unit_price_minor or 0,
            product_tags=tuple(item.line_item.product_tags or ()),
        )
        for index, item in enumerate(request.items, start=1)
    ]
    subtotal = sum(line.unit_price_minor * line.quantity for line in lines)
    customer = original.customer
    cmd = CreateOrder(
        number=f"{original.number}-{request.rma}",
        placed_at=now,
        currency=original.currency,
        customer=UpsertCustomer(
            external_id=customer.external_id, email=customer.email, phone=customer.phone,
            first_name=customer.first_name, last_name=customer.last_name,
        )
        if customer is not None
        else None,
        line_items=tuple(lines),
        discount_minor=max(subtotal - request.charge_minor, 0),
        total_minor=request.charge_minor,
        shipping_address=Address.model_validate(original.shipping_address) if original.shipping_address else None,
        tags=("exchange", f"return:{request.rma}"),
        note=f"Exchange for order {original.number} (return {request.rma})",
        source="exchange",
    )  # fmt: skip
    return order_service.create_order(session, store_id=request.store_id, cmd=cmd).order.id
