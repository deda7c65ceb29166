"""/api/v1/jobs: the store's background jobs (notifications, inbound applies), for operators."""

from typing import Annotated

from fastapi import APIRouter, Query

from doorstep.db import transaction
from doorstep.jobs import service as job_service
from doorstep.jobs.models import JobStatus
from doorstep.jobs.schemas import JobPage, JobRead
from doorstep.web.deps import CurrentStore, Cursor, Db, Limit

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("")
def list_jobs(
    db: Db,
    store: CurrentStore,
    limit: Limit,
    cursor: Cursor = None,
    status: Annotated[JobStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> JobPage:
    """The store's jobs, newest first; filter by status and kind."""
    with transaction(db) as session:
        rows, next_cursor = job_service.list_jobs(
            session, store_id=store.id, status=status, kind=kind, limit=limit, cursor=cursor
        )
        return JobPage(data=[JobRead.of(j) for j in rows], next_cursor=next_cursor)
