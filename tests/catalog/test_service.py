"""The catalog an Olist import leaves behind: products with translated categories, sellers, per store."""

from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from doorstep.catalog import service as catalog_service
from doorstep.core.errors import NotFound
from doorstep.db import transaction
from doorstep.imports import olist, runner
from doorstep.imports.rejects import Rejects
from tests.factories.stores import StoreWithKey

SMALL = Path(__file__).resolve().parents[1] / "payloads" / "imports" / "olist_small"


@pytest.mark.usefixtures("backend")
def test_products_carry_translated_categories_and_stay_in_their_store(
    factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    found = Rejects()
    data = olist.read(SMALL, found)
    runner.run_import(
        factory, store_id=store.id, source="olist", input_ref="t", catalog=data.catalog,
        batches=partial(data.batches, size=50), rejects=found,
    )  # fmt: skip
    product = next(p for p in data.catalog.products if p.category_ref == "beleza_saude")
    seller = data.catalog.sellers[0]

    with transaction(factory) as session:
        row = catalog_service.get_product(session, store_id=store.id, external_id=product.external_id)
        category = catalog_service.category_of(session, store_id=store.id, product=row)
        origin = catalog_service.get_seller(session, store_id=store.id, external_id=seller.external_id)
        with pytest.raises(NotFound):
            catalog_service.get_product(session, store_id=other_store.id, external_id=product.external_id)

    assert category is not None
    assert (category.name, category.source_name) == ("health beauty", "beleza_saude")
    assert row.title is not None
    assert row.title.startswith("Health beauty")
    assert (origin.country, origin.region) == ("BR", seller.region)
