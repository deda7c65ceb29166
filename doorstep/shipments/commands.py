"""Typed inputs for shipments and checkpoints: the API's request bodies and what tracking adapters produce."""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from doorstep.core.fields import AwareDatetime, Country
from doorstep.shipments.status import Status, Substatus, is_valid_pair


class Direction(StrEnum):
    outbound = "outbound"
    # "return" is a Python keyword, hence the member name.
    return_ = "return"


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class CheckpointInput(_Command):
    occurred_at: AwareDatetime = Field(
        ..., description="The carrier's own time of the scan, with its offset."
    )
    status: Status
    substatus: Substatus | None = None
    raw_code: str | None = Field(None, max_length=100)
    message: str | None = Field(None, max_length=2000)
    city: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=200)
    postal_code: str | None = Field(None, max_length=40)
    country: Country | None = None

    @model_validator(mode="after")
    def _substatus_fits(self) -> "CheckpointInput":
        if not is_valid_pair(self.status, self.substatus):
            raise ValueError(f"substatus {self.substatus} does not belong to status {self.status}")
        return self


class ShipmentItemInput(_Command):
    line_item_id: str = Field(..., description="Public id of the order's line item (li_...).")
    quantity: int = Field(..., ge=1)


class CreateShipment(_Command):
    order_id: str | None = Field(None, description="The order this parcel belongs to (ord_...).")
    external_id: str | None = Field(None, max_length=100)
    carrier: str = Field(
        ..., min_length=1, max_length=40, description="Carrier slug, e.g. ups, fedex, usps, dhl."
    )
    service: str | None = Field(None, max_length=100)
    tracking_number: str = Field(..., min_length=3, max_length=100)
    tracking_url: str | None = Field(None, max_length=2000)
    direction: Direction = Direction.outbound
    items: tuple[ShipmentItemInput, ...] | None = Field(
        None, description="Items in the parcel; all of the order's items when omitted."
    )
    promised_on: date | None = None
    checkpoints: tuple[CheckpointInput, ...] = Field((), max_length=1000)


class UpdateShipment(_Command):
    service: str | None = Field(None, max_length=100)
    tracking_url: str | None = Field(None, max_length=2000)
    promised_on: date | None = None
    expected_on: date | None = None


class AddCheckpoints(_Command):
    checkpoints: tuple[CheckpointInput, ...] = Field(..., min_length=1, max_length=1000)


class ApplyTracking(_Command):
    """What a tracking source says about one parcel: who carries it and the scans so far.

    Matched to a shipment by tracking number (and carrier when known); an unknown number creates the
    shipment when ``order_ref`` names an order of the store, else it is kept unmatched until one does.
    """

    tracking_number: str = Field(..., min_length=1, max_length=100)
    carrier: str | None = Field(
        None, max_length=60, description="Carrier name or slug as the source gives it."
    )
    service: str | None = Field(None, max_length=100)
    checkpoints: tuple[CheckpointInput, ...] = Field((), max_length=5000)
    estimated_delivery_on: date | None = Field(None, description="The carrier's own expected delivery date.")
    order_ref: str | None = Field(
        None, max_length=100, description="The order's external id, if the source knows it."
    )
    direction: Direction = Direction.outbound
    signed_by: str | None = Field(None, max_length=200)


class FulfillmentLine(_Command):
    line_external_id: str = Field(..., max_length=100)
    quantity: int = Field(..., ge=1)


class UpsertFulfillment(_Command):
    """A commerce platform's fulfillment: one parcel per tracking number, attached to its order."""

    order_external_id: str = Field(..., max_length=100)
    external_id: str = Field(..., max_length=100)
    carrier: str | None = Field(None, max_length=60)
    service: str | None = Field(None, max_length=100)
    tracking_numbers: tuple[str, ...] = ()
    tracking_urls: tuple[str, ...] = ()
    lines: tuple[FulfillmentLine, ...] = ()
    shipped_at: AwareDatetime | None = None
    is_cancelled: bool = False


class ApplyFulfillmentEvent(_Command):
    """A platform's event on a fulfillment it told us about earlier (e.g. Shopify fulfillment_events)."""

    order_external_id: str = Field(..., max_length=100)
    fulfillment_external_id: str = Field(..., max_length=100)
    checkpoint: CheckpointInput
    estimated_delivery_on: date | None = None
