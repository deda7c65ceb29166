"""Test databases: each test gets its own, copied from a migrated template (SQLite file or PG template).

Database tests take the ``backend`` fixture, which runs them on SQLite and, marked ``pg``, on PostgreSQL.
PostgreSQL comes from DOORSTEP_TEST_PG_URL (default: the local server on 127.0.0.1:5432); when it is not
reachable, ``pg`` tests are skipped locally but fail under CI=true, so CI never silently skips them.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from doorstep import migrate
from doorstep.app import create_app
from doorstep.config import Environment, PortalSettings, SecuritySettings, Settings
from doorstep.db import make_engine, make_session_factory

pytest_plugins = ["tests.factories.stores"]

PG_URL = os.environ.get("DOORSTEP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEST_SECRET = "test-secret-for-sealing-store-connections-0123456789"
REQUIRE_PG = os.environ.get("CI") == "true" or os.environ.get("DOORSTEP_REQUIRE_PG") == "1"


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(PG_URL)
    return psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        dbname=url.database or "postgres", autocommit=True, connect_timeout=5,
    )  # fmt: skip


def _pg_url(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as exc:
        if REQUIRE_PG:
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    name = f"doorstep_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(Settings(database_url=_pg_url(name)))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        target = tmp_path / "doorstep.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"doorstep_t_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _pg_url(name)
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=database_url,
        data_dir=tmp_path,
        security=SecuritySettings(secret_key=SecretStr(TEST_SECRET)),
        # Pages read the database on every view, so a test sees its own writes at once
        # (tests/portal/test_page_freshness.py covers the in-memory window).
        portal=PortalSettings(page_freshness_seconds=0),
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine=engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client
