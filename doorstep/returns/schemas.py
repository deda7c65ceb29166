"""Response shapes for returns, claims, store credit, the policy and return analytics."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from doorstep.returns.models import Claim, ReturnItem, ReturnRefund, ReturnRequest, StoreCredit
from doorstep.returns.policy import ItemEligibility, Quote, ReturnPolicy


class ReturnItemRead(BaseModel):
    line_item_id: str
    title: str
    quantity: int
    reason: str
    comment: str | None
    photos: list[str]
    value_minor: int
    is_keep_it: bool
    exchange_variant_id: str | None
    exchange_title: str | None
    exchange_unit_price_minor: int | None
    accepted_quantity: int | None
    inspection_note: str | None

    @classmethod
    def of(cls, item: ReturnItem) -> "ReturnItemRead":
        return cls(
            line_item_id=item.line_item.public_id, title=item.line_item.title, quantity=item.quantity,
            reason=item.reason, comment=item.comment, photos=list(item.photos or []), value_minor=item.value_minor,
            is_keep_it=item.is_keep_it, exchange_variant_id=item.exchange_variant_id,
            exchange_title=item.exchange_title, exchange_unit_price_minor=item.exchange_unit_price_minor,
            accepted_quantity=item.accepted_quantity, inspection_note=item.inspection_note,
        )  # fmt: skip


class ReturnRead(BaseModel):
    id: str
    order_id: str
    rma: str
    status: str
    resolution: str
    method: str
    outcome: str | None
    source: str
    currency: str
    items_minor: int
    fee_minor: int
    bonus_minor: int
    exchange_minor: int
    refund_minor: int
    credit_minor: int
    charge_minor: int
    is_keep_it: bool
    quote: dict[str, Any]
    comment: str | None
    merchant_note: str | None
    rejected_reason: str | None
    rejected_message: str | None
    portal_path: str
    items: list[ReturnItemRead]
    requested_at: datetime
    approved_at: datetime | None
    label_issued_at: datetime | None
    in_transit_at: datetime | None
    received_at: datetime | None
    inspected_at: datetime | None
    resolved_at: datetime | None
    rejected_at: datetime | None

    @classmethod
    def of(cls, r: ReturnRequest) -> "ReturnRead":
        return cls(
            id=r.public_id, order_id=r.order.public_id, rma=r.rma, status=r.status, resolution=r.resolution,
            method=r.method, outcome=r.outcome, source=r.source, currency=r.currency, items_minor=r.items_minor,
            fee_minor=r.fee_minor, bonus_minor=r.bonus_minor, exchange_minor=r.exchange_minor,
            refund_minor=r.refund_minor, credit_minor=r.credit_minor, charge_minor=r.charge_minor,
            is_keep_it=r.is_keep_it, quote=r.quote, comment=r.comment, merchant_note=r.merchant_note,
            rejected_reason=r.rejected_reason, rejected_message=r.rejected_message, portal_path=f"/r/{r.token}",
            items=[ReturnItemRead.of(i) for i in r.items], requested_at=r.requested_at, approved_at=r.approved_at,
            label_issued_at=r.label_issued_at, in_transit_at=r.in_transit_at, received_at=r.received_at,
            inspected_at=r.inspected_at, resolved_at=r.resolved_at, rejected_at=r.rejected_at,
        )  # fmt: skip


class ReturnPage(BaseModel):
    data: list[ReturnRead]
    next_cursor: str | None


class QuoteRead(BaseModel):
    currency: str
    resolution: str
    lines: list[dict[str, Any]]
    items_minor: int
    fee_minor: int
    fee_reason: str | None
    fee_waived_reason: str | None
    bonus_minor: int
    exchange_minor: int
    exchange_difference_minor: int
    refund_minor: int
    credit_minor: int
    charge_minor: int
    total_minor: int
    is_keep_it: bool
    notes: list[str]

    @classmethod
    def of(cls, quote: Quote) -> "QuoteRead":
        data = asdict(quote)
        data["lines"] = [line | {"reason": str(line["reason"])} for line in data["lines"]]
        data["notes"] = list(quote.notes)
        data["resolution"] = quote.resolution.value
        return cls.model_validate(data)


class ItemEligibilityRead(BaseModel):
    line_item_id: str
    eligible: bool
    returnable_quantity: int
    reason: str | None
    message: str | None
    window_ends_at: datetime | None
    resolutions: list[str]
    condition: str
    is_exchange_only: bool
    overrides: list[str]

    @classmethod
    def of(cls, e: ItemEligibility) -> "ItemEligibilityRead":
        return cls(
            line_item_id=e.line_item_id, eligible=e.eligible, returnable_quantity=e.returnable_quantity,
            reason=e.reason.value if e.reason else None, message=e.message, window_ends_at=e.window_ends_at,
            resolutions=[r.value for r in e.resolutions], condition=e.condition.value,
            is_exchange_only=e.is_exchange_only, overrides=list(e.overrides),
        )  # fmt: skip


class EligibilityRead(BaseModel):
    order_id: str
    currency: str
    delivered_at: datetime | None
    items: list[ItemEligibilityRead]
    resolutions: list[str]
    methods: list[str]
    keep_it_line_ids: list[str]


class PolicyRead(BaseModel):
    revision: int
    is_default: bool
    policy: ReturnPolicy


class RefundRead(BaseModel):
    id: str
    amount_minor: int
    currency: str
    channel: str
    status: str
    attempts: int
    external_id: str | None
    last_error: str | None
    succeeded_at: datetime | None

    @classmethod
    def of(cls, r: ReturnRefund) -> "RefundRead":
        return cls(
            id=r.public_id, amount_minor=r.amount_minor, currency=r.currency, channel=r.channel, status=r.status,
            attempts=r.attempts, external_id=r.external_id, last_error=r.last_error, succeeded_at=r.succeeded_at,
        )  # fmt: skip


class ClaimRead(BaseModel):
    id: str
    order_id: str
    kind: str
    status: str
    preferred_resolution: str
    resolution: str | None
    description: str | None
    evidence: list[str]
    items: list[dict[str, Any]]
    currency: str
    amount_minor: int
    is_auto_approved: bool
    decided_reason: str | None
    filed_at: datetime
    decided_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, c: Claim) -> "ClaimRead":
        return cls(
            id=c.public_id, order_id=c.order.public_id, kind=c.kind, status=c.status,
            preferred_resolution=c.preferred_resolution, resolution=c.resolution, description=c.description,
            evidence=list(c.evidence or []), items=list(c.items or []), currency=c.currency,
            amount_minor=c.amount_minor, is_auto_approved=c.is_auto_approved, decided_reason=c.decided_reason,
            filed_at=c.filed_at, decided_at=c.decided_at, resolved_at=c.resolved_at,
        )  # fmt: skip


class ClaimPage(BaseModel):
    data: list[ClaimRead]
    next_cursor: str | None


class ClaimOptionRead(BaseModel):
    kind: str
    allowed: bool
    reason: str | None
    message: str | None
    available_at: datetime | None


class StoreCreditRead(BaseModel):
    id: str
    code_last4: str
    currency: str
    balance_minor: int
    entries: list[dict[str, Any]]

    @classmethod
    def of(cls, c: StoreCredit) -> "StoreCreditRead":
        entries = [
            {"kind": e.kind, "amount_minor": e.amount_minor, "balance_after_minor": e.balance_after_minor,
             "reference": e.reference, "created_at": e.created_at.isoformat()}
            for e in c.entries
        ]  # fmt: skip
        return cls(
            id=c.public_id,
            code_last4=c.code_last4,
            currency=c.currency,
            balance_minor=c.balance_minor,
            entries=entries,
        )


class RateRow(BaseModel):
    key: str
    title: str | None
    units_sold: int
    units_returned: int
    rate: float  # a ratio for display; money stays in minor units


class ReasonRow(BaseModel):
    reason: str
    units: int
    share: float


class ReturnAnalytics(BaseModel):
    currency: str | None
    returns: int
    units_sold: int
    units_returned: int
    return_rate: float
    by_product: list[RateRow]
    by_reason: list[ReasonRow]
    resolution_share: dict[str, float]
    refunded_minor: int
    credited_minor: int
    exchanged_minor: int
    revenue_retained_minor: int
