"""What adapters hand the bulk writer: one frozen draft per thing to import, already validated.

Money is in minor units, times are aware (in the zone they happened in), statuses are the one taxonomy.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from doorstep.shipments.status import Status


@dataclass(frozen=True, slots=True)
class CategoryDraft:
    external_id: str
    name: str
    source_name: str | None = None


@dataclass(frozen=True, slots=True)
class ProductDraft:
    external_id: str
    category_ref: str | None
    title: str | None = None
    weight_g: int | None = None
    length_cm: int | None = None
    height_cm: int | None = None
    width_cm: int | None = None
    photos: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SellerDraft:
    external_id: str
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class CustomerDraft:
    """Matched by external id, else by e-mail, within the store."""

    external_id: str | None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def key(self) -> tuple[str, str] | None:
        if self.external_id:
            return ("external_id", self.external_id)
        if self.email:
            return ("email", self.email)
        return None


@dataclass(frozen=True, slots=True)
class LineDraft:
    external_id: str
    title: str
    quantity: int
    unit_price_minor: int
    discount_minor: int = 0
    product_id: str | None = None
    sku: str | None = None
    variant_title: str | None = None
    seller_ref: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    sequence: int
    method: str
    installments: int
    amount_minor: int
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class ScanDraft:
    """One checkpoint; ``occurred_at`` is aware, in the zone it happened in (its offset is kept)."""

    occurred_at: datetime
    status: Status
    raw_code: str
    message: str
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class ShipmentDraft:
    carrier: str
    tracking_number: str
    scans: tuple[ScanDraft, ...]
    promised_on: date | None = None
    service: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewDraft:
    external_id: str
    score: int
    title: str | None
    message: str | None
    reviewed_at: datetime | None
    answered_at: datetime | None
    raw: dict[str, str]


@dataclass(frozen=True, slots=True)
class OrderDraft:
    external_id: str
    number: str
    placed_at: datetime
    currency: str
    lines: tuple[LineDraft, ...]
    customer: CustomerDraft | None = None
    shipping_minor: int = 0
    tax_minor: int = 0
    discount_minor: int = 0
    total_minor: int | None = None
    shipping_address: dict[str, str] | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    payments: tuple[PaymentDraft, ...] = ()
    shipment: ShipmentDraft | None = None
    reviews: tuple[ReviewDraft, ...] = ()
