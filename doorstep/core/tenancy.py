"""Tenant scoping: every query on a store-owned table goes through :func:`scoped`."""

from typing import Any, TypeVarTuple

from sqlalchemy import Select

Ts = TypeVarTuple("Ts")


def scoped(statement: Select[*Ts], model: type[Any], store_id: int) -> Select[*Ts]:
    """Restrict ``statement`` to rows of ``model`` that belong to ``store_id``."""
    return statement.where(model.store_id == store_id)
