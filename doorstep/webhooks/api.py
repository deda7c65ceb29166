"""/api/v1/webhooks: the store's outbound webhook endpoints (secret shown once) and their delivery log."""

from fastapi import APIRouter, Response

from doorstep.config import Environment
from doorstep.db import transaction
from doorstep.web.deps import AppSettings, CurrentStore, Cursor, Db, Limit
from doorstep.webhooks import service as webhook_service
from doorstep.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    EndpointCreate,
    EndpointCreated,
    EndpointPage,
    EndpointRead,
    EndpointUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _created(issued: webhook_service.IssuedEndpoint) -> EndpointCreated:
    return EndpointCreated(**EndpointRead.of(issued.endpoint).model_dump(), secret=issued.secret)


@router.post("", status_code=201)
def create_endpoint(
    cmd: EndpointCreate, db: Db, settings: AppSettings, store: CurrentStore
) -> EndpointCreated:
    """Register an endpoint. The answer carries its signing secret (``whsec_…``) once: store it to verify
    the ``webhook-signature`` header with any Standard Webhooks library."""
    with transaction(db) as session:
        return _created(
            webhook_service.create_endpoint(
                session,
                store_id=store.id,
                cmd=cmd,
                server_secret=settings.security.secret_key.get_secret_value(),
                allow_local=settings.env is not Environment.prod,
            )
        )


@router.get("")
def list_endpoints(db: Db, store: CurrentStore, limit: Limit, cursor: Cursor = None) -> EndpointPage:
    with transaction(db) as session:
        rows, next_cursor = webhook_service.list_endpoints(
            session, store_id=store.id, limit=limit, cursor=cursor
        )
        return EndpointPage(data=[EndpointRead.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/{endpoint_id}")
def get_endpoint(endpoint_id: str, db: Db, store: CurrentStore) -> EndpointRead:
    with transaction(db) as session:
        return EndpointRead.of(
            webhook_service.get_endpoint(session, store_id=store.id, endpoint_id=endpoint_id)
        )


@router.patch("/{endpoint_id}")
def update_endpoint(
    endpoint_id: str, cmd: EndpointUpdate, db: Db, settings: AppSettings, store: CurrentStore
) -> EndpointRead:
    """Change the URL, description or subscribed milestones, or pause it (``is_enabled: false``)."""
    with transaction(db) as session:
        row = webhook_service.update_endpoint(
            session, store_id=store.id, endpoint_id=endpoint_id, cmd=cmd,
            allow_local=settings.env is not Environment.prod,
        )  # fmt: skip
        return EndpointRead.of(row)


@router.post("/{endpoint_id}/rotate-secret")
def rotate_secret(endpoint_id: str, db: Db, settings: AppSettings, store: CurrentStore) -> EndpointCreated:
    """Issue a new signing secret (shown once); the old one stops signing at once."""
    with transaction(db) as session:
        return _created(
            webhook_service.rotate_secret(
                session,
                store_id=store.id,
                endpoint_id=endpoint_id,
                server_secret=settings.security.secret_key.get_secret_value(),
            )
        )


@router.delete("/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, db: Db, store: CurrentStore) -> Response:
    with transaction(db) as session:
        webhook_service.delete_endpoint(session, store_id=store.id, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.get("/{endpoint_id}/deliveries")
def list_deliveries(
    endpoint_id: str, db: Db, store: CurrentStore, limit: Limit, cursor: Cursor = None
) -> DeliveryPage:
    """The delivery log, newest first: status, attempts, last HTTP status and error."""
    with transaction(db) as session:
        rows, next_cursor = webhook_service.list_deliveries(
            session, store_id=store.id, endpoint_id=endpoint_id, limit=limit, cursor=cursor
        )
        return DeliveryPage(data=[DeliveryRead.of(r, endpoint_id) for r in rows], next_cursor=next_cursor)
