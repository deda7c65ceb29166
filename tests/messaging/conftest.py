"""Messaging tests: devbox on (the outbox is the channel), the clock pinned to a weekday afternoon."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from threading import Event

import httpx
import pytest
import time_machine
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import ChannelSettings, Environment, SecuritySettings, Settings
from doorstep.db import transaction
from doorstep.jobs.handlers import HANDLERS, Runtime
from doorstep.jobs.worker import Stats, Worker
from doorstep.messaging.models import Message
from tests.conftest import TEST_SECRET

# Monday 23 November 2026, 17:00 UTC: 14:00 in São Paulo, 12:00 in New York (no quiet hours anywhere used).
NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=database_url,
        data_dir=tmp_path,
        base_url="https://track.example",
        security=SecuritySettings(secret_key=SecretStr(TEST_SECRET)),
        channels=ChannelSettings(devbox=True),
    )


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    traveller = time_machine.travel(NOW, tick=True)
    traveller.start()
    yield traveller
    traveller.stop()


def run_worker(factory: sessionmaker[Session], settings: Settings, **options: object) -> Stats:
    """Run every job due now, then return (the real worker, no periodic jobs)."""
    with httpx.Client() as client:
        runtime = Runtime(factory, settings, client)
        worker = Worker(runtime, handlers=HANDLERS, schedule=(), idle=0.01, **options)  # type: ignore[arg-type]
        return worker.run(Event(), once=True)


def messages(factory: sessionmaker[Session], store_id: int) -> list[Message]:
    with transaction(factory) as session:
        rows = list(session.scalars(select(Message).where(Message.store_id == store_id).order_by(Message.id)))
        session.expunge_all()
        return rows
