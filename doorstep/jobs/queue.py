"""The queue: enqueue (in the caller's transaction), claim, heartbeat, finish, cancel and retry.

Claiming is one named query per backend, typed ``LiteralString``: on PostgreSQL
``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``, so any number of workers take
disjoint batches; on SQLite the same UPDATE … RETURNING without the lock clause, under the
``BEGIN IMMEDIATE`` every transaction starts with (one writer at a time). Expired leases (a worker that
died) are reclaimed in the same transaction. Every finishing write is fenced by (owner, attempt), so a
worker that lost its lease cannot overwrite the outcome of the run that replaced it.

The queue works across stores by design and carries ids only: it imports no domain service (rule R5).
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, LiteralString, cast

from sqlalchemy import (
    JSON,
    Integer,
    Select,
    String,
    Table,
    TextClause,
    bindparam,
    column,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, NotFound
from doorstep.core.pagination import paginate
from doorstep.db import UtcDateTime
from doorstep.jobs.models import LIVE, Job, JobAttempt, JobStatus

DEFAULT_MAX_ATTEMPTS = 5

# --- named queries ---------------------------------------------------------------------------------

CLOSE_EXPIRED_ATTEMPTS: LiteralString = """
UPDATE job_attempts
SET ended_at = :now, updated_at = :now, error = 'lease expired: the worker stopped heartbeating'
WHERE ended_at IS NULL
  AND job_id IN (SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < :now)
"""

RECLAIM_EXPIRED: LiteralString = """
UPDATE jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
    finished_at = CASE WHEN attempts >= max_attempts THEN :now ELSE NULL END,
    last_error = 'lease expired: worker ' || lease_owner || ' stopped heartbeating',
    lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
WHERE status = 'running' AND lease_expires_at < :now
RETURNING id
"""

# Due jobs, highest priority first; of the jobs sharing a lock only the first due one, and none while
# one of them runs (the unique index uq_jobs_lock_running guarantees it against races).
_DUE: LiteralString = """
SELECT j.id FROM jobs AS j
WHERE j.status IN ('pending', 'failed') AND j.run_at <= :now{kinds}
  AND (j.lock IS NULL OR NOT EXISTS (
    SELECT 1 FROM jobs AS k
    WHERE k.lock = j.lock AND k.id <> j.id
      AND (k.status = 'running'
           OR (k.status IN ('pending', 'failed') AND k.run_at <= :now
               AND (k.run_at < j.run_at OR (k.run_at = j.run_at AND k.id < j.id))))))
ORDER BY j.priority DESC, j.run_at, j.id
LIMIT :limit
"""

_CLAIM_SET: LiteralString = """
UPDATE jobs
SET status = 'running', attempts = attempts + 1, lease_owner = :owner, lease_expires_at = :lease_until,
    updated_at = :now
WHERE id IN (
"""

# Which kinds a claim takes: any, only the given ones, or all but them (a worker claims kinds it runs in
# batches separately from the others).
_ANY_KIND: LiteralString = ""
_ONLY_KINDS: LiteralString = " AND j.kind IN :kinds"
_OTHER_KINDS: LiteralString = " AND j.kind NOT IN :kinds"


# What a claim hands the worker, straight from the UPDATE (no second read of the rows).
_CLAIMED: LiteralString = "RETURNING id, public_id, kind, key, store_id, args, attempts, max_attempts"


def _claim_query(postgresql: bool, kinds: LiteralString) -> LiteralString:
    due: LiteralString = _DUE.replace("{kinds}", kinds)
    if postgresql:
        return _CLAIM_SET + due + "FOR UPDATE OF j SKIP LOCKED)\n" + _CLAIMED
    return _CLAIM_SET + due + ")\n" + _CLAIMED


CLAIM_POSTGRESQL: LiteralString = _claim_query(True, _ANY_KIND)
CLAIM_SQLITE: LiteralString = _claim_query(False, _ANY_KIND)
_CLAIMS: dict[tuple[bool, LiteralString], LiteralString] = {
    (pg, kinds): _claim_query(pg, kinds)
    for pg in (True, False)
    for kinds in (_ANY_KIND, _ONLY_KINDS, _OTHER_KINDS)
}

# Finishing a run, fenced by (owner, attempt): the hot path of every job, so named queries rather than
# statements built per call (see _finish for the general case).
COMPLETE: LiteralString = """
UPDATE jobs
SET status = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = :now, finished_at = :now
WHERE id = :id AND status = 'running' AND lease_owner = :owner AND attempts = :attempt
"""

END_ATTEMPT: LiteralString = """
UPDATE job_attempts
SET ended_at = :now, duration_ms = :duration_ms, updated_at = :now
WHERE job_id = :id AND attempt = :attempt AND ended_at IS NULL
"""

# A batch's runs on PostgreSQL: (id, attempt) pairs as two arrays, so the text is the same for every batch
# size (a tuple IN of 64 pairs is 128 parameters: a new text per size, converted again on every run).
COMPLETE_MANY_POSTGRESQL: LiteralString = """
UPDATE jobs
SET status = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = :now, finished_at = :now
FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[])) AS run(id, attempt)
WHERE jobs.id = run.id AND jobs.attempts = run.attempt AND jobs.status = 'running' AND jobs.lease_owner = :owner
RETURNING jobs.id
"""

END_ATTEMPTS_POSTGRESQL: LiteralString = """
UPDATE job_attempts
SET ended_at = :now, duration_ms = :duration_ms, updated_at = :now
FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[])) AS run(id, attempt)
WHERE job_attempts.job_id = run.id AND job_attempts.attempt = run.attempt AND job_attempts.ended_at IS NULL
"""

_TIMES = ("now", "lease_until")


@lru_cache(maxsize=32)
def _sql(query: LiteralString) -> TextClause:
    """A named query with its time parameters bound as aware UTC (stored naive on SQLite)."""
    clause = text(query)
    names = [name for name in _TIMES if f":{name}" in query]
    clause = clause.bindparams(*(bindparam(name, type_=UtcDateTime()) for name in names))
    return clause.bindparams(bindparam("kinds", expanding=True)) if ":kinds" in query else clause


# --- what a worker holds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedJob:
    """A claimed job, detached from any session: the handler gets ids and re-reads fresh state."""

    id: int
    public_id: str
    kind: str
    key: str
    store_id: int | None
    args: dict[str, Any]
    attempt: int
    max_attempts: int
    owner: str


# --- writing jobs ----------------------------------------------------------------------------------


def enqueue(
    session: Session,
    *,
    kind: str,
    key: str,
    store_id: int | None,
    run_at: datetime | None = None,
    args: dict[str, Any] | None = None,
    lock: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    priority: int = 0,
) -> bool:
    """Add a job in the caller's transaction (the transactional outbox); return whether it was added.

    Idempotent on ``key``: while a job with the key is pending, failed (waiting to retry) or running,
    it is left as it is and nothing is added. ``args`` carry ids only.
    """
    now = clock.now()
    values = {
        "public_id": ids.new_id("job"), "kind": kind, "key": key, "store_id": store_id,
        "args": args or {}, "status": JobStatus.pending.value, "run_at": run_at or now,
        "priority": priority, "attempts": 0, "max_attempts": max_attempts, "lock": lock,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = builder(Job).values(**values).on_conflict_do_nothing().returning(Job.id)
    return session.execute(stmt).first() is not None


def claim(
    session: Session,
    *,
    owner: str,
    limit: int,
    lease: timedelta,
    now: datetime | None = None,
    reclaim: bool = True,
    kinds: Collection[str] | None = None,
    other_kinds: Collection[str] | None = None,
) -> list[ClaimedJob]:
    """Reclaim expired leases (unless told not to), then take up to ``limit`` due jobs for ``owner``:
    of any kind, only of ``kinds``, or of any kind but ``other_kinds``."""
    now = now or clock.now()
    if reclaim:
        reclaim_expired(session, now=now)
    if limit <= 0 or (kinds is not None and not kinds):
        return []
    params: dict[str, Any] = {"now": now, "lease_until": now + lease, "owner": owner, "limit": limit}
    which = _ANY_KIND
    if kinds is not None:
        which, params["kinds"] = _ONLY_KINDS, sorted(kinds)
    elif other_kinds:
        which, params["kinds"] = _OTHER_KINDS, sorted(other_kinds)
    query = _CLAIMS[(session.get_bind().dialect.name == "postgresql", which)]
    rows = sorted(session.execute(_claim_sql(query), params), key=lambda row: int(row.id))
    if not rows:
        return []
    session.connection().execute(
        insert(_ATTEMPTS),
        [
            {"job_id": row.id, "attempt": row.attempts, "worker": owner, "started_at": now,
             "created_at": now, "updated_at": now}
            for row in rows
        ],
    )  # fmt: skip
    return [
        ClaimedJob(
            row.id,
            row.public_id,
            row.kind,
            row.key,
            row.store_id,
            dict(row.args or {}),
            row.attempts,
            row.max_attempts,
            owner,
        )
        for row in rows
    ]


_ATTEMPTS = cast(Table, JobAttempt.__table__)


@lru_cache(maxsize=8)
def _claim_sql(query: LiteralString) -> TextualSelect:
    """A claim query whose returned ``args`` are decoded as JSON on every backend."""
    return _sql(query).columns(
        column("id", Integer), column("public_id", String), column("kind", String), column("key", String),
        column("store_id", Integer), column("args", JSON), column("attempts", Integer),
        column("max_attempts", Integer),
    )  # fmt: skip


def reclaim_expired(session: Session, *, now: datetime) -> list[int]:
    """Put jobs whose worker stopped heartbeating back in the queue (or dead, out of attempts)."""
    session.execute(_sql(CLOSE_EXPIRED_ATTEMPTS), {"now": now})
    return [row.id for row in session.execute(_sql(RECLAIM_EXPIRED), {"now": now})]


def heartbeat(
    session: Session, *, owner: str, job_ids: Sequence[int], lease: timedelta, now: datetime | None = None
) -> int:
    """Extend the leases ``owner`` still holds; return how many it still holds."""
    if not job_ids:
        return 0
    now = now or clock.now()
    stmt = (
        update(Job)
        .where(Job.id.in_(job_ids), Job.status == JobStatus.running.value, Job.lease_owner == owner)
        .values(lease_expires_at=now + lease, updated_at=now)
    )
    return _rowcount(session.execute(stmt, execution_options={"synchronize_session": False}))


def complete(session: Session, job: ClaimedJob, *, duration_ms: int, now: datetime | None = None) -> bool:
    """Mark the run done; False if the lease was lost meanwhile (another run owns the job now)."""
    now = now or clock.now()
    params = {
        "now": now,
        "id": job.id,
        "owner": job.owner,
        "attempt": job.attempt,
        "duration_ms": duration_ms,
    }
    ours = _rowcount(session.execute(_sql(COMPLETE), params)) == 1
    session.execute(_sql(END_ATTEMPT), params)
    return ours


def complete_many(
    session: Session, jobs: Sequence[ClaimedJob], *, duration_ms: int, now: datetime | None = None
) -> set[int]:
    """Mark a batch's runs done in two statements; the ids still ours (a lost lease is left alone)."""
    if not jobs:
        return set()
    now = now or clock.now()
    owners = {job.owner for job in jobs}
    if len(owners) != 1:
        raise ValueError("a batch of jobs belongs to one worker")
    owner = owners.pop()
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "ids": [job.id for job in jobs], "attempts": [job.attempt for job in jobs], "owner": owner,
            "now": now, "duration_ms": duration_ms,
        }  # fmt: skip
        ours = {int(row.id) for row in session.execute(_sql(COMPLETE_MANY_POSTGRESQL), params)}
        session.execute(_sql(END_ATTEMPTS_POSTGRESQL), params)
        return ours
    runs = [(job.id, job.attempt) for job in jobs]
    done = session.execute(
        update(Job)
        .where(
            tuple_(Job.id, Job.attempts).in_(runs),
            Job.status == JobStatus.running.value,
            Job.lease_owner == owner,
        )
        .values(status=JobStatus.done.value, lease_owner=None, lease_expires_at=None, updated_at=now,
                finished_at=now)
        .returning(Job.id),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    ours = {row.id for row in done}
    session.execute(
        update(JobAttempt)
        .where(tuple_(JobAttempt.job_id, JobAttempt.attempt).in_(runs), JobAttempt.ended_at.is_(None))
        .values(ended_at=now, duration_ms=duration_ms, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return ours


def fail(
    session: Session,
    job: ClaimedJob,
    *,
    error: str,
    retry_at: datetime | None,
    duration_ms: int,
    now: datetime | None = None,
) -> bool:
    """Record a failed run: ``failed`` until ``retry_at``, or ``dead`` when there is no retry."""
    now = now or clock.now()
    if retry_at is None:
        return _finish(session, job, now, duration_ms, error, status=JobStatus.dead, finished_at=now)
    return _finish(session, job, now, duration_ms, error, status=JobStatus.failed, run_at=retry_at)


def _finish(
    session: Session,
    job: ClaimedJob,
    now: datetime,
    duration_ms: int,
    error: str | None,
    *,
    status: JobStatus,
    **values: Any,
) -> bool:
    error = error[:4000] if error else None
    fenced = (
        update(Job)
        .where(
            Job.id == job.id,
            Job.status == JobStatus.running.value,
            Job.lease_owner == job.owner,
            Job.attempts == job.attempt,
        )
        .values(status=status.value, lease_owner=None, lease_expires_at=None, updated_at=now, **values)
    )
    if error is not None:
        fenced = fenced.values(last_error=error)
    ours = _rowcount(session.execute(fenced, execution_options={"synchronize_session": False})) == 1
    session.execute(
        update(JobAttempt)
        .where(JobAttempt.job_id == job.id, JobAttempt.attempt == job.attempt, JobAttempt.ended_at.is_(None))
        .values(ended_at=now, duration_ms=duration_ms, error=error, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return ours


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count


# --- operations ------------------------------------------------------------------------------------


def cancel(session: Session, *, key: str | None = None, prefix: str | None = None) -> int:
    """Cancel waiting jobs by exact key or key prefix; running jobs finish. Returns how many."""
    if (key is None) == (prefix is None):
        raise ValueError("give exactly one of key or prefix")
    stmt = update(Job).where(Job.status.in_([JobStatus.pending.value, JobStatus.failed.value]))
    if key is not None:
        stmt = stmt.where(Job.key == key)
    else:
        assert prefix is not None
        stmt = stmt.where(Job.key.startswith(prefix, autoescape=True))
    now = clock.now()
    stmt = stmt.values(status=JobStatus.cancelled.value, finished_at=now, updated_at=now)
    return _rowcount(session.execute(stmt, execution_options={"synchronize_session": False}))


def retry(session: Session, *, job_id: str, now: datetime | None = None) -> Job:
    """Queue a dead, cancelled or failed job again now, with a fresh set of attempts."""
    now = now or clock.now()
    job = get_job(session, job_id=job_id)
    if job.status in (JobStatus.running, JobStatus.pending, JobStatus.done):
        raise Conflict(f"{job_id} is {job.status}; only dead, failed or cancelled jobs are retried")
    live = select(Job.id).where(Job.key == job.key, Job.status.in_([s.value for s in LIVE]), Job.id != job.id)
    if session.scalars(live).first() is not None:
        raise Conflict(f"another live job holds the key {job.key!r}")
    job.status = JobStatus.pending.value
    job.run_at = now
    job.attempts = 0
    job.finished_at = None
    session.flush()
    return job


def get_job(session: Session, *, job_id: str, store_id: int | None = None) -> Job:
    stmt = select(Job).where(Job.public_id == job_id)
    if store_id is not None:
        stmt = stmt.where(Job.store_id == store_id)
    job = session.scalars(stmt).one_or_none()
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def filtered(stmt: Select[Job], *, status: JobStatus | None = None, kind: str | None = None) -> Select[Job]:
    if status is not None:
        stmt = stmt.where(Job.status == status.value)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    return stmt


def list_jobs(
    session: Session,
    *,
    store_id: int | None = None,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """Jobs of every store (or one), newest first: the operators' view, from the CLI."""
    stmt = filtered(select(Job), status=status, kind=kind)
    if store_id is not None:
        stmt = stmt.where(Job.store_id == store_id)
    return paginate(session, stmt, Job, limit=limit, cursor=cursor)


def attempts_of(session: Session, *, job_id: int) -> list[JobAttempt]:
    stmt = select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.attempt, JobAttempt.id)
    return list(session.scalars(stmt))
