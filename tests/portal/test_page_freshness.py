"""The in-memory window of /t/{token}: views inside it ask the database nothing; after it, changes show."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from doorstep.app import create_app
from doorstep.config import PortalSettings, Settings
from doorstep.portal import tracking
from tests.factories.orders import checkpoint
from tests.factories.stores import StoreWithKey
from tests.portal.conftest import make_tracked


@pytest.fixture
def windowed(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    app: FastAPI = create_app(
        settings.model_copy(update={"portal": PortalSettings(page_freshness_seconds=60)}), engine=engine
    )
    with TestClient(app) as client:
        yield client


def _count_queries(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_views_inside_the_window_ask_the_database_nothing(
    windowed: TestClient, store: StoreWithKey, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracked: dict[str, Any] = make_tracked(windowed, store)
    first = windowed.get(tracked["link"])
    assert first.status_code == 200
    queries = _count_queries(engine)
    again = windowed.get(tracked["link"])
    revisit = windowed.get(tracked["link"], headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, revisit.status_code) == (200, 304)
    assert again.content == first.content
    assert [q for q in queries if "orders" in q] == []  # served from memory

    # A new scan inside the window is not shown yet (that is the window); once it has passed, it is.
    added = windowed.post(
        f"/api/v1/shipments/{tracked['shipment_id']}/checkpoints",
        json={"checkpoints": [checkpoint("2026-11-23T08:00:00-05:00", "out_for_delivery")]},
        headers=store.headers,
    )
    assert added.status_code == 201, added.text
    assert windowed.get(tracked["link"], headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    real = tracking.monotonic
    monkeypatch.setattr(tracking, "monotonic", lambda: real() + 61)
    after = windowed.get(tracked["link"], headers={"If-None-Match": first.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != first.headers["etag"]


def test_an_unknown_token_is_never_remembered(windowed: TestClient) -> None:
    assert windowed.get("/t/" + "x" * 32).status_code == 404
    assert windowed.get("/t/" + "x" * 32).status_code == 404
