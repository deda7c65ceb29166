"""The worker: claim due jobs in batches, run them on a thread pool, heartbeat, record each outcome.

One loop per process: insert the current periodic slots, claim work for the free threads (reclaiming
expired leases on the way), hand it to the pool, and wait. A thread runs one job, or a batch of jobs of a
kind whose handler is :class:`~doorstep.jobs.handlers.Batched` (``message.send``): the batch's
completion is recorded in one transaction, together with its last write. A heartbeat thread extends the
leases of the jobs in flight. A handler that raises never takes the worker down: the failure is recorded
on the job and its attempt row with the reason, and :mod:`doorstep.jobs.retry` decides what comes next.
Execution is at least once (a worker that dies leaves jobs whose leases expire and are claimed again);
effects are made exactly once by unique keys on what they write.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from doorstep.core import clock
from doorstep.db import transaction
from doorstep.jobs import periodic, queue, retry
from doorstep.jobs.handlers import HANDLERS, Batched, BatchResult, Handler, Runtime, Settle
from doorstep.jobs.queue import ClaimedJob

log = logging.getLogger("doorstep.jobs")

MIN_BATCH = 8  # jobs: a batched kind is not split across threads into batches smaller than this


class UnknownKind(LookupError):
    """A job whose kind no handler is registered for (not retried: deploy the handler, then retry it)."""


@dataclass
class Stats:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    lost: int = 0  # finished after the lease had passed to another run
    errors: list[str] = field(default_factory=list)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        *,
        handlers: Mapping[str, Handler] = HANDLERS,
        schedule: tuple[periodic.Periodic, ...] = periodic.PERIODIC,
        concurrency: int = 4,
        batch: int | None = None,
        batch_size: int | None = None,
        lease: timedelta = timedelta(seconds=60),
        idle: float = 1.0,
        owner: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.handlers = dict(handlers)
        self._batched = frozenset(
            kind for kind, handler in self.handlers.items() if isinstance(handler, Batched)
        )
        self.schedule = schedule
        self.concurrency = concurrency
        self.batch = batch or concurrency
        self.batch_size = batch_size  # most jobs of a batched kind per thread (None: the handler's size)
        self.lease = lease
        self.idle = idle
        self.owner = owner or worker_id()
        self.stats = Stats()
        self._in_flight: dict[int, ClaimedJob] = {}  # every job claimed and not yet recorded (heartbeats)
        self._tasks = 0  # tasks handed to the pool and not finished: what occupies (or waits for) a thread
        self._guard = threading.Lock()
        self._freed = threading.Event()

    def run(self, stop: threading.Event, *, once: bool = False) -> Stats:
        """Run until ``stop`` is set; with ``once``, until no job is due and none is in flight."""
        beating = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(beating,), name="jobs-heartbeat", daemon=True)
        heart.start()
        next_schedule = next_reclaim = 0.0
        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="jobs") as pool:
                while not stop.is_set():
                    now = time.monotonic()
                    if self.schedule and now >= next_schedule:
                        self._schedule_periodic()
                        next_schedule = now + 1.0
                    reclaim = now >= next_reclaim
                    if reclaim:
                        next_reclaim = now + max(self.lease.total_seconds() / 3, 0.05)
                    # Claim whenever a thread is free; the pool queues what it cannot start yet (those
                    # jobs are leased and heartbeaten like the running ones). Tasks are counted, not jobs:
                    # a thread that finishes its batch gets the next one at once, while the others are
                    # still sending theirs, so deciding (CPU) and sending (waiting on the network)
                    # overlap instead of the whole pool draining before it is refilled.
                    # ``busy`` is counted before claiming: a job in flight during the claim may commit new
                    # due jobs after the claim's snapshot and then finish, so "nothing claimed, nothing in
                    # flight now" alone would end ``once`` with those jobs left behind.
                    busy = self._count()
                    claimed = (
                        self._claim_tasks(self.concurrency - busy, reclaim=reclaim)
                        if busy < self.concurrency
                        else []
                    )
                    for task in claimed:
                        with self._guard:
                            for job in task:
                                self._in_flight[job.id] = job
                            self._tasks += 1
                        pool.submit(self._run_task, task)
                    if once and not claimed and busy == 0:
                        break
                    if not claimed or self._count() >= self.concurrency:
                        self._freed.wait(self.idle)
                        self._freed.clear()
                # Leaving the pool's context waits for the jobs in flight; their heartbeats continue.
        finally:
            beating.set()
            heart.join()
        return self.stats

    def _count(self) -> int:
        with self._guard:
            return self._tasks

    def _schedule_periodic(self) -> None:
        try:
            with transaction(self.runtime.factory) as session:
                periodic.schedule_due(session, now=clock.now(), entries=self.schedule)
        except SQLAlchemyError as exc:
            self._note(f"scheduling periodic jobs failed: {retry.describe(exc)}")

    def _claim_tasks(self, free: int, *, reclaim: bool) -> list[list[ClaimedJob]]:
        """Claim work for ``free`` threads, as tasks: one job each, or a batch of a batched kind.

        Kinds run one at a time are claimed first (up to ``batch`` jobs, as ever); threads still free then
        take batched kinds, up to ``size`` jobs per thread, split evenly but never into batches smaller
        than :data:`MIN_BATCH` (a batch's reads cost the same for 2 jobs as for 32)."""
        batched = self._batched
        try:
            with transaction(self.runtime.factory) as session:
                singles = queue.claim(
                    session, owner=self.owner, limit=self.batch, lease=self.lease, reclaim=reclaim,
                    other_kinds=batched,
                )  # fmt: skip
                room = free - len(singles)
                largest = max((self._size(kind) for kind in batched), default=0)
                many = (
                    queue.claim(
                        session,
                        owner=self.owner,
                        limit=room * largest,
                        lease=self.lease,
                        reclaim=False,
                        kinds=batched,
                    )
                    if batched and room > 0
                    else []
                )
        except IntegrityError:
            # Another worker took a job with the same lock between our snapshot and our update.
            return []
        except SQLAlchemyError as exc:
            self._note(f"claiming failed: {retry.describe(exc)}")
            return []
        self.stats.claimed += len(singles) + len(many)
        tasks = [[job] for job in singles]
        by_kind: dict[str, list[ClaimedJob]] = {}
        for job in many:
            by_kind.setdefault(job.kind, []).append(job)
        for kind, jobs in by_kind.items():
            size = self._size(kind)
            per = min(size, max(min(MIN_BATCH, size), -(-len(jobs) // max(room, 1))))
            tasks += [jobs[i : i + per] for i in range(0, len(jobs), per)]
        return tasks

    def _size(self, kind: str) -> int:
        handler = self.handlers[kind]
        if not isinstance(handler, Batched):
            return 1
        return min(handler.size, self.batch_size) if self.batch_size else handler.size

    def _run_task(self, jobs: list[ClaimedJob]) -> None:
        try:
            handler = self.handlers.get(jobs[0].kind)
            if isinstance(handler, Batched):
                self._run_batch(handler, jobs)
            else:
                self._run(jobs[0])
        finally:
            with self._guard:
                for job in jobs:
                    self._in_flight.pop(job.id, None)
                self._tasks -= 1
            self._freed.set()

    def _run_batch(self, handler: Batched, jobs: list[ClaimedJob]) -> None:
        started = time.monotonic()
        result = self._call_batch(handler, jobs)
        try:
            self._record_batch(jobs, started, result)
        except Exception as error:
            if result.settle is None:
                raise
            # The batch's last write failed (a bug, not the database): record it as each done job's failure.
            errors = {job.id: result.errors.get(job.id, error) for job in jobs}
            self._record_batch(jobs, started, BatchResult(errors=errors))

    def _call_batch(self, handler: Batched, jobs: list[ClaimedJob]) -> BatchResult:
        try:
            return handler.run(self.runtime, jobs)
        except Exception as exc:  # the whole batch failed: recorded on every job; the worker carries on
            return BatchResult(errors={job.id: exc for job in jobs})

    def _record_batch(self, jobs: list[ClaimedJob], started: float, result: BatchResult) -> None:
        duration_ms = int((time.monotonic() - started) * 1000)
        now = clock.now()
        done = [job for job in jobs if job.id not in result.errors]
        failed: list[tuple[ClaimedJob, bool]] = []
        try:
            with transaction(self.runtime.factory) as session:
                if result.settle is not None and done:
                    result.settle(session)
                ours = queue.complete_many(session, done, duration_ms=duration_ms, now=now)
                for job in jobs:
                    exc = result.errors.get(job.id)
                    if exc is not None:
                        failed.append((job, self._fail(session, job, exc, duration_ms=duration_ms, now=now)))
        except SQLAlchemyError as error:
            # The leases run out and the jobs are claimed again: at least once, never lost.
            self._note(f"recording {len(jobs)} {jobs[0].kind} jobs failed: {retry.describe(error)}")
            return
        with self._guard:
            self.stats.done += len(ours)
            self.stats.lost += len(done) - len(ours) + sum(1 for _, mine in failed if not mine)
            self.stats.failed += sum(1 for _, mine in failed if mine)

    def _run(self, job: ClaimedJob) -> None:
        self._finish(job, time.monotonic(), *self._call(job))

    def _call(self, job: ClaimedJob) -> tuple[Exception | None, Settle | None]:
        """Run the handler; its exception (any) is returned to be recorded, never raised, and so is the
        last write it left for :meth:`_finish` to commit."""
        handler = self.handlers.get(job.kind)
        if handler is None:
            return UnknownKind(f"no handler for job kind {job.kind!r}"), None
        assert not isinstance(handler, Batched), "batched kinds run through _run_batch"
        try:
            return None, handler(self.runtime, job)
        except Exception as exc:  # recorded on the job and its attempt; the worker carries on
            return exc, None

    def _finish(
        self, job: ClaimedJob, started: float, exc: Exception | None, settle: Settle | None = None
    ) -> None:
        """Record the outcome; a handler's last write commits in the same transaction as ``done``."""
        try:
            self._record(job, started, exc, settle)
        except Exception as error:
            if settle is None:
                raise
            # The handler's last write failed (a bug, not the database): record it as the run's failure.
            self._finish(job, started, error)

    def _record(self, job: ClaimedJob, started: float, exc: Exception | None, settle: Settle | None) -> None:
        duration_ms = int((time.monotonic() - started) * 1000)
        now = clock.now()
        try:
            with transaction(self.runtime.factory) as session:
                if exc is None:
                    if settle is not None:
                        settle(session)
                    ours = queue.complete(session, job, duration_ms=duration_ms, now=now)
                else:
                    ours = self._fail(session, job, exc, duration_ms=duration_ms, now=now)
        except SQLAlchemyError as error:
            # The lease runs out and the job is claimed again: at least once, never lost.
            self._note(f"recording {job.public_id} failed: {retry.describe(error)}")
            return
        if not ours:
            self.stats.lost += 1
        elif exc is None:
            self.stats.done += 1
        else:
            self.stats.failed += 1

    @staticmethod
    def _fail(session: Session, job: ClaimedJob, exc: Exception, *, duration_ms: int, now: datetime) -> bool:
        """Record a run's failure and when it runs again (:mod:`retry` decides); False if the lease was lost."""
        retry_at = retry.next_run(exc, attempts=job.attempt, max_attempts=job.max_attempts, now=now)
        reason = retry.describe(exc)
        log.warning("job %s (%s) failed: %s", job.public_id, job.kind, reason)
        return queue.fail(session, job, error=reason, retry_at=retry_at, duration_ms=duration_ms, now=now)

    def _heartbeat(self, stop: threading.Event) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not stop.wait(interval):
            with self._guard:
                job_ids = list(self._in_flight)
            if not job_ids:
                continue
            try:
                with transaction(self.runtime.factory) as session:
                    queue.heartbeat(session, owner=self.owner, job_ids=job_ids, lease=self.lease)
            except SQLAlchemyError as exc:
                self._note(f"heartbeat failed: {retry.describe(exc)}")

    def _note(self, message: str) -> None:
        log.error(message)
        with self._guard:
            self.stats.errors.append(message)
