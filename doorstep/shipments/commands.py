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
