"""The store's view of its jobs (the API). Cross-store claiming and operations live in jobs/queue.py."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.jobs import queue
from doorstep.jobs.models import Job, JobStatus


def list_jobs(
    session: Session,
    *,
    store_id: int,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """One store's jobs, newest first."""
    stmt = queue.filtered(scoped(select(Job), Job, store_id), status=status, kind=kind)
    return paginate(session, stmt, Job, limit=limit, cursor=cursor)
