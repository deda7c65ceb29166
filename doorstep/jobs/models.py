"""The durable job table and its attempt log (procrastinate's shape; see docs/explanation/jobs.md)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class JobStatus(StrEnum):
    pending = "pending"  # waiting for run_at
    running = "running"  # claimed by a worker holding a lease
    failed = "failed"  # an attempt failed; it runs again at run_at (backoff)
    done = "done"
    dead = "dead"  # out of attempts, or an error that is not worth retrying
    cancelled = "cancelled"


# A job is live (its key is taken) while it may still run.
LIVE = (JobStatus.pending, JobStatus.running, JobStatus.failed)


class Job(Timestamped, Base):
    """One unit of background work. ``args`` carry ids only; the handler re-reads fresh state."""

    __tablename__ = "jobs"
    __table_args__ = (
        # procrastinate's queueing lock: one live job per key.
        Index(
            "uq_jobs_key_live", "key", unique=True,
            sqlite_where=text("status IN ('pending', 'running', 'failed')"),
            postgresql_where=text("status IN ('pending', 'running', 'failed')"),
        ),
        # A periodic slot runs once, however many workers try to insert it and whatever became of it.
        Index(
            "uq_jobs_key_periodic", "key", unique=True,
            sqlite_where=text("key LIKE 'periodic:%'"),
            postgresql_where=text("key LIKE 'periodic:%'"),
        ),
        # Jobs sharing a lock run one at a time: at most one of them is running.
        Index(
            "uq_jobs_lock_running", "lock", unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        Index("ix_jobs_status_run_at", "status", "run_at"),
        Index("ix_jobs_store_id_created_at", "store_id", "created_at"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    # None for work that spans stores (periodic jobs).
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.pending)
    run_at: Mapped[datetime]
    priority: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    lock: Mapped[str | None] = mapped_column(String(255))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]


class JobAttempt(Timestamped, Base):
    """One run of a job: who ran it, when, for how long, and why it failed (Saleor's delivery attempt)."""

    __tablename__ = "job_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    worker: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
