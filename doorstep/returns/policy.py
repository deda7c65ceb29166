"""A store's return policy as data (validated), and the pure rules that read it.

The policy is a JSON document per store (``return_policies.document``), validated by
:class:`ReturnPolicy`; a store without one uses :data:`DEFAULT_POLICY` (``default_policy.json``, the
documented example). Nothing here touches the database: :func:`evaluate_item` says whether one line
item can be returned and why not (a machine-readable code plus plain words), and :func:`quote` computes
the money of a proposed return in integer minor units. The service feeds both with facts it read.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Reason(StrEnum):
    """Why the shopper sends an item back (the taxonomy the portal offers)."""

    too_small = "too_small"
    too_big = "too_big"
    damaged = "damaged"
    not_as_described = "not_as_described"
    changed_mind = "changed_mind"
    arrived_late = "arrived_late"
    wrong_item = "wrong_item"
    other = "other"


class Resolution(StrEnum):
    """What the shopper gets back."""

    refund = "refund"  # to the original payment
    store_credit = "store_credit"
    exchange = "exchange"  # another variant; the replacement order ships now (instant exchange)
    keep = "keep"  # returnless refund: only when the keep-it rule applies


class Method(StrEnum):
    """How the item travels back."""

    label = "label"  # prepaid label PDF
    qr_dropoff = "qr_dropoff"  # boxless, printerless: a QR code shown at a drop-off point
    in_store = "in_store"
    none = "none"  # keep-it: nothing travels


class Condition(StrEnum):
    """The state an item must come back in."""

    any = "any"
    unused = "unused"
    unused_with_tags = "unused_with_tags"
    unopened = "unopened"


class Ineligible(StrEnum):
    """Machine-readable reasons an item cannot be returned (each has plain words in MESSAGES)."""

    final_sale = "final_sale"
    window_closed = "window_closed"
    already_returned = "already_returned"
    order_cancelled = "order_cancelled"
    not_returnable = "not_returnable"
    not_fulfilled = "not_fulfilled"


MESSAGES: dict[Ineligible, str] = {
    Ineligible.final_sale: "This item was a final sale, so it cannot be returned.",
    Ineligible.window_closed: "The return window for this item closed on {window_ends_on}.",
    Ineligible.already_returned: "Every unit of this item is already in a return.",
    Ineligible.order_cancelled: "This order was cancelled, so there is nothing to return.",
    Ineligible.not_returnable: "The store does not accept returns of this item.",
    Ineligible.not_fulfilled: "This item has not shipped yet; cancel it with the store instead.",
}


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Match(_Doc):
    """Which line items an override applies to: any listed product id, SKU, tag or collection."""

    product_ids: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    tags: tuple[str, ...] = Field((), description="Product tags (case-insensitive).")
    collections: tuple[str, ...] = Field(
        (), description="Collection handles, read from product tags of the form 'collection:<handle>'."
    )

    @model_validator(mode="after")
    def _not_empty(self) -> "Match":
        if not (self.product_ids or self.skus or self.tags or self.collections):
            raise ValueError("match needs at least one of product_ids, skus, tags or collections")
        return self


class Override(_Doc):
    """Rules for the items a ``match`` selects; unset fields keep the policy's own value."""

    name: str = Field(..., min_length=1, max_length=100, description="Shown to merchants, e.g. 'Swimwear'.")
    match: Match
    window_days: int | None = Field(None, ge=0, le=3650)
    is_returnable: bool | None = Field(None, description="false: these items can never be returned.")
    is_final_sale: bool | None = Field(None, description="true: treat as final sale.")
    is_exchange_only: bool | None = Field(None, description="true: only an exchange is offered.")
    condition: Condition | None = None


class Fees(_Doc):
    """Return fees in the order's minor units.

    A reason's fee replaces the method's for its items; the highest fee among the items is charged once.
    """

    by_method: dict[Method, int] = Field(default_factory=dict)
    by_reason: dict[Reason, int] = Field(default_factory=dict)
    waived_for_exchange: bool = Field(True, description="No fee when every item is exchanged.")
    free_for_tiers: tuple[str, ...] = Field(
        (), description="Loyalty tiers that return for free (hook: the order's 'tier:<name>' tag today)."
    )

    @model_validator(mode="after")
    def _non_negative(self) -> "Fees":
        for name, table in (("by_method", self.by_method), ("by_reason", self.by_reason)):
            for key, value in table.items():
                if value < 0:
                    raise ValueError(f"fees.{name}.{key} is negative; send 0 or more minor units")
        return self


class KeepIt(_Doc):
    """Returnless refunds: the shopper keeps the item when it is cheap or the reason says so."""

    max_item_value_minor: int | None = Field(
        None, ge=0, description="Keep items worth at most this (per unit, after discounts)."
    )
    reasons: tuple[Reason, ...] = Field((), description="Always keep-it for these reasons (e.g. damaged).")


class StoreCredit(_Doc):
    bonus_percent: int = Field(0, ge=0, le=100, description="Extra credit, in percent of the items' value.")
    bonus_max_minor: int | None = Field(None, ge=0, description="Cap on the bonus per return.")


class Approval(_Doc):
    auto_approve: bool = Field(True, description="Approve requests automatically when they pass the policy.")
    manual_above_minor: int | None = Field(
        None, ge=0, description="Hold requests worth more than this for a merchant's approval."
    )
    manual_for_reasons: tuple[Reason, ...] = Field((), description="Hold requests with these reasons.")


class ReturnAddress(_Doc):
    """Where return parcels go (printed on the return label). Added by returns-portal for the label."""

    name: str = Field(..., min_length=1, max_length=200)
    company: str | None = Field(None, max_length=200)
    line1: str = Field(..., min_length=1, max_length=300)
    line2: str | None = Field(None, max_length=300)
    city: str = Field(..., min_length=1, max_length=200)
    region: str | None = Field(None, max_length=200)
    postal_code: str | None = Field(None, max_length=40)
    country: str = Field(..., min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. US.")


class Claims(_Doc):
    """Package protection: when a claim can be filed and which are approved without a merchant."""

    delivered_not_received_after_hours: int = Field(
        48, ge=0, le=24 * 90, description="'Stolen' can be filed this long after a delivery scan."
    )
    file_within_days: int = Field(30, ge=1, le=365, description="Claims close this long after the order.")
    auto_approve_max_minor: int | None = Field(
        None, ge=0, description="Approve claims worth at most this automatically."
    )
    require_photos_for: tuple[Literal["damaged", "wrong_item"], ...] = ("damaged", "wrong_item")


class ReturnPolicy(_Doc):
    """A store's return policy. Every field has a safe default; see docs/returns.md."""

    version: Literal[1] = 1
    window_days: int = Field(30, ge=0, le=3650, description="Days to start a return.")
    window_starts: Literal["delivery", "order"] = Field(
        "delivery", description="Count from delivery (from the order while nothing was delivered) or order."
    )
    resolutions: tuple[Resolution, ...] = Field(
        (Resolution.refund, Resolution.store_credit, Resolution.exchange), min_length=1
    )
    methods: tuple[Method, ...] = Field((Method.label, Method.qr_dropoff), min_length=1)
    reasons: tuple[Reason, ...] = Field(tuple(Reason), min_length=1)
    condition: Condition = Condition.unused_with_tags
    final_sale_tags: tuple[str, ...] = Field(("final-sale",), description="Tags that mark final sale.")
    photos_required_for: tuple[Reason, ...] = (Reason.damaged, Reason.wrong_item)
    refund_shipping_for: tuple[Reason, ...] = Field(
        (Reason.damaged, Reason.wrong_item, Reason.not_as_described),
        description="Reasons that also refund the item's share of the original shipping.",
    )
    exchange_difference: Literal["refund", "store_credit"] = Field(
        "refund", description="Where money goes when the replacement costs less."
    )
    fees: Fees = Fees()
    keep_it: KeepIt = KeepIt()
    store_credit: StoreCredit = StoreCredit()
    approval: Approval = Approval()
    claims: Claims = Claims()
    return_address: ReturnAddress | None = Field(
        None, description="Printed on return labels; without it the portal offers no label download."
    )
    return_carrier: str | None = Field(None, max_length=40, description="Shown on the label, e.g. UPS.")
    auto_label: Literal["simulated"] | None = Field(
        None,
        description=(
            "Issue the return parcel on approval, tracked with the RMA as its number. Only Doorstep's simulated "
            "carrier (demo): real carriers' labels are bought elsewhere and attached with POST …/label."
        ),
    )
    overrides: tuple[Override, ...] = Field((), max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> "ReturnPolicy":
        if Resolution.keep in self.resolutions:
            raise ValueError("resolutions: 'keep' is offered by the keep_it rule, not listed here")
        if Method.none in self.methods:
            raise ValueError(
                "methods: 'none' is only for keep-it returns; list label, qr_dropoff or in_store"
            )
        return self


def _load_default() -> ReturnPolicy:
    text = resources.files("doorstep.returns").joinpath("default_policy.json").read_text()
    return ReturnPolicy.model_validate(json.loads(text))


DEFAULT_POLICY: ReturnPolicy = _load_default()


# --- eligibility --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemFacts:
    """What the service knows about one line item, read from the order and earlier returns."""

    line_item_id: str
    title: str
    product_id: str | None
    sku: str | None
    tags: tuple[str, ...]
    is_final_sale: bool
    quantity: int
    returned_quantity: int  # in returns that were not rejected
    shipped_quantity: int | None  # None: the order has no shipments recorded at all


@dataclass(frozen=True)
class ItemRules:
    """The policy as it applies to one item, after overrides."""

    window_days: int
    is_returnable: bool
    is_final_sale: bool
    is_exchange_only: bool
    condition: Condition
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class ItemEligibility:
    line_item_id: str
    eligible: bool
    returnable_quantity: int
    reason: Ineligible | None
    message: str | None
    window_ends_at: datetime | None
    resolutions: tuple[Resolution, ...]
    condition: Condition
    is_exchange_only: bool
    overrides: tuple[str, ...] = ()


def _matches(match: Match, item: ItemFacts) -> bool:
    tags = {t.casefold() for t in item.tags}
    return (
        (item.product_id is not None and item.product_id in match.product_ids)
        or (item.sku is not None and item.sku in match.skus)
        or any(t.casefold() in tags for t in match.tags)
        or any(f"collection:{c}".casefold() in tags for c in match.collections)
    )


def derive_rules(policy: ReturnPolicy, item: ItemFacts) -> ItemRules:
    """The policy for one item: overrides apply in order, a later one winning field by field."""
    window, returnable, exchange_only, condition = policy.window_days, True, False, policy.condition
    final_sale = item.is_final_sale or bool(
        {t.casefold() for t in policy.final_sale_tags} & {t.casefold() for t in item.tags}
    )
    applied: list[str] = []
    for rule in policy.overrides:
        if not _matches(rule.match, item):
            continue
        applied.append(rule.name)
        window = rule.window_days if rule.window_days is not None else window
        returnable = rule.is_returnable if rule.is_returnable is not None else returnable
        final_sale = final_sale or bool(rule.is_final_sale)
        exchange_only = rule.is_exchange_only if rule.is_exchange_only is not None else exchange_only
        condition = rule.condition or condition
    return ItemRules(window, returnable, final_sale, exchange_only, condition, tuple(applied))


def window_start(policy: ReturnPolicy, *, placed_at: datetime, delivered_at: datetime | None) -> datetime:
    if policy.window_starts == "delivery" and delivered_at is not None:
        return delivered_at
    return placed_at


def evaluate_item(
    policy: ReturnPolicy,
    item: ItemFacts,
    *,
    placed_at: datetime,
    delivered_at: datetime | None,
    is_cancelled: bool,
    now: datetime,
) -> ItemEligibility:
    """Can this item be returned now, how many units, and if not, why (code + plain words)."""
    rules = derive_rules(policy, item)
    ends = window_start(policy, placed_at=placed_at, delivered_at=delivered_at) + timedelta(
        days=rules.window_days
    )
    resolutions = (Resolution.exchange,) if rules.is_exchange_only else policy.resolutions
    remaining = max(item.quantity - item.returned_quantity, 0)
    reason: Ineligible | None = None
    if is_cancelled:
        reason = Ineligible.order_cancelled
    elif not rules.is_returnable:
        reason = Ineligible.not_returnable
    elif rules.is_final_sale:
        reason = Ineligible.final_sale
    elif item.shipped_quantity == 0:
        reason = Ineligible.not_fulfilled
    elif remaining == 0:
        reason = Ineligible.already_returned
    elif now > ends:
        reason = Ineligible.window_closed
    if reason is not None:
        message = MESSAGES[reason].format(window_ends_on=f"{ends:%B %-d, %Y}")
        return ItemEligibility(
            item.line_item_id, False, 0, reason, message, ends, (), rules.condition,
            rules.is_exchange_only, rules.overrides,
        )  # fmt: skip
    return ItemEligibility(
        item.line_item_id, True, remaining, None, None, ends, resolutions, rules.condition,
        rules.is_exchange_only, rules.overrides,
    )  # fmt: skip


# --- money --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedLine:
    """One order line's money, as recorded on the order (minor units)."""

    line_item_id: str
    title: str
    quantity: int
    unit_price_minor: int
    discount_minor: int  # on the whole line


@dataclass(frozen=True)
class OrderMoney:
    currency: str
    subtotal_minor: int  # lines less line discounts
    discount_minor: int  # order-level
    shipping_minor: int
    tax_minor: int
    total_minor: int
    refunded_minor: int  # already refunded on the platform
    committed_minor: int  # refunds promised by open returns not yet recorded as refunds


@dataclass(frozen=True)
class ProposedItem:
    line: PricedLine
    quantity: int
    reason: Reason
    exchange_unit_price_minor: int | None = None  # the replacement's price (server-side), if exchanging


@dataclass(frozen=True)
class QuoteLine:
    line_item_id: str
    title: str
    quantity: int
    reason: Reason
    unit_price_minor: int  # list price of one unit
    value_minor: int  # what these units cost the shopper: price less discounts, plus tax and shipping share
    tax_minor: int
    shipping_minor: int
    exchange_minor: int  # the replacements' price (0 unless exchanging)
    is_keep_it: bool


@dataclass(frozen=True)
class Quote:
    """The money of one proposed return, all in minor units of ``currency``.

    ``refund_minor`` goes back to the original payment, ``credit_minor`` onto a store-credit code, and
    ``charge_minor`` is what the shopper pays for a dearer exchange. ``total_minor`` is what the shopper
    receives in value (refund + credit), the figure shown before confirming.
    """

    currency: str
    resolution: Resolution
    lines: tuple[QuoteLine, ...]
    items_minor: int
    fee_minor: int
    fee_reason: str | None
    fee_waived_reason: str | None
    bonus_minor: int
    exchange_minor: int
    exchange_difference_minor: int  # replacement minus returned value (> 0: shopper pays)
    refund_minor: int
    credit_minor: int
    charge_minor: int
    total_minor: int
    is_keep_it: bool
    notes: tuple[str, ...] = field(default=())


def _share(amount: int, part: int, whole: int) -> int:
    """``amount * part / whole`` rounded down, so shares of one amount never add up past it."""
    return amount * part // whole if whole > 0 else 0


def derive_value(
    money: OrderMoney, line: PricedLine, quantity: int, reason: Reason, policy: ReturnPolicy
) -> tuple[int, int, int]:
    """(value, tax share, shipping share) paid for ``quantity`` units of ``line``, rounded down."""
    line_net = line.unit_price_minor * line.quantity - line.discount_minor
    units_net = _share(line_net, quantity, line.quantity)
    # Order-level discounts and tax are spread over lines by their net value.
    after_discount = units_net - _share(money.discount_minor, units_net, money.subtotal_minor)
    tax = _share(money.tax_minor, units_net, money.subtotal_minor)
    shipping = (
        _share(money.shipping_minor, units_net, money.subtotal_minor)
        if reason in policy.refund_shipping_for
        else 0
    )
    return max(after_discount, 0) + tax + shipping, tax, shipping


def is_keep_it(policy: ReturnPolicy, item: ProposedItem, unit_value_minor: int) -> bool:
    rule = policy.keep_it
    if item.reason in rule.reasons:
        return True
    return rule.max_item_value_minor is not None and unit_value_minor <= rule.max_item_value_minor


def quote(
    policy: ReturnPolicy,
    money: OrderMoney,
    items: list[ProposedItem],
    *,
    resolution: Resolution,
    method: Method,
    tier: str | None = None,
) -> Quote:
    """The refund breakdown of a proposed return. Pure: the same facts always give the same quote.

    The refund is capped so that, with earlier refunds and open returns, it never passes what was paid.
    """
    lines: list[QuoteLine] = []
    for item in items:
        value, tax, shipping = derive_value(money, item.line, item.quantity, item.reason, policy)
        keep = resolution is Resolution.keep or (
            resolution is Resolution.refund and is_keep_it(policy, item, value // max(item.quantity, 1))
        )
        exchange = (
            (item.exchange_unit_price_minor or 0) * item.quantity if resolution is Resolution.exchange else 0
        )
        lines.append(
            QuoteLine(
                item.line.line_item_id, item.line.title, item.quantity, item.reason,
                item.line.unit_price_minor, value, tax, shipping, exchange, keep,
            )
        )  # fmt: skip
    items_minor = sum(line.value_minor for line in lines)
    all_kept = bool(lines) and all(line.is_keep_it for line in lines)
    notes: list[str] = []

    fee, fee_reason, waived = 0, None, None
    # A reason listed in fees.by_reason sets the fee for its items (0: free, e.g. damaged); other items
    # pay the method's fee. The return pays the highest of its items' fees, once.
    candidates: list[tuple[int, str | None]] = [
        (policy.fees.by_reason[line.reason], f"reason:{line.reason.value}")
        if line.reason in policy.fees.by_reason
        else (policy.fees.by_method.get(method, 0), f"method:{method.value}")
        for line in lines
    ] or [(0, None)]
    best = max(candidates, key=lambda c: c[0])
    if best[0] > 0:
        if all_kept:
            waived = "keep_it"
        elif resolution is Resolution.exchange and policy.fees.waived_for_exchange:
            waived = "exchange"
        elif tier is not None and tier.casefold() in {t.casefold() for t in policy.fees.free_for_tiers}:
            waived = f"tier:{tier}"
        else:
            fee, fee_reason = best
    fee = min(fee, items_minor)

    bonus = exchange_minor = difference = refund = credit = charge = 0
    if resolution is Resolution.store_credit:
        bonus = items_minor * policy.store_credit.bonus_percent // 100
        if policy.store_credit.bonus_max_minor is not None:
            bonus = min(bonus, policy.store_credit.bonus_max_minor)
        credit = items_minor - fee + bonus
    elif resolution is Resolution.exchange:
        exchange_minor = sum(line.exchange_minor for line in lines)
        difference = exchange_minor - (items_minor - fee)
        if difference > 0:
            charge = difference
        elif policy.exchange_difference == "store_credit":
            credit = -difference
        else:
            refund = -difference
    else:  # refund or keep
        refund = items_minor - fee

    # Never promise back more than is left of what was paid (earlier refunds and open returns count).
    left = max(money.total_minor - money.refunded_minor - money.committed_minor, 0)
    if refund > left:
        notes.append(f"refund capped at {left}: the rest of the order was already refunded")
        refund = left
    return Quote(
        money.currency, resolution, tuple(lines), items_minor, fee, fee_reason, waived, bonus,
        exchange_minor, difference, refund, credit, charge, refund + credit, all_kept, tuple(notes),
    )  # fmt: skip
