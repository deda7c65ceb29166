"""Typed inputs for orders: the API's request bodies and what commerce adapters produce."""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from doorstep.core.fields import AwareDatetime, Country, Currency, Phone
from doorstep.customers.commands import UpsertCustomer


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Address(_Command):
    name: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    line1: str | None = Field(None, max_length=300)
    line2: str | None = Field(None, max_length=300)
    city: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=200, description="State, province or region code.")
    postal_code: str | None = Field(None, max_length=40)
    country: Country
    phone: Phone | None = None


class LineItemInput(_Command):
    external_id: str | None = Field(None, max_length=100)
    product_id: str | None = Field(None, max_length=100)
    variant_id: str | None = Field(None, max_length=100)
    sku: str | None = Field(None, max_length=100)
    title: str = Field(..., min_length=1, max_length=500)
    variant_title: str | None = Field(None, max_length=500)
    quantity: int = Field(..., ge=1, le=100_000)
    unit_price_minor: int = Field(..., ge=0, description="Price of one unit in minor units (cents).")
    discount_minor: int = Field(0, ge=0, description="Discount on the whole line in minor units.")
    image_url: str | None = Field(None, max_length=2000)
    product_tags: tuple[str, ...] = ()
    is_final_sale: bool = False

    @model_validator(mode="after")
    def _discount_within_line(self) -> "LineItemInput":
        if self.discount_minor > self.unit_price_minor * self.quantity:
            raise ValueError("discount_minor exceeds the line's price times quantity")
        return self


class CreateOrder(_Command):
    external_id: str | None = Field(None, max_length=100, description="The order's id on your platform.")
    number: str = Field(..., min_length=1, max_length=64, description="Order number the shopper sees.")
    placed_at: AwareDatetime
    currency: Currency
    customer: UpsertCustomer | None = None
    line_items: tuple[LineItemInput, ...] = Field(..., min_length=1, max_length=1000)
    shipping_minor: int = Field(0, ge=0)
    tax_minor: int = Field(0, ge=0)
    discount_minor: int = Field(0, ge=0, description="Order-level discount in minor units.")
    total_minor: int | None = Field(
        None, ge=0, description="Total charged; computed from lines, shipping, tax and discounts if omitted."
    )
    shipping_address: Address | None = None
    tags: tuple[str, ...] = Field((), max_length=250)
    note: str | None = Field(None, max_length=5000)
    source: str = Field("api", max_length=32)


class UpdateOrder(_Command):
    number: str | None = Field(None, min_length=1, max_length=64)
    customer: UpsertCustomer | None = None
    shipping_address: Address | None = None
    tags: tuple[str, ...] | None = Field(None, max_length=250)
    note: str | None = Field(None, max_length=5000)


class CancelOrder(_Command):
    reason: str | None = Field(None, max_length=200)
    cancelled_at: AwareDatetime | None = None


class UpsertOrder(CreateOrder):
    """An order as a commerce platform last described it: created when new, else updated in place.

    Matched by ``external_id`` within the store; its lines are matched by their own ``external_id``.
    A ``cancelled_at`` cancels the order once; an upsert never un-cancels it.
    """

    external_id: str = Field(
        ..., min_length=1, max_length=100, description="The order's id on your platform."
    )
    cancelled_at: AwareDatetime | None = None
    cancel_reason: str | None = Field(None, max_length=200)
    source: str = Field("commerce", max_length=32)

    @model_validator(mode="after")
    def _lines_are_matchable(self) -> "UpsertOrder":
        seen: set[str] = set()
        for index, line in enumerate(self.line_items):
            if not line.external_id:
                raise ValueError(f"line_items.{index}.external_id is required to match lines on update")
            if line.external_id in seen:
                raise ValueError(f"line_items.{index}.external_id {line.external_id!r} appears twice")
            seen.add(line.external_id)
        return self


class CancelOrderByRef(_Command):
    """Cancel the order a platform knows by ``external_id`` (when the full order is not at hand)."""

    external_id: str = Field(..., min_length=1, max_length=100)
    reason: str | None = Field(None, max_length=200)
    cancelled_at: AwareDatetime | None = None


class RefundLine(_Command):
    line_external_id: str = Field(..., min_length=1, max_length=100)
    quantity: int = Field(..., ge=0, le=100_000)
    restock_type: str | None = Field(None, max_length=40, description="e.g. no_restock, cancel, return.")


class RecordRefund(_Command):
    """Money a platform returned to the shopper for an order; recorded once per refund ``external_id``."""

    order_external_id: str = Field(..., min_length=1, max_length=100)
    external_id: str = Field(
        ..., min_length=1, max_length=100, description="The refund's id on the platform."
    )
    processed_at: AwareDatetime
    amount_minor: int = Field(..., ge=0, description="Amount returned, in minor units of the currency.")
    currency: Currency | None = Field(
        None, description="Must be the order's currency; the order's when omitted."
    )
    lines: tuple[RefundLine, ...] = Field((), max_length=1000)
