"""A worker process for the multi-process tests: the real Worker plus one test-only job kind.

``test.effect`` records each execution in ``test_job_runs`` (start and end), then makes its effect: a row in
``test_job_effects`` whose primary key is the job key, committed before the job is marked done (like a send
recorded before the bookkeeping). A repeated run hits the unique key, and the prevented duplicate is counted
in ``test_job_duplicates``. Run as ``python -m tests.jobs.worker_process URL --lease 1 --sleep 0.05``.
"""

import argparse
import signal
import sys
import threading
import time
from datetime import timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from doorstep.config import Settings
from doorstep.db import make_engine, make_session_factory, transaction
from doorstep.jobs.handlers import Runtime
from doorstep.jobs.queue import ClaimedJob
from doorstep.jobs.worker import Worker

TABLES = (
    "CREATE TABLE test_job_runs (id SERIAL PRIMARY KEY, job_key TEXT NOT NULL, worker TEXT NOT NULL,"
    " started DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION)",
    "CREATE TABLE test_job_effects (job_key TEXT PRIMARY KEY, worker TEXT NOT NULL)",
    "CREATE TABLE test_job_duplicates (id SERIAL PRIMARY KEY, job_key TEXT NOT NULL, worker TEXT NOT NULL)",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--sleep", type=float, default=0.0)
    options = parser.parse_args()

    factory = make_session_factory(
        make_engine(Settings(database_url=options.url), pool_size=options.concurrency + 2)
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def effect(runtime: Runtime, job: ClaimedJob) -> None:
        with transaction(runtime.factory) as session:
            run_id = session.execute(
                text("INSERT INTO test_job_runs (job_key, worker, started) VALUES (:k, :w, :t) RETURNING id"),
                {"k": job.key, "w": job.owner, "t": time.time()},
            ).scalar_one()
        try:
            with transaction(runtime.factory) as session:
                session.execute(
                    text("INSERT INTO test_job_effects (job_key, worker) VALUES (:k, :w)"),
                    {"k": job.key, "w": job.owner},
                )
        except IntegrityError:
            with transaction(runtime.factory) as session:
                session.execute(
                    text("INSERT INTO test_job_duplicates (job_key, worker) VALUES (:k, :w)"),
                    {"k": job.key, "w": job.owner},
                )
        time.sleep(options.sleep)  # the rest of the work, after the effect: a kill here leaves it unfinished
        with transaction(runtime.factory) as session:
            session.execute(
                text("UPDATE test_job_runs SET ended = :t WHERE id = :id"), {"t": time.time(), "id": run_id}
            )

    with httpx.Client() as client:
        worker = Worker(
            Runtime(factory, Settings(database_url=options.url), client),
            handlers={"test.effect": effect}, schedule=(), concurrency=options.concurrency,
            lease=timedelta(seconds=options.lease), idle=0.02,
        )  # fmt: skip
        sys.stdout.write(f"ready {worker.owner}\n")
        sys.stdout.flush()
        stats = worker.run(stop)
    sys.stdout.write(
        f"stopped done={stats.done} failed={stats.failed} lost={stats.lost} errors={stats.errors}\n"
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
