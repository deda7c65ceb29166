"""Build the template context (``doorstep.messaging.context``) for one message from fresh rows.

Plain data only: names, formatted money and dates in the shopper's locale, brand colours, and links that
go through the signed click redirect (``/e/c/…``) to the shopper's tracking page (``/t/{token}``), plus
the open pixel and the unsubscribe page. No I/O beyond the rows the caller loaded.
"""

from dataclasses import dataclass
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency

from doorstep.core import money
from doorstep.customers.models import Customer
from doorstep.messaging import links
from doorstep.messaging.context import (
    ClaimContext,
    CustomerContext,
    ItemContext,
    LinksContext,
    OrderContext,
    RemedyContext,
    ReturnContext,
    ShipmentContext,
    StoreContext,
    TemplateContext,
)
from doorstep.orders.models import Order
from doorstep.returns.models import Claim, ReturnRequest
from doorstep.shipments.models import Shipment
from doorstep.stores.models import Store

CARRIER_NAMES = {
    "ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl": "DHL", "simulated": "Doorstep Express",
}  # fmt: skip


@dataclass(frozen=True)
class Addressing:
    """Where links point and how they are signed."""

    base_url: str
    secret: str
    message_id: str
    kind: str


@lru_cache(maxsize=64)
def babel_locale(locale: str | None) -> Locale:
    try:
        return Locale.parse((locale or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


@lru_cache(maxsize=4096)  # pure; a batch formats the same prices in the same locales
def price(amount_minor: int, currency: str, locale: str | None) -> str:
    exponent = money.exponent(currency) if money.is_currency(currency) else 2
    return format_currency(amount_minor / 10**exponent, currency, locale=babel_locale(locale))


def build(
    *,
    store: Store,
    order: Order | None,
    shipment: Shipment | None,
    customer: Customer | None,
    locale: str,
    addressing: Addressing,
    remedy: tuple[str | None, str] | None = None,
    return_request: ReturnRequest | None = None,
    credit_code: str | None = None,
    claim: Claim | None = None,
) -> TemplateContext:
    branding = store.branding or {}
    store_context = StoreContext(
        name=store.name,
        logo_url=branding.get("logo_url"),
        primary_color=branding.get("primary_color") or "#1f5f4a",
        accent_color=branding.get("accent_color") or "#2f7d63",
        background_color=branding.get("background_color") or "#ffffff",
        support_email=store.support_email,
        support_phone=store.support_phone,
        support_url=store.support_url,
    )
    currency = order.currency if order is not None else store.currency
    items = []
    if order is not None:
        wanted = (
            {si.line_item_id for si in shipment.items} if shipment is not None and shipment.items else None
        )
        if return_request is not None:  # a return's message lists the items going back
            wanted = {ri.line_item_id for ri in return_request.items} or None
        for li in order.line_items:
            if wanted is not None and li.id not in wanted:
                continue
            line_minor = li.unit_price_minor * li.quantity - li.discount_minor
            items.append(
                ItemContext(
                    title=li.title, variant=li.variant_title, quantity=li.quantity, image_url=li.image_url,
                    price_minor=line_minor, price=price(line_minor, currency, locale),
                )
            )  # fmt: skip
    order_context = OrderContext(
        number=order.number if order is not None else "",
        items=items,
        total=price(order.total_minor, currency, locale) if order is not None else "",
        refund_amount=price(order.refunded_minor, currency, locale)
        if order and order.refunded_minor
        else None,
    )
    shipment_context = None
    if shipment is not None:
        day = shipment.expected_on or shipment.promised_on
        shipment_context = ShipmentContext(
            carrier=CARRIER_NAMES.get(shipment.carrier, shipment.carrier.upper()),
            tracking_number=shipment.tracking_number,
            status=shipment.status,
            expected_delivery=format_date(day, "EEEE, d MMMM", locale=babel_locale(locale)) if day else None,
            delay_reason=shipment.delay_reason,
        )
    base, secret, message_id = addressing.base_url.rstrip("/"), addressing.secret, addressing.message_id
    tracking = f"{base}/t/{order.status_token}" if order is not None else base
    if return_request is not None:
        tracking = f"{base}/r/{return_request.token}"
    unsubscribe = links.unsubscribe(base, secret, message_id)
    return TemplateContext(
        store=store_context,
        customer=CustomerContext(first_name=customer.first_name if customer is not None else None),
        order=order_context,
        shipment=shipment_context,
        links=LinksContext(
            tracking=links.click(base, secret, message_id, tracking),
            unsubscribe=unsubscribe,
            preferences=unsubscribe,
            open_pixel=links.open_pixel(base, secret, message_id) if addressing.kind == "email" else None,
        ),
        remedy=RemedyContext(code=remedy[0], description=remedy[1]) if remedy is not None else None,
        return_request=_return_context(return_request, credit_code, locale) if return_request else None,
        claim=_claim_context(claim, locale) if claim is not None else None,
    )


# What a resolved return's outcome is when the row does not say (the resolution asked for was granted).
_OUTCOMES = {"refund": "refunded", "store_credit": "credited", "exchange": "exchanged", "keep": "kept"}


def _return_context(request: ReturnRequest, credit_code: str | None, locale: str) -> ReturnContext:
    currency = request.currency
    return ReturnContext(
        rma=request.rma, status=request.status, resolution=request.resolution, method=request.method,
        outcome=request.outcome or (_OUTCOMES.get(request.resolution) if request.status == "resolved" else None),
        refund_amount=price(request.refund_minor, currency, locale) if request.refund_minor else None,
        credit_amount=price(request.credit_minor, currency, locale) if request.credit_minor else None,
        credit_code=credit_code,
        exchange_items=[ri.exchange_title for ri in request.items if ri.exchange_title],
        rejection_reason=request.rejected_reason, rejection_message=request.rejected_message,
    )  # fmt: skip


def _claim_context(claim: Claim, locale: str) -> ClaimContext:
    return ClaimContext(
        kind=claim.kind, status=claim.status, resolution=claim.resolution,
        amount=price(claim.amount_minor, claim.currency, locale), decided_reason=claim.decided_reason,
    )  # fmt: skip
