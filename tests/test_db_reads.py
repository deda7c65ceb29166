"""doorstep.db.OneRowRead: the Session-free single-row read of the tracking page's hot path."""

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from doorstep.config import Settings
from doorstep.db import OneRowRead, WouldBlock, make_engine


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
