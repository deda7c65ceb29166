"""Dependencies that make route signatures read as declarations: ``store: CurrentStore, db: Db``."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core.errors import FieldProblem, Unauthorized, UnsupportedMediaType
from doorstep.db import transaction
from doorstep.stores import service as store_service


@dataclass(frozen=True)
class StoreContext:
    """The authenticated tenant, detached from any session."""

    id: int
    public_id: str
    slug: str


def get_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Db = Annotated[sessionmaker[Session], Depends(get_factory)]
AppSettings = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dsk_…`")


def current_store(
    db: Db, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> StoreContext:
    # One message for every failure: no hint whether the key is unknown, malformed or revoked.
    failure = Unauthorized("a valid API key is required: send Authorization: Bearer dsk_…")
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise failure
    with transaction(db) as session:
        store = store_service.authenticate(session, token=credentials.credentials)
        if store is None:
            raise failure
        return StoreContext(store.id, store.public_id, store.slug)


CurrentStore = Annotated[StoreContext, Depends(current_store)]


async def raw_body(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type:
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not JSON: send Content-Type: application/json",
            problems=[FieldProblem("Content-Type", "is not JSON", "send Content-Type: application/json")],
        )
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Any unique string (a UUID). Retrying with the same key and body returns the first answer.",
    ),
]


def page_limit(
    settings: AppSettings,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Items per page.")] = None,
) -> int:
    if limit is None:
        return settings.api.page_size_default
    return min(limit, settings.api.page_size_max)


Limit = Annotated[int, Depends(page_limit)]
Cursor = Annotated[str | None, Query(description="next_cursor from the previous page.")]
