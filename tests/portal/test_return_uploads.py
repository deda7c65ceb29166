"""Upload limits of the returns portal: per photo (a message naming the limit), per item, and per form (413)."""

import io
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Environment, PortalSettings, SecuritySettings, Settings
from doorstep.returns.models import EvidencePhoto
from tests.conftest import TEST_SECRET
from tests.factories.stores import StoreWithKey
from tests.portal.returns_helpers import Returnable, returnable_order, set_policy, text_of
from tests.portal.test_returns import choose_items, png


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test, database_url=database_url, data_dir=tmp_path,
        security=SecuritySettings(secret_key=SecretStr(TEST_SECRET)),
        portal=PortalSettings(photo_max_bytes=50_000, photos_per_item=2, upload_max_request_bytes=400_000),
    )  # fmt: skip


@pytest.fixture
def order(factory: sessionmaker[Session], store: StoreWithKey) -> Returnable:
    set_policy(factory, store.id)
    return returnable_order(factory, store.id)


def noise_png(side: int) -> bytes:
    """A PNG that does not compress (random pixels): about 3 x side² bytes."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def stored(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(EvidencePhoto)) or 0)


def test_a_photo_over_the_limit_is_refused_with_the_limit(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    tee = order.lines[0]
    big = noise_png(150)
    assert len(big) > 50_000
    answer = choose_items(client, order, files=[(f"photos-{tee}", ("big.png", big, "image/png"))])
    assert answer.status_code == 422
    assert "Merino Tee: big.png is larger than 0.05 MB." in text_of(answer.text)
    assert stored(factory) == 0


def test_more_photos_than_allowed_are_refused(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    tee = order.lines[0]
    files = [(f"photos-{tee}", (f"{c}.png", png(c), "image/png")) for c in ("red", "green", "blue")]
    answer = choose_items(client, order, files=files)
    assert answer.status_code == 422
    assert "attach at most 2 photos" in text_of(answer.text)
    assert stored(factory) == 0


def test_a_form_over_the_request_limit_is_refused_before_it_is_read(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    tee = order.lines[0]
    files = [(f"photos-{tee}", (f"{n}.png", noise_png(220), "image/png")) for n in range(3)]
    answer = choose_items(client, order, files=files)
    assert answer.status_code == 413
    assert answer.json()["detail"] == "the request body exceeds 400000 bytes: send a smaller body or split it"
    assert stored(factory) == 0


def test_the_api_keeps_its_own_smaller_limit(client: TestClient, store: StoreWithKey) -> None:
    answer = client.post("/api/v1/orders", content=b"{" + b" " * 1_100_000 + b"}", headers={
        **store.headers, "Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 413
