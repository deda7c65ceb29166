"""The worker in process: handlers run, failures are recorded (never fatal), periodic slots run once."""

import json
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core import clock, ids
from doorstep.core.hashing import sha256_hex
from doorstep.db import transaction
from doorstep.inbound import service as inbound_service
from doorstep.inbound.models import EventStatus, InboundEvent
from doorstep.jobs import handlers, periodic, queue
from doorstep.jobs.handlers import Runtime
from doorstep.jobs.models import Job
from doorstep.jobs.queue import ClaimedJob
from doorstep.jobs.worker import Worker
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey


@pytest.fixture
def runtime(factory: sessionmaker[Session], settings: Settings) -> Iterator[Runtime]:
    with httpx.Client() as client:
        yield Runtime(factory, settings, client)


def _enqueue(factory: sessionmaker[Session], kind: str, key: str, **fields: object) -> None:
    with transaction(factory) as session:
        queue.enqueue(session, kind=kind, key=key, store_id=None, **fields)  # type: ignore[arg-type]


def _jobs(factory: sessionmaker[Session]) -> dict[str, Job]:
    with transaction(factory) as session:
        return {j.key: j for j in session.scalars(select(Job))}


def test_handlers_run_concurrently_and_failures_are_recorded_not_fatal(
    backend: str, factory: sessionmaker[Session], runtime: Runtime
) -> None:
    seen: list[str] = []
    guard = threading.Lock()

    def record(_: Runtime, job: ClaimedJob) -> None:
        with guard:
            seen.append(job.key)

    def explode(_: Runtime, job: ClaimedJob) -> None:
        raise KeyError(f"missing {job.args['what']}")

    for n in range(20):
        _enqueue(factory, "test.record", f"rec:{n}")
    _enqueue(factory, "test.explode", "boom:1", args={"what": "order"})
    _enqueue(factory, "test.unknown", "unknown:1")
    worker = Worker(
        runtime, handlers={"test.record": record, "test.explode": explode}, schedule=(), concurrency=4
    )
    stats = worker.run(threading.Event(), once=True)

    assert sorted(seen) == sorted(f"rec:{n}" for n in range(20))
    assert (stats.done, stats.failed, stats.lost, stats.errors) == (20, 2, 0, [])
    jobs = _jobs(factory)
    assert {jobs[f"rec:{n}"].status for n in range(20)} == {"done"}
    assert (jobs["boom:1"].status, jobs["boom:1"].last_error) == ("dead", "KeyError: 'missing order'")
    assert jobs["unknown:1"].status == "dead"
    assert jobs["unknown:1"].last_error == "UnknownKind: no handler for job kind 'test.unknown'"
    with transaction(factory) as session:
        [attempt] = queue.attempts_of(session, job_id=jobs["boom:1"].id)
        assert attempt.error == "KeyError: 'missing order'"
        assert attempt.ended_at is not None
        assert attempt.duration_ms is not None


def test_once_runs_a_job_that_a_finishing_handler_enqueued_after_a_claim_found_nothing(
    backend: str, factory: sessionmaker[Session], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The interleaving that once left a fan-out's job behind, forced: the worker claims (finding nothing)
    # while the first handler is still running; the handler then commits a follow-up job and finishes
    # before the worker looks at what is in flight.
    claim_started, handler_done = threading.Event(), threading.Event()
    ran: list[str] = []

    def fan_out(_: Runtime, job: ClaimedJob) -> None:
        assert claim_started.wait(10)
        _enqueue(factory, "test.follow_up", "follow:1")
        ran.append(job.key)

    def follow_up(_: Runtime, job: ClaimedJob) -> None:
        ran.append(job.key)

    worker = Worker(
        runtime, handlers={"test.fan_out": fan_out, "test.follow_up": follow_up}, schedule=(), concurrency=2,
        idle=0.01,
    )  # fmt: skip
    real_claim = worker._claim_tasks
    calls = 0

    def claim(free: int, *, reclaim: bool) -> list[list[ClaimedJob]]:
        nonlocal calls
        calls += 1
        claimed = real_claim(free, reclaim=reclaim)
        if calls == 2:  # the fan-out is in flight; this claim's snapshot predates its follow-up
            assert claimed == []
            claim_started.set()
            deadline = time.monotonic() + 10
            while worker._count() and time.monotonic() < deadline:
                time.sleep(0.005)
            handler_done.set()
        return claimed

    monkeypatch.setattr(worker, "_claim_tasks", claim)
    _enqueue(factory, "test.fan_out", "fan:1")
    stats = worker.run(threading.Event(), once=True)

    assert handler_done.is_set()
    assert ran == ["fan:1", "follow:1"]
    assert (stats.done, stats.errors) == (2, [])
    assert {job.status for job in _jobs(factory).values()} == {"done"}


def test_a_thread_that_finishes_its_batch_takes_the_next_while_another_batch_is_still_running(
    backend: str, factory: sessionmaker[Session], runtime: Runtime
) -> None:
    # Given two threads and batches of 2: the first batch keeps its thread until a third batch starts.
    # Counting the jobs in flight instead of the busy threads, the worker would wait for that first batch
    # to finish before claiming again: the pool drained in lock-step, and here it never would.
    third_started = threading.Event()
    batches: list[list[str]] = []
    guard = threading.Lock()

    def run(_: Runtime, jobs: Sequence[ClaimedJob]) -> handlers.BatchResult:
        with guard:
            batches.append(sorted(job.key for job in jobs))
            order = len(batches)
        if order == 1:
            assert third_started.wait(10), "no batch was claimed while the first was running"
        elif order == 3:
            third_started.set()
        return handlers.BatchResult()

    for n in range(6):
        _enqueue(factory, "test.batched", f"b:{n}")
    worker = Worker(
        runtime, handlers={"test.batched": handlers.Batched(run, size=2)}, schedule=(), concurrency=2,
        idle=0.01,
    )  # fmt: skip
    stats = worker.run(threading.Event(), once=True)

    assert third_started.is_set()
    assert sorted(key for batch in batches for key in batch) == [f"b:{n}" for n in range(6)]
    assert [len(batch) for batch in batches] == [2, 2, 2]
    assert (stats.done, stats.failed, stats.errors) == (6, 0, [])


def test_a_handlers_last_write_commits_with_the_jobs_completion(
    backend: str, factory: sessionmaker[Session], runtime: Runtime
) -> None:
    # given a handler that leaves its last write (here: a follow-up job) to the worker, and one whose
    # last write fails
    def settle_later(_: Runtime, job: ClaimedJob) -> handlers.Settle:
        def settle(session: Session) -> None:
            later = clock.now() + timedelta(hours=1)
            queue.enqueue(session, kind="test.next", key=f"next:{job.key}", store_id=None, run_at=later)

        return settle

    def settle_badly(_: Runtime, job: ClaimedJob) -> handlers.Settle:
        def settle(session: Session) -> None:
            raise ValueError("cannot record that")

        return settle

    _enqueue(factory, "test.later", "later:1")
    _enqueue(factory, "test.bad", "bad:1", max_attempts=1)
    # when the worker runs them
    stats = Worker(runtime, handlers={"test.later": settle_later, "test.bad": settle_badly}, schedule=()).run(
        threading.Event(), once=True
    )

    # then the write is committed with the job's completion, and a failing write fails the run with its reason
    jobs = _jobs(factory)
    assert jobs["later:1"].status == "done"
    assert jobs["next:later:1"].status == "pending"
    assert (jobs["bad:1"].status, jobs["bad:1"].last_error) == ("dead", "ValueError: cannot record that")
    assert (stats.done, stats.failed, stats.errors) == (1, 1, [])


def test_a_retryable_failure_is_scheduled_again(
    backend: str, factory: sessionmaker[Session], runtime: Runtime
) -> None:
    def flaky(_: Runtime, job: ClaimedJob) -> None:
        raise httpx.ConnectError("provider unreachable")

    _enqueue(factory, "test.flaky", "flaky:1")
    Worker(runtime, handlers={"test.flaky": flaky}, schedule=()).run(threading.Event(), once=True)
    job = _jobs(factory)["flaky:1"]
    assert (job.status, job.attempts, job.last_error) == ("failed", 1, "ConnectError: provider unreachable")
    assert job.run_at > job.updated_at


def test_periodic_slots_are_unique_per_name_and_slot(backend: str, factory: sessionmaker[Session]) -> None:
    entry = periodic.Periodic("tracking.poll", timedelta(seconds=30), handlers.poll_tracking)
    at = datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC)
    with transaction(factory) as session:
        assert periodic.schedule_due(session, now=at, entries=(entry,)) == 1
        assert periodic.schedule_due(session, now=at + timedelta(seconds=15), entries=(entry,)) == 0
    # Even after the slot ran, a late worker cannot insert it again.
    with transaction(factory) as session:
        [claimed] = queue.claim(session, owner="w1", limit=5, lease=timedelta(seconds=30), now=at)
        queue.complete(session, claimed, duration_ms=1, now=at)
        assert periodic.schedule_due(session, now=at, entries=(entry,)) == 0
        assert periodic.schedule_due(session, now=at + timedelta(seconds=20), entries=(entry,)) == 1
    assert sorted(_jobs(factory)) == [
        "periodic:tracking.poll:2026-11-23T12:00:00Z",
        "periodic:tracking.poll:2026-11-23T12:00:30Z",
    ]


def test_slots_align_on_the_cadence() -> None:
    at = datetime(2026, 11, 23, 12, 7, 59, tzinfo=UTC)
    assert periodic.slot_start(timedelta(minutes=15), at) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert periodic.slot_start(timedelta(seconds=30), at) == datetime(2026, 11, 23, 12, 7, 30, tzinfo=UTC)


def test_every_periodic_entry_is_a_registered_kind() -> None:
    assert {p.name: p.handler for p in periodic.PERIODIC} == {
        "tracking.poll": handlers.HANDLERS["tracking.poll"],
        "tracking.sweep": handlers.HANDLERS["tracking.sweep"],
        "returns.advance": handlers.HANDLERS["returns.advance"],
        "returns.refunds": handlers.HANDLERS["returns.refunds"],
    }


def test_the_default_worker_runs_the_tracking_jobs_once(
    backend: str, factory: sessionmaker[Session], runtime: Runtime
) -> None:
    stats = Worker(runtime).run(threading.Event(), once=True)
    jobs = _jobs(factory)
    assert sorted(j.kind for j in jobs.values()) == [
        "returns.advance", "returns.refunds", "tracking.poll", "tracking.sweep",
    ]  # fmt: skip
    assert {j.status for j in jobs.values()} == {"done"}
    assert (stats.done, stats.errors) == (4, [])


def test_inbound_apply_applies_a_recorded_event(
    backend: str, factory: sessionmaker[Session], runtime: Runtime, store: StoreWithKey
) -> None:
    body = json.dumps(order_body(1)).encode()
    with transaction(factory) as session:
        event = InboundEvent(
            public_id=ids.new_id("evt"), store_id=store.id, source="api", topic="orders.create",
            idempotency_key="async-1", payload_hash=sha256_hex(body), body=body, headers={}, params={},
            received_at=clock.now(), status=EventStatus.received.value,
        )  # fmt: skip
        session.add(event)
        session.flush()
        queue.enqueue(
            session, kind="inbound.apply", key=f"inbound.apply:{event.public_id}", store_id=store.id,
            args={"event_id": event.public_id},
        )  # fmt: skip
        event_id = event.public_id
    stats = Worker(runtime, schedule=()).run(threading.Event(), once=True)
    # Applying the order also wrote its notification jobs (the transactional outbox); the worker may run them
    # in the same pass, so count the inbound job itself.
    assert stats.errors == []
    assert _jobs(factory)[f"inbound.apply:{event_id}"].status == "done"
    with transaction(factory) as session:
        applied = inbound_service.get_event(session, event_id=event_id)
        assert (applied.status, applied.milestones) == ("applied", ["order.placed"])
