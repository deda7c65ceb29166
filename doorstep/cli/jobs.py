"""`doorstep jobs list|retry|cancel|dead`: the job queue, for operators (every store)."""

from typing import Annotated

import typer
from rich.table import Table

from doorstep.cli import context
from doorstep.core.errors import DoorstepError
from doorstep.db import transaction
from doorstep.jobs import queue
from doorstep.jobs.models import Job, JobStatus
from doorstep.stores import service as store_service

jobs = typer.Typer(help="Inspect, retry and cancel background jobs.", no_args_is_help=True)


def _table(rows: list[Job]) -> Table:
    table = Table("id", "kind", "key", "status", "attempts", "run at", "last error")
    table.columns[0].no_wrap = True
    for j in rows:
        table.add_row(
            j.public_id, j.kind, j.key, j.status, f"{j.attempts}/{j.max_attempts}",
            f"{j.run_at:%Y-%m-%d %H:%M:%S}", (j.last_error or "")[:80],
        )  # fmt: skip
    return table


def _list(
    ctx: typer.Context, *, status: JobStatus | None, kind: str | None, store: str | None, limit: int
) -> None:
    app = context.get(ctx)
    try:
        with transaction(app.factory) as session:
            store_id = store_service.get_store_by_slug(session, slug=store).id if store else None
            rows, _ = queue.list_jobs(session, store_id=store_id, status=status, kind=kind, limit=limit)
            table = _table(rows)
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    context.console.print(table)


@jobs.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        JobStatus | None, typer.Option(help="pending, running, failed, done, dead or cancelled.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. inbound.apply, tracking.poll.")] = None,
    store: Annotated[str | None, typer.Option(help="Store slug.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List jobs, newest first."""
    _list(ctx, status=status, kind=kind, store=store, limit=limit)


@jobs.command("dead")
def dead_jobs(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="e.g. inbound.apply.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List dead jobs (out of attempts, or failed with an error not worth retrying) with their last error."""
    _list(ctx, status=JobStatus.dead, kind=kind, store=None, limit=limit)


@jobs.command("retry")
def retry_job(ctx: typer.Context, job_id: str) -> None:
    """Queue a dead, failed or cancelled job again now, with a fresh set of attempts."""
    app = context.get(ctx)
    try:
        with transaction(app.factory) as session:
            job = queue.retry(session, job_id=job_id)
            summary = f"{job.public_id} ({job.kind}) is pending again"
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    context.console.print(summary)


@jobs.command("cancel")
def cancel_jobs(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Option(help="Cancel the waiting job with exactly this key.")] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Cancel every waiting job whose key starts with this, e.g. msg:shp_1:.")
    ] = None,
) -> None:
    """Cancel waiting (pending or failed) jobs by key or key prefix; running jobs finish."""
    if (key is None) == (prefix is None):
        raise context.fail("give exactly one of --key or --prefix")
    app = context.get(ctx)
    with transaction(app.factory) as session:
        count = queue.cancel(session, key=key, prefix=prefix)
    context.console.print(f"cancelled {count} job(s)")
