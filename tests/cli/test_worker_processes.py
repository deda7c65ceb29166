"""`doorstep worker --processes N`: several worker processes under one command, on PostgreSQL.

The real command in a subprocess: every message of a burst sent exactly once, by both processes; a child
killed with SIGKILL is started again; SIGTERM stops the children too; SQLite is refused with the reason.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from doorstep.cli.main import app
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-c", "from doorstep.cli.main import app; app()", "worker"]


def _env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DOORSTEP_DATABASE_URL": database_url,
        "DOORSTEP_ENV": "dev",
    }


def _noon_somewhere() -> str:
    """A time zone where it is about midday now, so no message waits for quiet hours to end."""
    offset = 12 - datetime.now(UTC).hour
    return f"Etc/GMT-{offset}" if offset >= 0 else f"Etc/GMT+{-offset}"


def _place(client: TestClient, store: StoreWithKey, count: int) -> None:
    placed = datetime.now(UTC).isoformat()
    zone = _noon_somewhere()
    for n in range(count):
        body = order_body(n, placed_at=placed)
        body["customer"] = {**body["customer"], "timezone": zone}
        assert client.post("/api/v1/orders", json=body, headers=store.headers).status_code == 201


def _rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


@pytest.mark.pg
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pg"])
def test_two_processes_send_a_burst_exactly_once_between_them(
    backend: str, database_url: str, engine: Engine, client: TestClient, store: StoreWithKey
) -> None:
    _place(client, store, 60)
    done = subprocess.run(
        [*COMMAND, "--processes", "2", "--concurrency", "2", "--batch-size", "8", "--once", "--no-periodic"],
        cwd=ROOT, env=_env(database_url), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(" started (concurrency 2)") == 2, done.stderr
    assert _rows(engine, "SELECT status, count(*) FROM messages GROUP BY status") == [("sent", 60)]
    assert _rows(engine, "SELECT count(DISTINCT recipient), sum(attempts) FROM messages") == [(60, 60)]
    runs = _rows(engine, "SELECT status, attempts FROM jobs WHERE kind = 'message.send'")
    assert runs == [("done", 1)] * 60
    workers = _rows(engine, "SELECT DISTINCT split_part(worker, ':', 2) FROM job_attempts")
    assert len(workers) == 2, workers  # both processes took jobs


class _Lines:
    """A process's stderr, read on a thread, so the test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60.0) -> list[re.Match[str]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in map(re.compile(pattern).search, self.lines) if m]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                assert left > 0, f"no {count} x {pattern!r} in {self.lines}"
                self._changed.wait(left)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has exited
    except (ProcessLookupError, FileNotFoundError):
        return False


STARTED = r"worker [^:\s]+:(\d+):\w+ started"  # a child's first line; the owner holds its pid


def _started(lines: _Lines, count: int) -> list[int]:
    """The pids of the first ``count`` children started (waiting for them)."""
    return [int(m.group(1)) for m in lines.wait_for(STARTED, count)]


@contextmanager
def _supervisor(database_url: str) -> Iterator[tuple[subprocess.Popen[str], _Lines]]:
    """``doorstep worker --processes 2`` and its stderr; afterwards, even if the test failed, none of the
    processes it started (every pid its output named) is left running."""
    process = subprocess.Popen(
        [*COMMAND, "--processes", "2", "--concurrency", "1", "--idle", "0.2", "--no-periodic"],
        cwd=ROOT, env=_env(database_url), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines = _Lines(process)
    try:
        yield process, lines
    finally:
        children = [int(m.group(1)) for m in map(re.compile(STARTED).search, list(lines.lines)) if m]
        for pid in [process.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.mark.pg
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pg"])
def test_a_killed_child_is_started_again_and_sigterm_stops_them_all(backend: str, database_url: str) -> None:
    with _supervisor(database_url) as (process, lines):
        os.kill(_started(lines, 2)[0], signal.SIGKILL)
        lines.wait_for(r"worker process \d ended \(exit code -9\).*starting it again in \d+ s")
        pids = _started(lines, 3)
        assert len(set(pids)) == 3
        assert all(_alive(pid) for pid in pids[1:])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        lines.wait_for(r"2 worker processes stopped")
        assert not any(_alive(pid) for pid in pids)


@pytest.mark.pg
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pg"])
def test_children_stop_when_the_supervisor_is_killed(backend: str, database_url: str) -> None:
    with _supervisor(database_url) as (process, lines):
        pids = _started(lines, 2)
        process.kill()  # SIGKILL: no chance to pass anything on
        process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "a child outlived its supervisor"
            time.sleep(0.2)


def test_several_processes_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'doorstep.sqlite3'}"
    result = CliRunner().invoke(
        app, ["worker", "--processes", "2", "--once"], env={"DOORSTEP_DATABASE_URL": url}
    )
    assert result.exit_code == 1
    assert "--processes needs PostgreSQL" in result.stderr
