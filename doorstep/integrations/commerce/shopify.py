"""Shopify: orders, fulfillments, tracking events, refunds and customers, pushed as webhooks.

Docs: https://shopify.dev/docs/api/webhooks (topics, headers and sample payloads) and
https://shopify.dev/docs/apps/build/webhooks/subscribe/https (verifying a delivery).

Delivery: push, to ``/hooks/shopify/{store}``. One delivery carries one resource (an order, a
fulfillment, …) as the REST Admin API renders it in the subscription's API version.

Signature: ``X-Shopify-Hmac-Sha256`` is the Base64 of the HMAC-SHA256 of the raw body bytes, keyed with
the app's client secret; newer deliveries may send it as ``shopify-hmac-sha256``. ``X-Shopify-Webhook-Id``
is the same on every retry of one delivery (the idempotency key), ``X-Shopify-Topic`` names the topic and
``X-Shopify-Shop-Domain`` the shop.

Reading rules: ids are 64-bit integers, read as int (never through float, which loses digits above
2**53) and kept as strings. Money is the shop currency's decimal strings (``*_set.shop_money`` when
present), turned into minor units exactly. A bad optional detail (a phone, an e-mail, an address) is
dropped with a reason in ``Parsed.ignored``; a payload whose main object cannot be read becomes a reason
in ``Parsed.errors``, never a crash.
"""

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, Strict, ValidationError

from doorstep.customers.commands import Channel, ConsentInput, UpsertCustomer
from doorstep.integrations.commerce import common
from doorstep.integrations.commerce.common import Amount
from doorstep.integrations.commerce.protocol import Parsed, Unsupported
from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK
from doorstep.integrations.tracking.countries import alpha2
from doorstep.integrations.tracking.protocol import Mapped
from doorstep.orders.commands import (
    Address,
    CancelOrderByRef,
    LineItemInput,
    RecordRefund,
    RefundLine,
    UpsertOrder,
)
from doorstep.shipments.commands import (
    ApplyFulfillmentEvent,
    ApplyTracking,
    CheckpointInput,
    FulfillmentLine,
    UpsertFulfillment,
)
from doorstep.shipments.status import Status, Substatus

NAME = "shopify"


class Config(BaseModel):
    """A store's Shopify connection."""

    model_config = ConfigDict(extra="forbid")

    webhook_secret: SecretStr = Field(
        ..., min_length=1, description="The app's client secret (API secret key) that signs webhooks."
    )
    shop_domain: str | None = Field(
        None,
        max_length=255,
        description="e.g. acme.myshopify.com; when set, deliveries for any other shop are refused.",
    )
    api_version: str = Field(
        "2026-04", pattern=r"^(\d{4}-\d{2}|unstable)$", description="Admin API version of the subscriptions."
    )
    access_token: SecretStr | None = Field(
        None, description="Admin API access token, for calls back to Shopify (e.g. creating refunds)."
    )
    admin_base_url: str | None = Field(
        None,
        max_length=500,
        description="Where the Admin API answers; https://{shop_domain} when unset (a proxy or a local test server).",
    )


# Shopify's fulfillment tracking codes: FulfillmentEvent.status (fulfillment_events/create) and
# Fulfillment.shipment_status share one list. The last three appear in the unstable API version.
STATUS_MAP: dict[str, Mapped] = {
    "label_purchased": (Status.info_received, None),
    "label_printed": (Status.info_received, None),
    "confirmed": (Status.info_received, None),  # the carrier knows the parcel, has not scanned it
    "carrier_picked_up": (Status.in_transit, None),
    "in_transit": (Status.in_transit, None),
    "delayed": (Status.in_transit, None),  # still moving; "delayed" is Doorstep's derived flag, not a status
    "out_for_delivery": (Status.out_for_delivery, None),
    "attempted_delivery": (Status.attempt_failed, None),
    "ready_for_pickup": (Status.available_for_pickup, None),
    "ready_for_recipient_pickup": (Status.available_for_pickup, None),
    "picked_up": (Status.delivered, None),  # collected by the shopper at the pickup point
    "delivered": (Status.delivered, None),
    "failure": (Status.exception, Substatus.other),  # tracking failed, e.g. invalid number or cancelled
    "buyer_action_required": (Status.exception, Substatus.other),
    "returning_to_sender": (Status.exception, Substatus.returning_to_sender),
}

# Fulfillment.status values after which nothing ships.
_CANCELLED = frozenset({"cancelled", "error", "failure"})


# --- payload models: only the fields used --------------------------------------------------------

Id = Annotated[int, Strict()]  # a JSON integer, never a float (which would have lost digits)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Money(_Model):
    amount: Amount
    currency_code: str | None = None


class _MoneySet(_Model):
    shop_money: _Money


class _Address(_Model):
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    province_code: str | None = None
    zip: str | None = None
    country_code: str | None = None
    phone: str | None = None


class _Consent(_Model):
    state: str | None = None
    consent_updated_at: datetime | None = None


class _Customer(_Model):
    id: Id | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    accepts_marketing: bool | None = None
    accepts_marketing_updated_at: datetime | None = None
    email_marketing_consent: _Consent | None = None
    sms_marketing_consent: _Consent | None = None
    default_address: _Address | None = None


def _image_src(value: Any) -> Any:
    return {"src": value} if isinstance(value, str) else value


class _Image(_Model):
    src: str | None = None
    url: str | None = None


class _LineItem(_Model):
    id: Id
    product_id: Id | None = None
    variant_id: Id | None = None
    sku: str | None = None
    title: str | None = None
    name: str | None = None
    variant_title: str | None = None
    quantity: int
    price: Amount | None = None
    price_set: _MoneySet | None = None
    total_discount: Amount | None = None
    total_discount_set: _MoneySet | None = None
    image: Annotated[_Image | None, BeforeValidator(_image_src)] = None


class _ShippingLine(_Model):
    price: Amount | None = None
    price_set: _MoneySet | None = None


class _OrderRef(_Model):
    id: Id
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None


class _Order(_OrderRef):
    name: str | None = None
    order_number: int | None = None
    created_at: datetime
    currency: str
    email: str | None = None
    contact_email: str | None = None
    phone: str | None = None
    customer_locale: str | None = None
    total_price: Amount | None = None
    total_price_set: _MoneySet | None = None
    total_tax: Amount | None = None
    total_tax_set: _MoneySet | None = None
    total_discounts: Amount | None = None
    total_discounts_set: _MoneySet | None = None
    total_shipping_price_set: _MoneySet | None = None
    shipping_lines: list[_ShippingLine] = []
    line_items: list[_LineItem] = []
    shipping_address: _Address | None = None
    customer: _Customer | None = None
    tags: str | None = None
    note: str | None = None


class _FulfillmentLine(_Model):
    id: Id
    quantity: int


class _Fulfillment(_Model):
    id: Id
    order_id: Id
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_numbers: list[str | None] = []
    tracking_url: str | None = None
    tracking_urls: list[str | None] = []
    shipment_status: str | None = None
    line_items: list[_FulfillmentLine] = []


class _FulfillmentEvent(_Model):
    id: Id
    fulfillment_id: Id
    order_id: Id
    status: str
    message: str | None = None
    happened_at: datetime | None = None
    created_at: datetime | None = None
    city: str | None = None
    province: str | None = None
    zip: str | None = None
    country: str | None = None
    estimated_delivery_at: datetime | None = None


class _RefundLine(_Model):
    line_item_id: Id
    quantity: int
    restock_type: str | None = None
    subtotal: Amount | None = None
    subtotal_set: _MoneySet | None = None
    total_tax: Amount | None = None
    total_tax_set: _MoneySet | None = None


class _Transaction(_Model):
    kind: str | None = None
    status: str | None = None
    amount: Amount | None = None
    currency: str | None = None


class _Refund(_Model):
    id: Id
    order_id: Id
    created_at: datetime | None = None
    processed_at: datetime | None = None
    refund_line_items: list[_RefundLine] = []
    transactions: list[_Transaction] | None = None
    total_duties_set: _MoneySet | None = None


# --- readers -------------------------------------------------------------------------------------


def _at(where: str, field: str) -> str:
    """Where a value sits, for reasons: ``order 1001: shipping_address.phone``."""
    return f"{where}{field}" if where.endswith(": ") else f"{where}.{field}"


def _ref(value: int | None) -> str | None:
    return None if value is None else str(value)


def _minor(field: str, amount: str | None, shop: _MoneySet | None, currency: str) -> int | None:
    """Minor units from the shop-money set when present, else from the plain amount; None when absent."""
    return common.minor(field, shop.shop_money.amount if shop is not None else amount, currency)


def _status(code: str, parsed: Parsed) -> Mapped:
    key = code.strip().lower()
    if key not in STATUS_MAP:
        parsed.unknown_codes.append(code)
        return UNKNOWN_FALLBACK
    return STATUS_MAP[key]


def _address(raw: _Address | None, parsed: Parsed, where: str) -> Address | None:
    if raw is None:
        return None
    country = alpha2(raw.country_code)
    if country is None:
        parsed.ignored.append(
            f"{_at(where, 'country_code')} {raw.country_code!r} is not an ISO 3166 country: address dropped"
        )
        return None
    name = raw.name or " ".join(part for part in (raw.first_name, raw.last_name) if part)
    try:
        return Address(
            name=common.text(name, 200),
            company=common.text(raw.company, 200),
            line1=common.text(raw.address1, 300),
            line2=common.text(raw.address2, 300),
            city=common.text(raw.city, 200),
            region=common.text(raw.province_code or raw.province, 200),
            postal_code=common.text(raw.zip, 40),
            country=country,
            phone=common.phone(raw.phone, country, parsed, _at(where, "phone")),
        )
    except ValidationError as exc:
        parsed.ignored.append(f"{where} ({common.reason(exc)}): address dropped")
        return None


_CONSENT_STATES = {"subscribed": True, "unsubscribed": False, "not_subscribed": False}
_NO_STATEMENT = frozenset({"pending", "redacted", "invalid"})  # not confirmed, or not ours to read


def _consent(channel: Channel, raw: _Consent | None, parsed: Parsed, where: str) -> ConsentInput | None:
    if raw is None or not raw.state or raw.state.lower() in _NO_STATEMENT:
        return None
    state = raw.state.lower()
    if state not in _CONSENT_STATES:
        parsed.ignored.append(f"{_at(where, 'state')} {raw.state!r} is not a Shopify consent state: skipped")
        return None
    if state == "not_subscribed" and raw.consent_updated_at is None:
        return None  # never asked: no statement to record
    try:
        return ConsentInput(
            channel=channel, granted=_CONSENT_STATES[state], source=NAME, recorded_at=raw.consent_updated_at
        )
    except ValidationError as exc:
        parsed.ignored.append(f"{where} ({common.reason(exc)}): skipped")
        return None


def _consents(raw: _Customer, parsed: Parsed, where: str) -> tuple[ConsentInput, ...]:
    email = raw.email_marketing_consent
    if email is None and raw.accepts_marketing is not None:  # API versions before 2022-04
        email = _Consent(
            state="subscribed" if raw.accepts_marketing else "not_subscribed",
            consent_updated_at=raw.accepts_marketing_updated_at,
        )
    found = (
        _consent(Channel.email, email, parsed, _at(where, "email_marketing_consent")),
        _consent(Channel.sms, raw.sms_marketing_consent, parsed, _at(where, "sms_marketing_consent")),
    )
    return tuple(c for c in found if c is not None)


def _customer(
    raw: _Customer | None,
    parsed: Parsed,
    where: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    locale: str | None = None,
    region: str | None = None,
) -> UpsertCustomer | None:
    """The shopper; ``email``/``phone`` are the order's own contact points, used when the customer has none."""
    raw = raw or _Customer()
    region = region or (alpha2(raw.default_address.country_code) if raw.default_address else None)
    found_email = common.email(raw.email or email, parsed, _at(where, "email"))
    found_phone = common.phone(raw.phone or phone, region, parsed, _at(where, "phone"))
    if raw.id is None and found_email is None and found_phone is None:
        return None
    try:
        return UpsertCustomer(
            external_id=_ref(raw.id),
            email=found_email,
            phone=found_phone,
            first_name=common.text(raw.first_name, 200),
            last_name=common.text(raw.last_name, 200),
            locale=common.locale(locale, parsed, _at(where, "locale")),
            consents=_consents(raw, parsed, where),
        )
    except ValidationError as exc:
        parsed.ignored.append(f"{where.removesuffix(': ')} ({common.reason(exc)}): customer dropped")
        return None


def _checkpoint(
    code: str,
    at: datetime | None,
    parsed: Parsed,
    *,
    message: str | None = None,
    city: str | None = None,
    region: str | None = None,
    postal_code: str | None = None,
    country: str | None = None,
) -> CheckpointInput:
    if at is None:
        raise common.Unreadable(f"status {code!r} has no time")
    status, substatus = _status(code, parsed)
    return CheckpointInput(
        occurred_at=at,
        status=status,
        substatus=substatus,
        raw_code=code[:100],
        message=common.text(message, 2000),
        city=common.text(city, 200),
        region=common.text(region, 200),
        postal_code=common.text(postal_code, 40),
        country=alpha2(country),
    )


# --- topics --------------------------------------------------------------------------------------


def _line(raw: _LineItem, index: int, currency: str, parsed: Parsed, where: str) -> LineItemInput:
    field = f"line_items.{index}"
    unit = _minor(f"{field}.price", raw.price, raw.price_set, currency)
    if unit is None:
        raise common.Unreadable(f"{field}.price is missing")
    sku = common.text(raw.sku, 255)
    if sku is not None and len(sku) > 100:
        parsed.ignored.append(f"{where}: {field}.sku is longer than 100 characters: dropped")
        sku = None
    image = (raw.image.src or raw.image.url) if raw.image else None
    return LineItemInput(
        external_id=str(raw.id),
        product_id=_ref(raw.product_id),
        variant_id=_ref(raw.variant_id),
        sku=sku,
        title=common.text(raw.title or raw.name, 500) or "Item",
        variant_title=common.text(raw.variant_title, 500),
        quantity=raw.quantity,
        unit_price_minor=unit,
        discount_minor=_minor(f"{field}.total_discount", raw.total_discount, raw.total_discount_set, currency)
        or 0,
        image_url=common.text(image, 2000),
    )


def _shipping(raw: _Order, currency: str) -> int:
    total = _minor("total_shipping_price_set", None, raw.total_shipping_price_set, currency)
    if total is not None:
        return total
    lines = (
        _minor(f"shipping_lines.{i}.price", s.price, s.price_set, currency) or 0
        for i, s in enumerate(raw.shipping_lines)
    )
    return sum(lines)


def _order_command(raw: _Order, parsed: Parsed, where: str) -> UpsertOrder:
    currency = common.currency(raw.currency, "currency")
    if not raw.line_items:
        raise common.Unreadable("line_items is empty")
    lines = tuple(_line(li, i, currency, parsed, where) for i, li in enumerate(raw.line_items))
    # Shopify's total_discounts includes the lines' own discounts; Doorstep keeps those on the lines.
    discounts = _minor("total_discounts", raw.total_discounts, raw.total_discounts_set, currency) or 0
    region = alpha2(raw.shipping_address.country_code) if raw.shipping_address else None
    tags = tuple(tag.strip()[:100] for tag in (raw.tags or "").split(",") if tag.strip())
    return UpsertOrder(
        external_id=str(raw.id),
        number=common.text(raw.name, 64) or f"#{raw.order_number or raw.id}",
        placed_at=raw.created_at,
        currency=currency,
        customer=_customer(
            raw.customer,
            parsed,
            f"{where}: customer",
            email=raw.email or raw.contact_email,
            phone=raw.phone,
            locale=raw.customer_locale,
            region=region,
        ),
        line_items=lines,
        shipping_minor=_shipping(raw, currency),
        tax_minor=_minor("total_tax", raw.total_tax, raw.total_tax_set, currency) or 0,
        discount_minor=max(discounts - sum(li.discount_minor for li in lines), 0),
        total_minor=_minor("total_price", raw.total_price, raw.total_price_set, currency),
        shipping_address=_address(raw.shipping_address, parsed, f"{where}: shipping_address"),
        tags=tags[:250],
        note=common.text(raw.note, 5000),
        source=NAME,
        cancelled_at=raw.cancelled_at,
        cancel_reason=common.text(raw.cancel_reason, 200),
    )


def _on_order(topic: str, data: dict[str, Any], parsed: Parsed) -> None:
    try:
        ref = _OrderRef.model_validate(data)
    except ValidationError as exc:
        parsed.errors.append(f"{topic}: {common.reason(exc)}")
        return
    where = f"order {ref.id}"
    try:
        parsed.commands.append(_order_command(_Order.model_validate(data), parsed, where))
    except ValueError as exc:  # common.Unreadable or a ValidationError
        if topic == "orders/cancelled" and ref.cancelled_at is not None:
            parsed.ignored.append(f"{where}: {common.reason(exc)}: applying the cancellation alone")
            parsed.commands.append(
                CancelOrderByRef(
                    external_id=str(ref.id),
                    reason=common.text(ref.cancel_reason, 200),
                    cancelled_at=ref.cancelled_at,
                )
            )
            return
        parsed.errors.append(f"{topic} {where}: {common.reason(exc)}")


def _on_fulfillment(topic: str, data: dict[str, Any], parsed: Parsed) -> None:
    try:
        raw = _Fulfillment.model_validate(data)
        where = f"fulfillment {raw.id}"
        numbers = common.unique(raw.tracking_numbers or [raw.tracking_number])
        cancelled = (raw.status or "").lower() in _CANCELLED
        parsed.commands.append(
            UpsertFulfillment(
                order_external_id=str(raw.order_id),
                external_id=str(raw.id),
                carrier=common.text(raw.tracking_company, 60),
                tracking_numbers=tuple(numbers),
                tracking_urls=tuple(common.unique(raw.tracking_urls or [raw.tracking_url])),
                lines=tuple(
                    FulfillmentLine(line_external_id=str(li.id), quantity=li.quantity)
                    for li in raw.line_items
                    if li.quantity > 0
                ),
                shipped_at=raw.created_at,
                is_cancelled=cancelled,
            )
        )
    except ValueError as exc:
        parsed.errors.append(f"{topic}: {common.reason(exc)}")
        return
    if not raw.shipment_status:
        return
    if cancelled:
        parsed.ignored.append(
            f"{where}: shipment_status {raw.shipment_status!r} of a {raw.status} fulfillment: skipped"
        )
        return
    trackable = [n for n in numbers if len(n) >= 3]
    parsed.ignored.extend(
        f"{where}: tracking number {n!r} is too short to track: skipped" for n in numbers if len(n) < 3
    )
    if not trackable:
        parsed.ignored.append(
            f"{where}: shipment_status {raw.shipment_status!r} without a tracking number: nothing to track"
        )
        return
    try:
        checkpoint = _checkpoint(raw.shipment_status, raw.updated_at or raw.created_at, parsed)
        parsed.commands.extend(
            ApplyTracking(
                tracking_number=number,
                carrier=common.text(raw.tracking_company, 60),
                checkpoints=(checkpoint,),
                order_ref=str(raw.order_id),
            )
            for number in trackable
        )
    except ValueError as exc:
        parsed.ignored.append(
            f"{where}: shipment_status {raw.shipment_status!r}: {common.reason(exc)}: skipped"
        )


def _on_fulfillment_event(topic: str, data: dict[str, Any], parsed: Parsed) -> None:
    try:
        raw = _FulfillmentEvent.model_validate(data)
        if raw.country and alpha2(raw.country) is None:
            parsed.ignored.append(
                f"fulfillment event {raw.id}: country {raw.country!r} is not an ISO 3166 code: dropped"
            )
        estimated = raw.estimated_delivery_at
        parsed.commands.append(
            ApplyFulfillmentEvent(
                order_external_id=str(raw.order_id),
                fulfillment_external_id=str(raw.fulfillment_id),
                checkpoint=_checkpoint(
                    raw.status,
                    raw.happened_at or raw.created_at,
                    parsed,
                    message=raw.message,
                    city=raw.city,
                    region=raw.province,
                    postal_code=raw.zip,
                    country=raw.country,
                ),
                estimated_delivery_on=estimated.date() if estimated else None,
            )
        )
    except ValueError as exc:
        parsed.errors.append(f"{topic}: {common.reason(exc)}")


def _refund_amount(raw: _Refund, parsed: Parsed, where: str) -> tuple[int, str | None]:
    """Money returned: the successful refund transactions; when the refund lists no refund transactions
    at all (older API versions send none), the refunded lines' subtotal + tax."""
    shop = _shop_currency(raw)
    refunds = [t for t in raw.transactions or [] if (t.kind or "").lower() == "refund"]
    if not refunds:
        return _lines_amount(raw, shop, parsed, where)
    paid = [t for t in refunds if (t.status or "").lower() == "success"]
    unpaid = sorted({(t.status or "unknown").lower() for t in refunds} - {"success"})
    if unpaid:
        parsed.ignored.append(f"{where}: refund transactions with status {', '.join(unpaid)} are not counted")
    named = {common.currency(t.currency, "transactions.currency") for t in paid if t.currency}
    if len(named) > 1:
        raise common.Unreadable(f"transactions: refunds in several currencies ({', '.join(sorted(named))})")
    currency = next(iter(named), shop)
    if shop is not None and currency != shop:
        parsed.ignored.append(
            f"{where}: transactions are in {currency}, not the shop's {shop}: counting the lines"
        )
        return _lines_amount(raw, shop, parsed, where)
    if not paid:
        return 0, currency
    if currency is None:
        raise common.Unreadable("transactions: no currency on the transactions or the refunded lines")
    amounts = (_minor(f"transactions.{i}.amount", t.amount, None, currency) or 0 for i, t in enumerate(paid))
    return sum(amounts), currency


def _shop_currency(raw: _Refund) -> str | None:
    sets = [s for line in raw.refund_line_items for s in (line.subtotal_set, line.total_tax_set)]
    codes = [s.shop_money.currency_code for s in [*sets, raw.total_duties_set] if s is not None]
    code = next((c for c in codes if c), None)
    return common.currency(code, "refund_line_items.subtotal_set.shop_money.currency_code") if code else None


def _lines_amount(raw: _Refund, shop: str | None, parsed: Parsed, where: str) -> tuple[int, str | None]:
    if not raw.refund_line_items:
        return 0, shop
    if shop is None:
        raise common.Unreadable("refund_line_items: no shop currency on the refunded lines")
    total = 0
    for i, line in enumerate(raw.refund_line_items):
        subtotal = _minor(f"refund_line_items.{i}.subtotal", line.subtotal, line.subtotal_set, shop)
        if subtotal is None:
            raise common.Unreadable(f"refund_line_items.{i}.subtotal is missing")
        tax = _minor(f"refund_line_items.{i}.total_tax", line.total_tax, line.total_tax_set, shop)
        total += subtotal + (tax or 0)
    parsed.ignored.append(
        f"{where}: no refund transactions: amount taken from the refunded lines (subtotal + tax)"
    )
    return total, shop


def _on_refund(topic: str, data: dict[str, Any], parsed: Parsed) -> None:
    try:
        raw = _Refund.model_validate(data)
        where = f"refund {raw.id}"
        processed_at = raw.processed_at or raw.created_at
        if processed_at is None:
            raise common.Unreadable("processed_at and created_at are both missing")
        amount, currency = _refund_amount(raw, parsed, where)
        parsed.commands.append(
            RecordRefund(
                order_external_id=str(raw.order_id),
                external_id=str(raw.id),
                processed_at=processed_at,
                amount_minor=amount,
                currency=currency,
                lines=tuple(
                    RefundLine(
                        line_external_id=str(line.line_item_id),
                        quantity=line.quantity,
                        restock_type=common.text(line.restock_type, 40),
                    )
                    for line in raw.refund_line_items
                ),
            )
        )
    except ValueError as exc:
        parsed.errors.append(f"{topic}: {common.reason(exc)}")


def _on_customer(topic: str, data: dict[str, Any], parsed: Parsed) -> None:
    try:
        raw = _Customer.model_validate(data)
    except ValidationError as exc:
        parsed.errors.append(f"{topic}: {common.reason(exc)}")
        return
    if raw.id is None:
        parsed.errors.append(f"{topic}: id is missing")
        return
    command = _customer(raw, parsed, f"customer {raw.id}: ")
    if command is None:
        parsed.errors.append(f"{topic} customer {raw.id}: could not be read")
        return
    parsed.commands.append(command)


# The topics Doorstep applies (subscribe to these), and those it acknowledges but deliberately skips.
TOPICS: dict[str, Callable[[str, dict[str, Any], Parsed], None]] = {
    "orders/create": _on_order,
    "orders/updated": _on_order,
    "orders/cancelled": _on_order,
    "orders/paid": _on_order,
    "orders/fulfilled": _on_order,
    "orders/partially_fulfilled": _on_order,
    "fulfillments/create": _on_fulfillment,
    "fulfillments/update": _on_fulfillment,
    "fulfillment_events/create": _on_fulfillment_event,
    "refunds/create": _on_refund,
    "customers/create": _on_customer,
    "customers/update": _on_customer,
}

_RETURNS = "returns are not applied yet; Doorstep's returns domain will own them"
IGNORED_TOPICS: dict[str, str] = {
    **{f"returns/{verb}": _RETURNS for verb in (
        "request", "approve", "decline", "cancel", "close", "reopen", "process", "update",
    )},
    "reverse_deliveries/attach_deliverable": "return shipping is not applied yet; it comes with returns",
    "reverse_fulfillment_orders/dispose": "return shipping is not applied yet; it comes with returns",
    "orders/edited": "the edited order follows as orders/updated, which is applied",
    "fulfillment_events/delete": "a withdrawn tracking event does not undo a scan already applied",
}  # fmt: skip


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get(f"x-{name}") or lowered.get(name)
    return value.strip() if value and value.strip() else None


class Shopify:
    name: str = NAME
    title: str = "Shopify"
    config_model: type[BaseModel] = Config
    status_map: Mapping[str, Mapped] = STATUS_MAP

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        if not isinstance(config, Config):
            return False
        given = _header(headers, "shopify-hmac-sha256")
        secret = config.webhook_secret.get_secret_value()
        if given is None or not secret:
            return False
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, given.encode()):
            return False
        if config.shop_domain:
            shop = _header(headers, "shopify-shop-domain") or ""
            return shop.lower() == config.shop_domain.strip().lower()
        return True

    def idempotency_key(self, headers: Mapping[str, str]) -> str | None:
        return _header(headers, "shopify-webhook-id")

    def topic(self, headers: Mapping[str, str]) -> str | None:
        found = _header(headers, "shopify-topic")
        return found.lower() if found else None

    def parse(self, topic: str, body: bytes) -> Parsed:
        key = topic.strip().lower()
        if key in IGNORED_TOPICS:
            return Parsed(ignored=[f"{key}: {IGNORED_TOPICS[key]}"])
        handler = TOPICS.get(key)
        if handler is None:
            raise Unsupported(f"Shopify topic {topic!r} is neither applied nor deliberately ignored")
        parsed = Parsed()
        handler(key, common.load(body), parsed)
        return parsed


SOURCE = Shopify()
