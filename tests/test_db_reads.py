"""doorstep.db.OneRowRead: the Session-free single-row read of the tracking page's hot path."""

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from doorstep.config import Settings
from doorstep.db import OneRowRead, WouldBlock, make_engine, make_session_factory, transaction


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    path = tmp_path / "reads.sqlite3"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE things (token TEXT PRIMARY KEY, n INTEGER)"))
        connection.execute(text("INSERT INTO things VALUES ('abc', 1), ('def', 2)"))
    engine.dispose()
    return str(path)


def _read(url: str) -> OneRowRead:
    statement = select(text("n")).select_from(text("things")).where(text("token = :token"))
    return OneRowRead(make_engine(Settings(database_url=url)), statement)


def test_both_paths_read_the_same_row_and_none_for_no_row(sqlite_file: str) -> None:
    read = _read(f"sqlite:///{sqlite_file}")
    assert read.one_or_none({"token": "def"}) == (2,)
    assert read.one_or_none_on_loop({"token": "def"}) == (2,)
    assert read.one_or_none({"token": "nope"}) is None
    assert read.one_or_none_on_loop({"token": "nope"}) is None


def test_on_the_loop_a_locked_database_gives_up_quickly_instead_of_waiting(sqlite_file: str) -> None:
    read = _read(f"sqlite:///{sqlite_file}")
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # in WAL mode an exclusive holder shuts other readers out
    try:
        started = time.monotonic()
        with pytest.raises(WouldBlock):
            read.one_or_none_on_loop({"token": "abc"})
        waited = time.monotonic() - started
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert waited < 5  # bounded by the 50 ms busy timeout (generous: this is not a speed test)
    assert read.one_or_none_on_loop({"token": "abc"}) == (1,)  # and it works again once the lock is gone


def test_a_network_database_is_never_read_on_the_loop() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected
    read = OneRowRead(engine, select(text("1")))
    with pytest.raises(WouldBlock):
        read.one_or_none_on_loop({})


def test_an_error_kept_after_a_half_read_does_not_keep_the_write_lock(sqlite_file: str) -> None:
    """A job's failure is kept until it is recorded in another transaction: the frames it unwound must not
    hold a half-read SQLite statement that keeps the first transaction's lock."""
    factory = make_session_factory(make_engine(Settings(database_url=f"sqlite:///{sqlite_file}")))
    with factory() as session:  # fill enough rows that a read is not done after its first fetch
        session.execute(
            text("INSERT INTO things VALUES (:t, :n)"), [{"t": f"t{n}", "n": n} for n in range(500)]
        )
        session.commit()

    def service(session: Session) -> None:  # a service function that fails with a read half done
        session.execute(text("UPDATE things SET n = n + 1 WHERE token = 'abc'"))
        rows = session.execute(text("SELECT token FROM things"))
        rows.fetchone()
        raise RuntimeError("a handler bug, mid-read")

    def fail_mid_read() -> None:
        with transaction(factory) as session:
            service(session)

    try:
        fail_mid_read()
    except RuntimeError as exc:
        kept = exc  # kept alive, as the worker keeps a job's error until it records it
        writer = sqlite3.connect(sqlite_file, timeout=0.2, isolation_level=None)
        try:
            writer.execute(
                "BEGIN IMMEDIATE"
            )  # fails with "database is locked" if the lock outlived the error
            writer.execute("UPDATE things SET n = 0 WHERE token = 'def'")
            writer.execute("COMMIT")
        finally:
            writer.close()
        assert kept.args == ("a handler bug, mid-read",)
    with factory() as session:
        assert (
            session.execute(text("SELECT n FROM things WHERE token = 'abc'")).scalar_one() == 1
        )  # rolled back
