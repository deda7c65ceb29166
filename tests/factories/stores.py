"""Stores with an API key, ready for authenticated API calls."""

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore


@dataclass(frozen=True)
class StoreWithKey:
    id: int
    public_id: str
    slug: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_store(factory: sessionmaker[Session], slug: str = "acme", **fields: str) -> StoreWithKey:
    with transaction(factory) as session:
        store = store_service.create_store(
            session, cmd=CreateStore(slug=slug, name=fields.pop("name", slug), **fields)
        )
        issued = store_service.create_api_key(session, store_id=store.id, name="tests")
        return StoreWithKey(store.id, store.public_id, store.slug, issued.secret)


@pytest.fixture
def store(factory: sessionmaker[Session]) -> StoreWithKey:
    return make_store(factory, "acme", name="Acme Outfitters")


@pytest.fixture
def other_store(factory: sessionmaker[Session]) -> StoreWithKey:
    return make_store(factory, "globex", name="Globex Goods")
