from datetime import datetime
from typing import Any

from pydantic import BaseModel

from doorstep.jobs.models import Job


class JobRead(BaseModel):
    id: str
    kind: str
    key: str
    status: str
    args: dict[str, Any]
    run_at: datetime
    priority: int
    attempts: int
    max_attempts: int
    lock: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> "JobRead":
        return cls(
            id=job.public_id, kind=job.kind, key=job.key, status=job.status, args=dict(job.args),
            run_at=job.run_at, priority=job.priority, attempts=job.attempts, max_attempts=job.max_attempts,
            lock=job.lock, last_error=job.last_error, created_at=job.created_at, updated_at=job.updated_at,
            finished_at=job.finished_at,
        )  # fmt: skip


class JobPage(BaseModel):
    data: list[JobRead]
    next_cursor: str | None
