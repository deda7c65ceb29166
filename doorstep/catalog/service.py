"""Catalog reads. Rows are written by history imports (doorstep/imports/bulk.py) until a live source exists."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.catalog.models import Category, Product, Seller
from doorstep.core.errors import NotFound
from doorstep.core.tenancy import scoped


def get_product(session: Session, *, store_id: int, external_id: str) -> Product:
    stmt = scoped(select(Product), Product, store_id).where(Product.external_id == external_id)
    product = session.scalars(stmt).one_or_none()
    if product is None:
        raise NotFound(f"product {external_id} not found")
    return product


def get_seller(session: Session, *, store_id: int, external_id: str) -> Seller:
    stmt = scoped(select(Seller), Seller, store_id).where(Seller.external_id == external_id)
    seller = session.scalars(stmt).one_or_none()
    if seller is None:
        raise NotFound(f"seller {external_id} not found")
    return seller


def list_categories(session: Session, *, store_id: int) -> list[Category]:
    stmt = scoped(select(Category), Category, store_id).order_by(Category.name, Category.id)
    return list(session.scalars(stmt))


def category_of(session: Session, *, store_id: int, product: Product) -> Category | None:
    if product.category_id is None:
        return None
    stmt = scoped(select(Category), Category, store_id).where(Category.id == product.category_id)
    return session.scalars(stmt).one_or_none()
