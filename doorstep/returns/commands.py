"""Typed inputs for returns and claims: what the portal and the merchant API hand the service.

Prices and totals are never inputs: the server computes every amount from the order and the policy.
Models forbid unknown fields, so a form that smuggles ``unit_price_minor`` or ``refund_minor`` in is
refused with a problem naming that field. ``expected_total_minor`` is the one money field a client may
send: the total it showed the shopper, checked against the server's own (a mismatch changes nothing).
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from doorstep.returns.policy import Method, Reason, Resolution, ReturnPolicy


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


PhotoRef = str  # a reference to an uploaded photo (the portal's upload id or storage key)


class ReturnItemInput(_Command):
    line_item_id: str = Field(..., min_length=1, max_length=40, description="The order's line item (li_...).")
    quantity: int = Field(..., ge=1, le=100_000)
    reason: Reason
    comment: str | None = Field(None, max_length=1000)
    photos: tuple[PhotoRef, ...] = Field((), max_length=5, description="References to uploaded photos.")
    exchange_variant_id: str | None = Field(
        None, max_length=100, description="The variant wanted instead (exchanges); see exchange options."
    )


class ProposeReturn(_Command):
    """A return as the shopper composes it: enough to check eligibility and quote the money."""

    items: tuple[ReturnItemInput, ...] = Field(..., min_length=1, max_length=100)
    resolution: Resolution
    method: Method = Method.label

    @model_validator(mode="after")
    def _one_entry_per_line(self) -> "ProposeReturn":
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            if item.line_item_id in seen:
                raise ValueError(
                    f"items.{index}.line_item_id {item.line_item_id!r} appears twice; send one entry with the total quantity"
                )
            seen.add(item.line_item_id)
            if self.resolution is Resolution.exchange and not item.exchange_variant_id:
                raise ValueError(f"items.{index}.exchange_variant_id is required for an exchange")
        return self


class CreateReturn(ProposeReturn):
    """Open a return. Sending the same request twice (same key, or same content while open) is safe."""

    comment: str | None = Field(None, max_length=2000)
    idempotency_key: str | None = Field(
        None, max_length=255, description="Any unique string per submission (the portal's form nonce)."
    )
    expected_total_minor: int | None = Field(
        None, ge=0, description="The total the client showed; refused if it differs from the server's quote."
    )


class ApproveReturn(_Command):
    note: str | None = Field(None, max_length=2000)


class RejectionReason(StrEnum):
    outside_policy = "outside_policy"
    condition_not_met = "condition_not_met"
    not_received = "not_received"
    suspected_fraud = "suspected_fraud"
    other = "other"


class RejectReturn(_Command):
    reason: RejectionReason
    message: str = Field(..., min_length=1, max_length=1000, description="Plain words shown to the shopper.")


class IssueLabel(_Command):
    """Attach the return parcel: the carrier and tracking number the label was bought with."""

    carrier: str = Field(..., min_length=1, max_length=40)
    tracking_number: str = Field(..., min_length=3, max_length=100)
    service: str | None = Field(None, max_length=100)
    tracking_url: str | None = Field(None, max_length=2000)


class ReceiveReturn(_Command):
    note: str | None = Field(None, max_length=2000)


class InspectedItem(_Command):
    line_item_id: str = Field(..., min_length=1, max_length=40)
    accepted_quantity: int = Field(
        ..., ge=0, description="Units that came back in the condition the policy asks."
    )
    note: str | None = Field(None, max_length=1000)


class InspectReturn(_Command):
    """What came back: per item, how many units passed inspection (the rest are not refunded)."""

    items: tuple[InspectedItem, ...] = Field((), max_length=100)
    note: str | None = Field(None, max_length=2000)


class ResolveReturn(_Command):
    """Settle a return as quoted (refund, credit, exchange or keep), scaled to what passed inspection."""

    note: str | None = Field(None, max_length=2000)


class UpdatePolicy(ReturnPolicy):
    """PUT body: a whole policy document (see docs/returns.md)."""


class ClaimKind(StrEnum):
    lost = "lost"
    damaged = "damaged"
    stolen = "stolen"
    wrong_item = "wrong_item"


class ClaimResolution(StrEnum):
    reship = "reship"
    refund = "refund"


class ClaimItemInput(_Command):
    line_item_id: str = Field(..., min_length=1, max_length=40)
    quantity: int = Field(..., ge=1, le=100_000)


class FileClaim(_Command):
    shipment_id: str = Field(..., min_length=1, max_length=40, description="The parcel (shp_...).")
    kind: ClaimKind
    preferred_resolution: ClaimResolution = ClaimResolution.reship
    description: str | None = Field(None, max_length=2000)
    evidence: tuple[PhotoRef, ...] = Field((), max_length=5, description="References to uploaded photos.")
    items: tuple[ClaimItemInput, ...] = Field(
        (), max_length=100, description="Affected items; the whole parcel when empty."
    )
    idempotency_key: str | None = Field(None, max_length=255)


class DecideClaim(_Command):
    approve: bool
    resolution: ClaimResolution | None = Field(None, description="Defaults to the shopper's preference.")
    reason: str | None = Field(None, max_length=1000)


class RedeemCredit(_Command):
    code: str = Field(..., min_length=8, max_length=64)
    amount_minor: int = Field(..., ge=1)
    reference: str = Field(
        ..., min_length=1, max_length=100, description="Your order or cart id; a repeat is not charged twice."
    )


# --- merchant API bodies: the same inputs, naming the order ---------------------------------------------


class QuoteReturnForOrder(ProposeReturn):
    order_id: str = Field(..., min_length=1, max_length=40, description="The order (ord_...).")


class CreateReturnForOrder(CreateReturn):
    order_id: str = Field(..., min_length=1, max_length=40, description="The order (ord_...).")


class FileClaimForOrder(FileClaim):
    order_id: str = Field(..., min_length=1, max_length=40, description="The order (ord_...).")


class RetryRefund(_Command):
    """No fields: send a failed refund again."""


class RefundLineInput(_Command):
    line_external_id: str = Field(
        ..., min_length=1, max_length=100, description="The platform's line item id."
    )
    quantity: int = Field(..., ge=0, le=100_000)
    restock: bool = Field(True, description="False for keep-it items: nothing comes back to stock.")


class IssueRefund(_Command):
    """What a refund adapter is asked to do on the store's platform (built by the worker, never by a client)."""

    refund_id: str = Field(
        ..., description="Doorstep's refund id (rrf_...): the idempotency key on the platform."
    )
    order_external_id: str | None = Field(None, description="The order's id on the platform.")
    order_id: str = Field(..., description="Doorstep's order id (ord_...).")
    return_id: str | None = None
    rma: str | None = None
    amount_minor: int = Field(..., ge=0)
    currency: str = Field(..., min_length=3, max_length=3)
    lines: tuple[RefundLineInput, ...] = ()
    note: str | None = Field(None, max_length=500)
