"""/api/v1/stores/me: the store the API key belongs to."""

from fastapi import APIRouter, Request, Response

from doorstep.db import transaction
from doorstep.stores import service as store_service
from doorstep.stores.commands import UpdateBranding
from doorstep.stores.schemas import BrandingRead, StoreRead
from doorstep.web.deps import AppSettings, CurrentStore, Db, IdempotencyKey, RawBody
from doorstep.web.idempotency import json_body, submit_write

router = APIRouter(prefix="/stores", tags=["stores"])


@router.get("/me")
def get_my_store(db: Db, store: CurrentStore) -> StoreRead:
    with transaction(db) as session:
        return StoreRead.of(store_service.get_store(session, store_id=store.id))


@router.get("/me/branding")
def get_my_branding(db: Db, store: CurrentStore) -> BrandingRead:
    """Logo, favicon, colours, fonts, custom CSS and custom domain of the shopper pages, with warnings."""
    with transaction(db) as session:
        return BrandingRead.of(store_service.get_store(session, store_id=store.id))


@router.patch(
    "/me/branding", openapi_extra=json_body(UpdateBranding), responses={200: {"model": BrandingRead}}
)
def update_my_branding(
    request: Request, db: Db, settings: AppSettings, store: CurrentStore, body: RawBody,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """Change branding fields (null clears one); the answer warns when colours fail WCAG AA contrast."""
    return submit_write(request, db, settings, store, "stores.branding.update", body, key)
