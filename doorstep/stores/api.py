"""/api/v1/stores/me: the store the API key belongs to."""

from fastapi import APIRouter

from doorstep.db import transaction
from doorstep.stores import service as store_service
from doorstep.stores.schemas import StoreRead
from doorstep.web.deps import CurrentStore, Db

router = APIRouter(prefix="/stores", tags=["stores"])


@router.get("/me")
def get_my_store(db: Db, store: CurrentStore) -> StoreRead:
    with transaction(db) as session:
        return StoreRead.of(store_service.get_store(session, store_id=store.id))
