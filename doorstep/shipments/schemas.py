from datetime import date, datetime

from pydantic import BaseModel

from doorstep.shipments.models import Checkpoint, Shipment


class CheckpointRead(BaseModel):
    id: str
    occurred_at: datetime
    utc_offset: str | None
    status: str
    substatus: str | None
    raw_code: str | None
    message: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    source: str

    @classmethod
    def of(cls, cp: Checkpoint) -> "CheckpointRead":
        return cls(
            id=cp.public_id,
            occurred_at=cp.occurred_at,
            utc_offset=cp.utc_offset,
            status=cp.status,
            substatus=cp.substatus,
            raw_code=cp.raw_code,
            message=cp.raw_message,
            city=cp.city,
            region=cp.region,
            postal_code=cp.postal_code,
            country=cp.country,
            source=cp.source,
        )


class ShipmentItemRead(BaseModel):
    line_item_id: str
    quantity: int


class ShipmentRead(BaseModel):
    id: str
    order_id: str | None
    external_id: str | None
    carrier: str
    service: str | None
    tracking_number: str
    tracking_url: str | None
    direction: str
    status: str
    substatus: str | None
    status_changed_at: datetime | None
    last_checkpoint_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    promised_on: date | None
    expected_on: date | None
    items: list[ShipmentItemRead]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, shipment: Shipment) -> "ShipmentRead":
        return cls(
            id=shipment.public_id,
            order_id=shipment.order.public_id if shipment.order else None,
            external_id=shipment.external_id,
            carrier=shipment.carrier,
            service=shipment.service,
            tracking_number=shipment.tracking_number,
            tracking_url=shipment.tracking_url,
            direction=shipment.direction,
            status=shipment.status,
            substatus=shipment.substatus,
            status_changed_at=shipment.status_changed_at,
            last_checkpoint_at=shipment.last_checkpoint_at,
            shipped_at=shipment.shipped_at,
            delivered_at=shipment.delivered_at,
            promised_on=shipment.promised_on,
            expected_on=shipment.expected_on,
            items=[
                ShipmentItemRead(line_item_id=i.line_item.public_id, quantity=i.quantity)
                for i in shipment.items
            ],
            created_at=shipment.created_at,
            updated_at=shipment.updated_at,
        )


class ShipmentPage(BaseModel):
    data: list[ShipmentRead]
    next_cursor: str | None


class CheckpointsApplied(BaseModel):
    """What posting checkpoints did: the shipment after, how many scans were new, milestones crossed."""

    shipment: ShipmentRead
    added: int
    duplicates: int
    milestones: list[str]


class CheckpointPage(BaseModel):
    data: list[CheckpointRead]
