"""The queue against real SQLite and PostgreSQL: enqueue, claim, leases, heartbeats, retries, cancel, locks.

Time is passed explicitly (``now=``), so leases expire without sleeping.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.jobs import queue
from doorstep.jobs.models import Job, JobAttempt, JobStatus
from tests.factories.stores import StoreWithKey

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def _enqueue(factory: sessionmaker[Session], key: str, **fields: object) -> bool:
    values: dict[str, object] = {"kind": "test.kind", "store_id": None, "run_at": T0, "args": {"n": 1}}
    values.update(fields)
    with transaction(factory) as session:
        return queue.enqueue(session, key=key, **values)  # type: ignore[arg-type]


def _claim(
    factory: sessionmaker[Session], owner: str = "w1", limit: int = 10, now: datetime = T0
) -> list[queue.ClaimedJob]:
    with transaction(factory) as session:
        return queue.claim(session, owner=owner, limit=limit, lease=LEASE, now=now)


def _job(factory: sessionmaker[Session], key: str) -> Job:
    with transaction(factory) as session:
        return session.scalars(select(Job).where(Job.key == key).order_by(Job.id.desc())).first()  # type: ignore[return-value]


def test_enqueue_is_idempotent_on_the_key_while_the_job_is_live(
    backend: str, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    assert _enqueue(factory, "msg:shp_1:shipment.delivered:email", store_id=store.id)
    assert not _enqueue(factory, "msg:shp_1:shipment.delivered:email", store_id=store.id, args={"n": 2})
    [claimed] = _claim(factory)
    assert claimed.args == {"n": 1}
    assert not _enqueue(factory, "msg:shp_1:shipment.delivered:email")  # running: still live
    with transaction(factory) as session:
        queue.complete(session, claimed, duration_ms=1, now=T0)
    # Once done, the key is free again (a new fact may need a new job).
    assert _enqueue(factory, "msg:shp_1:shipment.delivered:email")


def test_enqueue_joins_the_callers_transaction(backend: str, factory: sessionmaker[Session]) -> None:
    def change_state_then_fail() -> None:
        with transaction(factory) as session:
            queue.enqueue(session, kind="test.kind", key="k:rolled-back", store_id=None, run_at=T0)
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        change_state_then_fail()
    assert _claim(factory) == []


def test_claim_takes_due_jobs_by_priority_then_time_and_records_an_attempt(
    backend: str, factory: sessionmaker[Session]
) -> None:
    _enqueue(factory, "k:late", run_at=T0 + timedelta(minutes=5))
    _enqueue(factory, "k:low", run_at=T0 - timedelta(minutes=1))
    _enqueue(factory, "k:high", run_at=T0, priority=10)
    claimed = _claim(factory, limit=5)
    assert sorted(j.key for j in claimed) == ["k:high", "k:low"]
    assert _claim(factory, owner="w2") == []  # nothing else is due
    job = _job(factory, "k:high")
    assert (job.status, job.lease_owner, job.attempts) == ("running", "w1", 1)
    assert job.lease_expires_at == T0 + LEASE
    with transaction(factory) as session:
        [attempt] = queue.attempts_of(session, job_id=job.id)
        assert (attempt.attempt, attempt.worker, attempt.ended_at) == (1, "w1", None)


def test_claim_respects_the_batch_limit(backend: str, factory: sessionmaker[Session]) -> None:
    for n in range(5):
        _enqueue(factory, f"k:{n}")
    assert len(_claim(factory, limit=3)) == 3
    assert len(_claim(factory, owner="w2", limit=3)) == 2


def test_an_expired_lease_is_reclaimed_and_the_old_owner_cannot_finish(
    backend: str, factory: sessionmaker[Session]
) -> None:
    _enqueue(factory, "k:1")
    [first] = _claim(factory, owner="dead-worker")
    assert _claim(factory, owner="w2", now=T0 + LEASE - timedelta(seconds=1)) == []
    [second] = _claim(factory, owner="w2", now=T0 + LEASE + timedelta(seconds=1))
    assert (second.id, second.attempt) == (first.id, 2)
    with transaction(factory) as session:
        assert not queue.complete(session, first, duration_ms=5, now=T0 + timedelta(minutes=1))
        assert queue.complete(session, second, duration_ms=5, now=T0 + timedelta(minutes=1))
    job = _job(factory, "k:1")
    assert (job.status, job.attempts) == ("done", 2)
    with transaction(factory) as session:
        attempts = queue.attempts_of(session, job_id=job.id)
    assert [(a.worker, a.error) for a in attempts] == [
        ("dead-worker", "lease expired: the worker stopped heartbeating"),
        ("w2", None),
    ]


def test_complete_many_finishes_the_runs_still_held_and_leaves_a_lost_one_to_its_new_owner(
    backend: str, factory: sessionmaker[Session]
) -> None:
    for n in range(3):
        _enqueue(factory, f"k:{n}")
    held = _claim(factory, owner="w1")
    assert len(held) == 3
    kept, lost = held[:2], held[2]
    with transaction(factory) as session:  # w1 keeps two leases; the third runs out
        queue.heartbeat(session, owner="w1", job_ids=[j.id for j in kept], lease=LEASE, now=T0 + LEASE / 2)
    [taken] = _claim(factory, owner="w2", now=T0 + LEASE + timedelta(seconds=1))
    assert (taken.id, taken.attempt) == (lost.id, 2)
    with transaction(factory) as session:
        ours = queue.complete_many(session, held, duration_ms=7, now=T0 + LEASE + timedelta(seconds=2))
    assert ours == {j.id for j in kept}
    assert [(_job(factory, f"k:{n}").status, _job(factory, f"k:{n}").lease_owner) for n in range(3)] == [
        ("done", None), ("done", None), ("running", "w2"),
    ]  # fmt: skip
    with transaction(factory) as session:
        ended = {
            (a.job_id, a.attempt): a.duration_ms
            for a in session.scalars(select(JobAttempt).where(JobAttempt.ended_at.is_not(None)))
        }
        running = session.scalars(select(JobAttempt).where(JobAttempt.ended_at.is_(None))).all()
    assert {key: ended[key] for key in ((j.id, 1) for j in kept)} == {(j.id, 1): 7 for j in kept}
    assert [(a.job_id, a.attempt) for a in running] == [(lost.id, 2)]


def test_a_heartbeat_keeps_the_lease(backend: str, factory: sessionmaker[Session]) -> None:
    _enqueue(factory, "k:1")
    [claimed] = _claim(factory)
    with transaction(factory) as session:
        assert (
            queue.heartbeat(session, owner="w1", job_ids=[claimed.id], lease=LEASE, now=T0 + LEASE / 2) == 1
        )
        assert queue.heartbeat(session, owner="intruder", job_ids=[claimed.id], lease=LEASE, now=T0) == 0
    assert _claim(factory, owner="w2", now=T0 + LEASE + timedelta(seconds=1)) == []
    assert len(_claim(factory, owner="w2", now=T0 + LEASE * 2)) == 1


def test_a_failure_waits_for_its_retry_then_max_attempts_makes_it_dead_with_the_reason(
    backend: str, factory: sessionmaker[Session]
) -> None:
    _enqueue(factory, "k:1", max_attempts=2)
    [claimed] = _claim(factory)
    with transaction(factory) as session:
        queue.fail(
            session,
            claimed,
            error="ConnectError: refused",
            retry_at=T0 + timedelta(seconds=20),
            duration_ms=3,
        )
    job = _job(factory, "k:1")
    assert (job.status, job.last_error, job.run_at) == (
        "failed",
        "ConnectError: refused",
        T0 + timedelta(seconds=20),
    )
    assert not _enqueue(factory, "k:1")  # still live while it waits to retry
    assert _claim(factory, now=T0 + timedelta(seconds=19)) == []
    [again] = _claim(factory, now=T0 + timedelta(seconds=20))
    assert again.attempt == 2
    with transaction(factory) as session:
        queue.fail(session, again, error="ConnectError: refused again", retry_at=None, duration_ms=3)
    job = _job(factory, "k:1")
    assert (job.status, job.last_error, job.attempts) == ("dead", "ConnectError: refused again", 2)
    with transaction(factory) as session:
        errors = [a.error for a in queue.attempts_of(session, job_id=job.id)]
    assert errors == ["ConnectError: refused", "ConnectError: refused again"]


def test_a_lease_expiring_on_the_last_attempt_makes_the_job_dead(
    backend: str, factory: sessionmaker[Session]
) -> None:
    _enqueue(factory, "k:1", max_attempts=1)
    _claim(factory, owner="dead-worker")
    assert _claim(factory, owner="w2", now=T0 + LEASE * 2) == []
    job = _job(factory, "k:1")
    assert job.status == "dead"
    assert job.last_error == "lease expired: worker dead-worker stopped heartbeating"


def test_cancel_by_key_and_by_prefix_leaves_running_and_other_jobs(
    backend: str, factory: sessionmaker[Session]
) -> None:
    for key in ("msg:shp_1:a", "msg:shp_1:b", "msg:shp_10:a", "msg:shp_2:a", "msg_shp_1:x"):
        _enqueue(factory, key)
    _enqueue(factory, "msg:shp_1:running", run_at=T0 - timedelta(hours=1), priority=99)
    [running] = _claim(factory, limit=1)
    assert running.key == "msg:shp_1:running"
    with transaction(factory) as session:
        assert queue.cancel(session, key="msg:shp_2:a") == 1
        assert queue.cancel(session, prefix="msg:shp_1:") == 2  # not shp_10, not the running one
    statuses = {
        k: _job(factory, k).status
        for k in ("msg:shp_1:a", "msg:shp_1:b", "msg:shp_10:a", "msg:shp_2:a", "msg_shp_1:x")
    }
    assert statuses == {
        "msg:shp_1:a": "cancelled", "msg:shp_1:b": "cancelled", "msg:shp_10:a": "pending",
        "msg:shp_2:a": "cancelled", "msg_shp_1:x": "pending",
    }  # fmt: skip
    assert _job(factory, "msg:shp_1:running").status == "running"


def test_cancel_prefix_wildcards_are_literal(backend: str, factory: sessionmaker[Session]) -> None:
    _enqueue(factory, "a_b:1")
    _enqueue(factory, "axb:1")
    with transaction(factory) as session:
        assert queue.cancel(session, prefix="a_b") == 1
    assert _job(factory, "axb:1").status == "pending"


def test_jobs_sharing_a_lock_run_one_at_a_time_in_order(backend: str, factory: sessionmaker[Session]) -> None:
    for n in range(3):
        _enqueue(factory, f"msg:shp_1:{n}", lock="shp_1", run_at=T0 + timedelta(seconds=n - 10))
    _enqueue(factory, "msg:shp_2:0", lock="shp_2")
    first = _claim(factory, limit=10)
    assert sorted(j.key for j in first) == ["msg:shp_1:0", "msg:shp_2:0"]
    assert _claim(factory, owner="w2", limit=10) == []  # shp_1's next waits for the running one
    by_key = {j.key: j for j in first}
    with transaction(factory) as session:
        queue.complete(session, by_key["msg:shp_1:0"], duration_ms=1)
    assert [j.key for j in _claim(factory, owner="w2", limit=10)] == ["msg:shp_1:1"]


def test_retry_requeues_a_dead_job_with_fresh_attempts(backend: str, factory: sessionmaker[Session]) -> None:
    _enqueue(factory, "k:1", max_attempts=1)
    [claimed] = _claim(factory)
    with transaction(factory) as session:
        queue.fail(session, claimed, error="KeyError: 'x'", retry_at=None, duration_ms=1)
        job = queue.retry(session, job_id=claimed.public_id, now=T0)
        assert (job.status, job.attempts) == ("pending", 0)
    [again] = _claim(factory)
    assert again.attempt == 1


def test_attempt_rows_cascade_with_their_job(backend: str, factory: sessionmaker[Session]) -> None:
    _enqueue(factory, "k:1")
    _claim(factory)
    with transaction(factory) as session:
        assert len(list(session.scalars(select(JobAttempt)))) == 1
        assert JobStatus.running in {JobStatus(j.status) for j in session.scalars(select(Job))}
