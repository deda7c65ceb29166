"""orders.service.record_tracking_visits: the tracking page's counted views, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.orders import service as order_service
from doorstep.orders.models import Order
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey


def _order(client: TestClient, store: StoreWithKey, n: int) -> str:
    response = client.post("/api/v1/orders", json=order_body(n), headers=store.headers)
    assert response.status_code == 201, response.text
    public_id: str = response.json()["id"]
    return public_id


def _row(factory: sessionmaker[Session], public_id: str) -> Order:
    with transaction(factory) as session:
        order = session.scalars(select(Order).where(Order.public_id == public_id)).one()
        session.expunge(order)
        return order


def test_views_are_added_per_order_and_only_within_the_orders_store(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    ours = [_row(factory, _order(client, store, n)) for n in (1, 2)]
    theirs = _row(factory, _order(client, other_store, 3))
    flushed_at = datetime(2026, 12, 7, 15, 0, 0, 123456, tzinfo=UTC)
    with time_machine.travel(flushed_at, tick=False), transaction(factory) as session:
        order_service.record_tracking_visits(
            session, counts={(store.id, ours[0].id): 3, (store.id, ours[1].id): 1}
        )
        # A count naming another store's order under this store's id changes nothing
        order_service.record_tracking_visits(session, counts={(store.id, theirs.id): 7})
    with transaction(factory) as session:
        order_service.record_tracking_visits(session, counts={(store.id, ours[0].id): 2})
    first, second, other = (_row(factory, o.public_id) for o in (*ours, theirs))
    assert (first.tracking_page_visits, second.tracking_page_visits, other.tracking_page_visits) == (5, 1, 0)
    assert second.tracking_page_last_visit_at == flushed_at  # aware UTC, microseconds kept
    assert other.tracking_page_last_visit_at is None
    assert (first.updated_at, second.updated_at) == (ours[0].updated_at, ours[1].updated_at)  # not an edit
