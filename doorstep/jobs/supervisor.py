"""Several worker processes under one command: ``doorstep worker --processes N`` (PostgreSQL only).

Python runs one thread at a time in a process, so a worker uses about one core whatever its concurrency.
More processes use more cores: each child is a whole worker (its own connections and threads), and the
claims' ``FOR UPDATE SKIP LOCKED`` give them disjoint jobs. Children are spawned, not forked, so none
inherits the parent's connections or threads. Only the first inserts periodic slots (the others would
find them taken).

SIGINT and SIGTERM are passed on, and the supervisor waits while the children finish what they hold. A
child that dies (killed, out of memory) is started again after a pause that doubles while it keeps dying
young; the jobs it held come back when their leases expire, so nothing is lost. With ``once`` nothing is
restarted: the supervisor returns when every child has, and fails if one did. A child whose supervisor
is gone (killed with SIGKILL) finishes what it holds and stops, rather than run on unsupervised.
"""

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from multiprocessing.process import BaseProcess

import httpx
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core import heap
from doorstep.db import make_engine, make_session_factory
from doorstep.jobs import handlers
from doorstep.jobs.periodic import PERIODIC
from doorstep.jobs.worker import Stats, Worker

YOUNG = 10.0  # seconds: a child that dies sooner waits longer before the next start
FIRST_PAUSE, LONGEST_PAUSE = 1.0, 30.0  # seconds before restarting a dead child


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker process runs (the ``doorstep worker`` options)."""

    concurrency: int = 4
    batch: int | None = None
    batch_size: int | None = None
    lease: timedelta = timedelta(seconds=60)
    idle: float = 1.0
    periodic: bool = True
    once: bool = False


def run_worker(
    factory: sessionmaker[Session],
    settings: Settings,
    options: WorkerOptions,
    stop: threading.Event,
    announce: Callable[[str], None],
) -> Stats:
    """One worker in this process until ``stop`` is set (or, with ``once``, until nothing is due)."""
    with httpx.Client(timeout=30.0) as client:
        worker = Worker(
            handlers.Runtime(factory, settings, client), concurrency=options.concurrency, batch=options.batch,
            batch_size=options.batch_size, lease=options.lease, idle=options.idle,
            schedule=PERIODIC if options.periodic else (),
        )  # fmt: skip
        if not options.once:  # a long-running worker; a one-shot run has no pauses to avoid
            heap.settle()
        announce(f"worker {worker.owner} started (concurrency {options.concurrency})")
        stats = worker.run(stop, once=options.once)
    announce(
        f"worker {worker.owner} stopped: {stats.done} done, {stats.failed} failed, {stats.lost} lease(s) lost, "
        f"{len(stats.errors)} database error(s)"
    )
    return stats


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def configure_logging(settings: Settings) -> None:
    """A worker process's log lines (the command's, and each spawned child's: they inherit none of it)."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


def _child(settings: Settings, options: WorkerOptions) -> None:
    """A spawned child's entry point: a whole worker that stops on SIGINT or SIGTERM."""
    configure_logging(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(), stop), daemon=True).start()
    engine = make_engine(settings)
    try:
        run_worker(make_session_factory(engine), settings, options, stop, _to_stderr)
    finally:
        engine.dispose()


def _stop_when_orphaned(parent: int, stop: threading.Event, every: float = 1.0) -> None:
    """Stop this child when its supervisor is gone (killed with SIGKILL, it could not pass a signal on):
    a worker nobody supervises would run on unseen."""
    while not stop.wait(every):
        if os.getppid() != parent:
            stop.set()


@dataclass
class _Slot:
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    pause: float = FIRST_PAUSE
    restart_at: float | None = None
    exitcode: int | None = None


class Supervisor:
    """Runs ``processes`` worker children and keeps them running (see the module's docstring)."""

    def __init__(
        self, settings: Settings, options: WorkerOptions, processes: int, announce: Callable[[str], None]
    ) -> None:
        if settings.is_sqlite and processes > 1:
            raise ValueError(
                "--processes needs PostgreSQL: SQLite has one writer at a time. Run one worker and raise "
                "--concurrency instead, or set DOORSTEP_DATABASE_URL to a PostgreSQL database."
            )
        self.settings, self.options, self.announce = settings, options, announce
        self._slots = [_Slot(index) for index in range(processes)]
        self._spawn = multiprocessing.get_context("spawn")

    def run(self, stop: threading.Event, *, poll: float = 0.2) -> int:
        """Run the children until ``stop`` is set (or, with ``once``, until they are done); the exit code."""
        for slot in self._slots:
            self._start(slot)
        try:
            while not stop.wait(poll):
                now = time.monotonic()
                for slot in self._slots:
                    self._tend(slot, now)
                if self.options.once and all(slot.process is None for slot in self._slots):
                    break
        finally:
            self._stop_all()
        failed = [slot.index for slot in self._slots if slot.exitcode not in (None, 0)]
        if self.options.once and failed:
            self.announce(f"worker process(es) {failed} failed")
            return 1
        return 0

    def _start(self, slot: _Slot) -> None:
        # Only the first child schedules periodic jobs; the others would only find the slots taken.
        options = replace(self.options, periodic=self.options.periodic and slot.index == 0)
        process = self._spawn.Process(
            target=_child, args=(self.settings, options), name=f"doorstep-worker-{slot.index}", daemon=False
        )
        process.start()
        slot.process, slot.started, slot.restart_at, slot.exitcode = process, time.monotonic(), None, None

    def _tend(self, slot: _Slot, now: float) -> None:
        """Notice a child that ended; restart it when its pause is over (never with ``once``)."""
        if slot.process is not None and not slot.process.is_alive():
            slot.process.join()
            slot.exitcode = slot.process.exitcode
            lived = now - slot.started
            slot.process = None
            if self.options.once:
                return
            slot.pause = min(slot.pause * 2, LONGEST_PAUSE) if lived < YOUNG else FIRST_PAUSE
            slot.restart_at = now + slot.pause
            self.announce(
                f"worker process {slot.index} ended (exit code {slot.exitcode}) after {lived:.0f} s; "
                f"starting it again in {slot.pause:.0f} s"
            )
        if slot.process is None and slot.restart_at is not None and now >= slot.restart_at:
            self._start(slot)

    def _stop_all(self) -> None:
        """SIGTERM every child, then wait while they finish their jobs (SIGKILL after a lease: by then
        their jobs are free to be claimed again anyway)."""
        running = [slot for slot in self._slots if slot.process is not None and slot.process.is_alive()]
        for slot in running:
            assert slot.process is not None
            slot.process.terminate()
        deadline = time.monotonic() + self.options.lease.total_seconds()
        for slot in running:
            assert slot.process is not None
            slot.process.join(max(deadline - time.monotonic(), 0.1))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.exitcode = slot.process.exitcode
