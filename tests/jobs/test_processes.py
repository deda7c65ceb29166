"""Several worker processes against one PostgreSQL: every job runs, none twice at once, none lost on a kill.

Each worker is a separate process (``tests/jobs/worker_process.py``) running the real Worker with a test-only
job kind whose effect is guarded by a unique key.
"""

import signal
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.jobs import queue
from tests.jobs.processes import WorkerProcesses
from tests.jobs.worker_process import TABLES

pytestmark = [pytest.mark.pg, pytest.mark.slow]


@pytest.fixture
def backend() -> str:
    return "pg"


@pytest.fixture
def effect_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for ddl in TABLES:
            connection.execute(text(ddl))


@pytest.fixture
def workers(database_url: str) -> Iterator[WorkerProcesses]:
    running = WorkerProcesses("tests.jobs.worker_process", database_url)
    yield running
    running.stop()


def _enqueue(factory: sessionmaker[Session], count: int) -> None:
    with transaction(factory) as session:
        for n in range(count):
            queue.enqueue(session, kind="test.effect", key=f"effect:{n:04d}", store_id=None)


def _scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one())


def _wait_until_done(engine: Engine, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _scalar(engine, "SELECT count(*) FROM jobs WHERE status = 'done'") < count:
        assert time.monotonic() < deadline, "jobs did not all complete"
        time.sleep(0.1)


def test_three_workers_run_300_jobs_each_exactly_once(
    backend: str,
    engine: Engine,
    factory: sessionmaker[Session],
    effect_tables: None,
    workers: WorkerProcesses,
) -> None:
    workers.start(3, lease=5.0, sleep=0.005)
    _enqueue(factory, 300)
    _wait_until_done(engine, 300)

    assert _scalar(engine, "SELECT count(*) FROM test_job_runs") == 300
    assert _scalar(engine, "SELECT count(DISTINCT job_key) FROM test_job_runs") == 300
    assert _scalar(engine, "SELECT count(*) FROM test_job_effects") == 300
    assert _scalar(engine, "SELECT count(*) FROM test_job_duplicates") == 0
    assert _scalar(engine, "SELECT max(attempts) FROM jobs") == 1
    # All three processes took part (disjoint batches via SKIP LOCKED).
    assert _scalar(engine, "SELECT count(DISTINCT worker) FROM test_job_runs") == 3


def test_a_killed_worker_loses_no_job_and_repeats_no_effect(
    backend: str,
    engine: Engine,
    factory: sessionmaker[Session],
    effect_tables: None,
    workers: WorkerProcesses,
) -> None:
    total = 200
    # The victim's handlers take long enough (0.5 s) that the kill lands inside one even on a loaded machine.
    workers.start(1, lease=1.0, sleep=0.5)
    workers.start(2, lease=1.0, sleep=0.05)
    victim, victim_owner = workers.processes[0], workers.owners[0]
    _enqueue(factory, total)
    # Kill it once it has done some work and is in the middle of a handler (its effect already made).
    in_handler = "SELECT count(*) FROM test_job_runs WHERE worker = :owner AND ended IS NULL"
    while (
        _scalar(engine, "SELECT count(*) FROM test_job_effects") < 40
        or _scalar(engine, in_handler, owner=victim_owner) == 0
    ):
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = time.time()
    _wait_until_done(engine, total)

    with engine.connect() as connection:
        unfinished = connection.execute(
            text("SELECT job_key, started, worker FROM test_job_runs WHERE ended IS NULL")
        ).all()
        reruns = connection.execute(
            text("SELECT job_key, min(started) FROM test_job_runs WHERE ended IS NOT NULL GROUP BY job_key")
        ).all()
    done = _scalar(engine, "SELECT count(*) FROM jobs WHERE status = 'done'")
    effects = _scalar(engine, "SELECT count(*) FROM test_job_effects")
    prevented = _scalar(engine, "SELECT count(*) FROM test_job_duplicates")
    reclaimed = _scalar(engine, "SELECT count(*) FROM jobs WHERE attempts > 1")
    lost = total - _scalar(engine, "SELECT count(*) FROM jobs WHERE status = 'done'")
    print(  # noqa: T201 (the figures the test proves, shown with -s)
        f"\nkill test: {total} jobs, worker {victim_owner} killed holding {reclaimed} job(s) "
        f"({len(unfinished)} cut off inside the handler), reclaimed after the lease expired; "
        f"done {done}, effects {effects}, duplicates prevented {prevented}, lost {lost}"
    )
    assert len(unfinished) >= 1
    assert (done, effects, lost) == (total, total, 0)
    # The jobs the victim held ran again only after it died (no two runs of one job at once).
    rerun_started: dict[str, float] = {row[0]: row[1] for row in reruns}
    assert {worker for _, _, worker in unfinished} == {victim_owner}
    for key, started, _ in unfinished:
        assert rerun_started[key] > started
        assert rerun_started[key] > killed_at - 0.5
