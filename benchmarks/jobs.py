"""Jobs claimed and completed per second by the worker, next to a raw UPDATE loop on the same database.

Worker: `N` no-op jobs enqueued, then `Worker.run(once=True)` claims them in batches (reclaim check, claim
query, attempt rows), runs each on the thread pool and records it done (fenced update + attempt row), one
transaction per claim and per completion. Baseline: the same number of rows marked done by a bare
``UPDATE jobs SET status = 'done' WHERE id = :id``, one transaction each, from one thread: the floor cost
of one committed write per job on this database.

    python -m benchmarks.jobs [--jobs 2000] [--concurrency 4] [--batch 16] [--database-url URL]
"""

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import select, text

from benchmarks._figure import Figure
from doorstep import migrate
from doorstep.config import Settings
from doorstep.db import make_engine, make_session_factory, transaction
from doorstep.jobs import queue
from doorstep.jobs.handlers import Runtime
from doorstep.jobs.models import Job
from doorstep.jobs.queue import ClaimedJob
from doorstep.jobs.worker import Worker


def _noop(_: Runtime, __: ClaimedJob) -> None:
    return None


def _enqueue(settings: Settings, count: int, prefix: str) -> list[int]:
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        for n in range(count):
            queue.enqueue(session, kind="bench.noop", key=f"{prefix}:{n}", store_id=None)
        ids = list(session.scalars(select(Job.id).where(Job.key.startswith(f"{prefix}:"))))
    engine.dispose()
    return ids


def run(jobs: int, concurrency: int, batch: int, database_url: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        engine = make_engine(settings, **({} if settings.is_sqlite else {"pool_size": concurrency + 4}))
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM jobs WHERE kind = 'bench.noop'"))

        _enqueue(settings, jobs, "bench-worker")
        with httpx.Client() as client:
            worker = Worker(
                Runtime(factory, settings, client), handlers={"bench.noop": _noop}, schedule=(),
                concurrency=concurrency, batch=batch, idle=0.001,
            )  # fmt: skip
            started = time.perf_counter()
            stats = worker.run(threading.Event(), once=True)
            worker_seconds = time.perf_counter() - started
        assert stats.done == jobs, stats

        raw_ids = _enqueue(settings, jobs, "bench-raw")
        update = text("UPDATE jobs SET status = 'done' WHERE id = :id")
        started = time.perf_counter()
        for job_id in raw_ids:
            with engine.begin() as connection:
                connection.execute(update, {"id": job_id})
        raw_seconds = time.perf_counter() - started

        with engine.begin() as connection:
            connection.execute(text("DELETE FROM jobs WHERE kind = 'bench.noop'"))
        engine.dispose()
    return {"worker": jobs / worker_seconds, "raw": jobs / raw_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    figures = run(options.jobs, options.concurrency, options.batch, options.database_url)
    backend = "sqlite" if not options.database_url else options.database_url.split(":", 1)[0]
    print(
        f"jobs ({backend}, concurrency {options.concurrency}, batch {options.batch}): "
        f"worker {figures['worker']:,.0f} jobs/s · raw update {figures['raw']:,.0f} rows/s · "
        f"ratio {figures['worker'] / figures['raw']:.2f}"
    )


def run_figure() -> Figure:
    """The figure for `python -m benchmarks`: 1,000 no-op jobs through the worker on SQLite."""
    figures = run(1000, 4, 16, None)
    return Figure(
        name="jobs",
        value=figures["worker"],
        unit="jobs/s",
        baseline=figures["raw"],
        baseline_name="raw UPDATE",
        note="SQLite, worker concurrency 4, batch 16",
    )


if __name__ == "__main__":
    main()
