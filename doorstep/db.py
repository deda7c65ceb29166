"""Engine, sessions and the one place that commits: :func:`transaction`.

SQLite (the embedded default) runs in WAL mode with foreign keys and a busy timeout; PostgreSQL goes
through psycopg 3. Entry points (a request, a job, a CLI command) open one transaction; services flush.
"""

import sqlite3
import threading
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    Select,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from doorstep.config import Settings
from doorstep.core import clock

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite drops the offset; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        aware = clock.as_utc(value)
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return clock.ensure_aware(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime()}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            # A file database keeps as many connections as the web thread pool has threads (40): SQLite
            # connections are cheap to keep, while an overflow connection is opened (PRAGMAs and all)
            # and closed again on every checkout past the pool size, which under a burst of page views
            # was a visible share of their cost. In-memory databases keep their one-connection pool.
            kwargs.setdefault("pool_size", 40)
            kwargs.setdefault("max_overflow", 10)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so BEGIN IMMEDIATE can take the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # One writer at a time: taking the lock at BEGIN avoids SQLITE_BUSY upgrade deadlocks.
        # Reads (read_transaction) use a deferred BEGIN: WAL readers never wait for the writer.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


_READ_ONLY = "doorstep_read_only"


def one_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)`` for a list that changes with every batch.

    On PostgreSQL this is ``column = ANY(:values)`` with the list as one array parameter, so the text
    sent is the same whatever the list's length: psycopg converts it once and, after a few runs, prepares
    it on the server. An ``IN`` of 64 batch ids is a new text per length, past psycopg's 50-parameter
    cache, so it was converted (a regex pass in Python) on every run. SQLite keeps ``IN``.
    """
    items = list(values)
    if session.get_bind().dialect.name == "postgresql":
        result: ColumnElement[bool] = column == any_(
            bindparam(None, items, type_=postgresql.ARRAY(column.type))
        )
    else:
        result = column.in_(items)
    return result


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. The only commit in Doorstep."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as exc:
        # The frames the error unwound may hold a half-read result: free them first, or SQLite's open
        # statement could outlive the rollback and keep the write lock while the error is kept (a job's
        # failure is kept until it is recorded, in another transaction that would then wait on it).
        traceback.clear_frames(exc.__traceback__)
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only unit of work: never takes SQLite's write lock and always rolls back.

    For shopper pages and other hot reads; a write that must follow (a visit counter) is its own small
    :func:`transaction`.
    """
    session = factory()
    try:
        session.connection(execution_options={_READ_ONLY: True})
        yield session
    finally:
        session.rollback()
        session.close()


class WouldBlock(Exception):
    """A read on the event loop would have had to wait (or cannot run there): run it on a thread instead."""


class OneRowRead:
    """One compiled single-statement read run on a pooled driver connection: no Session, no Result.

    For the one or two reads on a shopper's hottest path (the tracking page asks "did anything change?"
    on every view), where the ORM's per-call bookkeeping costs several times the query itself. Values
    come back as the driver returns them (SQLite: text for timestamps), so callers only compare them
    with values from the same read. A single statement is a consistent snapshot on its own; the pool
    rolls the connection back when it is returned.
    """

    LOOP_BUSY_TIMEOUT = 0.05  # seconds a read on the event loop may wait for a lock before giving up

    def __init__(self, engine: Engine, statement: Select[Any]) -> None:
        self._engine = engine
        self._compiled = statement.compile(dialect=engine.dialect)
        self._sql = str(self._compiled)
        database = engine.url.database or ""
        self._sqlite_file = engine.dialect.name == "sqlite" and database not in ("", ":memory:")
        self._local = threading.local()

    def _args(self, params: dict[str, Any]) -> Any:
        bound = self._compiled.construct_params(params)
        names = self._compiled.positiontup
        return tuple(bound[n] for n in names) if self._compiled.positional and names else bound

    def one_or_none(self, params: dict[str, Any]) -> tuple[Any, ...] | None:
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self._sql, self._args(params))
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            connection.close()
        return tuple(row) if row is not None else None

    def one_or_none_on_loop(self, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The same read for code running on the event loop, where handing it to a thread costs more
        than the read: only for a SQLite file (a local, indexed read of microseconds; a network
        database always goes to a thread), on this thread's own connection whose busy timeout is
        50 ms, so the loop can never wait longer. Raises :class:`WouldBlock` instead of waiting."""
        if not self._sqlite_file:
            raise WouldBlock("not a SQLite file")
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        try:
            if connection is None:
                connection = sqlite3.connect(
                    self._engine.url.database or "", timeout=self.LOOP_BUSY_TIMEOUT,
                    isolation_level=None, check_same_thread=False,
                )  # fmt: skip
                self._local.connection = connection
            row = connection.execute(self._sql, self._args(params)).fetchone()
        except sqlite3.OperationalError as exc:  # locked, or the file cannot be opened here
            raise WouldBlock(str(exc)) from exc
        return tuple(row) if row is not None else None
