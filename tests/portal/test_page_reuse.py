"""Past the freshness window: an unchanged order is reused (for a minute at most), and visits are written in batches."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.orders.models import Order
from doorstep.portal import tracking
from tests.factories.orders import checkpoint
from tests.factories.stores import StoreWithKey


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loads: list[str] = []
    real = tracking._load

    def counting(session: Session, token: str) -> tracking.Loaded | None:
        loads.append(token)
        return real(session, token)

    monkeypatch.setattr(tracking, "_load", counting)
    return loads


def test_an_unchanged_order_is_loaded_once_and_again_after_a_minute(
    client: TestClient, tracked: dict[str, Any], store: StoreWithKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = _count_loads(monkeypatch)
    first = client.get(tracked["link"])
    again = client.get(tracked["link"])
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == first.content
    assert len(loads) == 1  # the second view only asked whether anything changed

    # A new scan changes the fingerprint: the next view loads the order again and shows it.
    added = client.post(
        f"/api/v1/shipments/{tracked['shipment_id']}/checkpoints",
        json={"checkpoints": [checkpoint("2026-11-23T08:00:00-05:00", "out_for_delivery")]},
        headers=store.headers,
    )
    assert added.status_code == 201, added.text
    changed = client.get(tracked["link"])
    assert len(loads) == 2
    assert changed.headers["etag"] != first.headers["etag"]

    # What depends on the clock alone (the return window) is re-read at least once a minute.
    real = tracking.monotonic
    monkeypatch.setattr(tracking, "monotonic", lambda: real() + 61)
    assert client.get(tracked["link"]).status_code == 200
    assert len(loads) == 3


def test_visits_ask_for_one_flush_at_a_time(
    factory: sessionmaker[Session], client: TestClient, tracked: dict[str, Any]
) -> None:
    visits = tracking.Visits()
    with transaction(factory) as session:
        order = session.scalars(select(Order).where(Order.public_id == tracked["id"])).one()
        store_id, order_id, before = order.store_id, order.id, order.tracking_page_visits
    visits._last_flush -= tracking.Visits.FLUSH_EVERY  # the first flush is due
    asked = [visits.add(store_id, order_id) for _ in range(50)]
    assert asked == [True] + [False] * 49  # a burst asks for one flush, not fifty

    # A flush asked for but never run (its response's background task did not run) is asked for again later
    visits._flush_asked_at -= tracking.Visits.ASK_AGAIN_AFTER  # type: ignore[operator]
    assert visits.add(store_id, order_id) is True

    visits.flush(factory)
    assert visits.add(store_id, order_id) is False  # the next is a second away
    with transaction(factory) as session:
        counted = session.get(Order, order_id)
        assert counted is not None
        assert counted.tracking_page_visits == before + 51  # the 52nd waits for the next flush
