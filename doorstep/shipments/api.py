"""/api/v1/shipments and their checkpoints."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from doorstep.db import transaction
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import AddCheckpoints, CreateShipment, UpdateShipment
from doorstep.shipments.schemas import (
    CheckpointPage,
    CheckpointRead,
    CheckpointsApplied,
    ShipmentPage,
    ShipmentRead,
)
from doorstep.shipments.status import Status
from doorstep.web.deps import AppSettings, CurrentStore, Cursor, Db, IdempotencyKey, Limit, RawBody
from doorstep.web.idempotency import json_body, submit_write

router = APIRouter(prefix="/shipments", tags=["shipments"])


@router.post(
    "", status_code=201, openapi_extra=json_body(CreateShipment), responses={201: {"model": ShipmentRead}}
)
def create_shipment(
    request: Request,
    db: Db,
    settings: AppSettings,
    store: CurrentStore,
    body: RawBody,
    key: IdempotencyKey = None,
) -> Response:
    """Create a parcel for an order; items default to the whole order; scans may be sent along."""
    return submit_write(request, db, settings, store, "shipments.create", body, key)


@router.patch(
    "/{shipment_id}", openapi_extra=json_body(UpdateShipment), responses={200: {"model": ShipmentRead}}
)
def update_shipment(
    shipment_id: str, request: Request, db: Db, settings: AppSettings, store: CurrentStore, body: RawBody,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """Update service, tracking URL, promised or expected delivery date."""
    return submit_write(request, db, settings, store, "shipments.update", body, key, shipment_id=shipment_id)


@router.post(
    "/{shipment_id}/checkpoints",
    status_code=201,
    openapi_extra=json_body(AddCheckpoints),
    responses={201: {"model": CheckpointsApplied}},
)
def add_checkpoints(
    shipment_id: str, request: Request, db: Db, settings: AppSettings, store: CurrentStore, body: RawBody,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """Add carrier scans. Duplicates are ignored; status is re-derived from all scans by carrier time."""
    return submit_write(
        request, db, settings, store, "checkpoints.create", body, key, shipment_id=shipment_id
    )


@router.get("/{shipment_id}")
def get_shipment(shipment_id: str, db: Db, store: CurrentStore) -> ShipmentRead:
    with transaction(db) as session:
        return ShipmentRead.of(
            shipment_service.get_shipment(session, store_id=store.id, shipment_id=shipment_id)
        )


@router.get("/{shipment_id}/checkpoints")
def list_checkpoints(shipment_id: str, db: Db, store: CurrentStore) -> CheckpointPage:
    """All scans, oldest first by carrier time."""
    with transaction(db) as session:
        rows = shipment_service.list_checkpoints(session, store_id=store.id, shipment_id=shipment_id)
        return CheckpointPage(data=[CheckpointRead.of(cp) for cp in rows])


@router.get("")
def list_shipments(
    db: Db,
    store: CurrentStore,
    limit: Limit,
    cursor: Cursor = None,
    order_id: Annotated[str | None, Query(description="Only this order's parcels.")] = None,
    status: Annotated[Status | None, Query(description="Only parcels in this status.")] = None,
    tracking_number: Annotated[str | None, Query()] = None,
) -> ShipmentPage:
    with transaction(db) as session:
        rows, next_cursor = shipment_service.list_shipments(
            session, store_id=store.id, limit=limit, cursor=cursor, order_id=order_id, status=status,
            tracking_number=tracking_number,
        )  # fmt: skip
        return ShipmentPage(data=[ShipmentRead.of(s) for s in rows], next_cursor=next_cursor)
