"""/api/v1/orders: each route calls exactly one service function."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from doorstep.db import transaction
from doorstep.orders import service as order_service
from doorstep.orders.commands import CancelOrder, CreateOrder, UpdateOrder
from doorstep.orders.schemas import OrderPage, OrderRead, StatusLinkRead
from doorstep.web.deps import AppSettings, CurrentStore, Cursor, Db, IdempotencyKey, Limit, RawBody
from doorstep.web.idempotency import json_body, submit_write

router = APIRouter(prefix="/orders", tags=["orders"])

_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {201: {"model": OrderRead}, 200: {"model": OrderRead}}


@router.post("", status_code=201, openapi_extra=json_body(CreateOrder), responses=_WRITE_RESPONSES)
def create_order(
    request: Request,
    db: Db,
    settings: AppSettings,
    store: CurrentStore,
    body: RawBody,
    key: IdempotencyKey = None,
) -> Response:
    """Create an order with its line items; the customer is matched by external id, e-mail or phone."""
    return submit_write(request, db, settings, store, "orders.create", body, key)


@router.patch("/{order_id}", openapi_extra=json_body(UpdateOrder), responses=_WRITE_RESPONSES)
def update_order(
    order_id: str, request: Request, db: Db, settings: AppSettings, store: CurrentStore, body: RawBody,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """Update number, customer, shipping address, tags or note."""
    return submit_write(request, db, settings, store, "orders.update", body, key, order_id=order_id)


@router.post(
    "/{order_id}/cancel", openapi_extra=json_body(CancelOrder, required=False), responses=_WRITE_RESPONSES
)
def cancel_order(
    order_id: str, request: Request, db: Db, settings: AppSettings, store: CurrentStore, body: RawBody,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """Cancel an order (idempotent); emits order.cancelled once."""
    return submit_write(request, db, settings, store, "orders.cancel", body, key, order_id=order_id)


@router.get("/{order_id}/status-link")
def get_status_link(order_id: str, db: Db, store: CurrentStore) -> StatusLinkRead:
    """The shopper's tracking-page link (``/t/{token}``) and how often it was opened."""
    with transaction(db) as session:
        return StatusLinkRead.of(order_service.get_order(session, store_id=store.id, order_id=order_id))


@router.post("/{order_id}/status-link/rotate", responses={200: {"model": StatusLinkRead}})
def rotate_status_link(
    order_id: str, request: Request, db: Db, settings: AppSettings, store: CurrentStore, body: RawBody,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """Issue a new tracking-page token; the old link stops working at once (no body needed)."""
    return submit_write(
        request, db, settings, store, "orders.status_link.rotate", body, key, order_id=order_id
    )


@router.get("/{order_id}")
def get_order(order_id: str, db: Db, store: CurrentStore) -> OrderRead:
    with transaction(db) as session:
        return OrderRead.of(order_service.get_order(session, store_id=store.id, order_id=order_id))


@router.get("")
def list_orders(
    db: Db,
    store: CurrentStore,
    limit: Limit,
    cursor: Cursor = None,
    number: Annotated[str | None, Query(description="Exact order number.")] = None,
    email: Annotated[str | None, Query(description="Customer e-mail.")] = None,
) -> OrderPage:
    """Newest first; follow next_cursor for the next page."""
    with transaction(db) as session:
        orders, next_cursor = order_service.list_orders(
            session, store_id=store.id, limit=limit, cursor=cursor, number=number, customer_email=email
        )
        return OrderPage(data=[OrderRead.of(o) for o in orders], next_cursor=next_cursor)
