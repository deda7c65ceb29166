"""`doorstep jobs list|retry|cancel|dead` and `doorstep worker --once`, in process."""

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from doorstep.cli import context
from doorstep.cli.main import app
from doorstep.db import transaction
from doorstep.jobs import queue


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for console in (context.console, context.errors):
        monkeypatch.setattr(console, "_width", 250)
        monkeypatch.setattr(console, "_height", 50)


def _run(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"DOORSTEP_DATABASE_URL": database_url})
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def test_worker_once_runs_the_periodic_jobs_then_list_retry_cancel_and_dead(
    backend: str, database_url: str, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as session:
        queue.enqueue(session, kind="no.such.kind", key="broken:1", store_id=None, max_attempts=1)
        queue.enqueue(session, kind="inbound.apply", key="msg:shp_1:a", store_id=None, run_at=None)
        queue.cancel(session, prefix="msg:shp_1:")

    _run(database_url, "worker", "--once", "--concurrency", "2")

    listed = _run(database_url, "jobs", "list")
    assert "tracking.poll" in listed
    assert "tracking.sweep" in listed
    dead = _run(database_url, "jobs", "dead")
    assert "broken:1" in dead
    assert "UnknownKind: no handler for job kind 'no.such.kind'" in dead
    assert "tracking.poll" not in dead

    with transaction(factory) as session:
        [job], _ = queue.list_jobs(session, status=None, kind="no.such.kind")
        job_id = job.public_id
    assert "pending again" in _run(database_url, "jobs", "retry", job_id)
    assert "cancelled 1 job(s)" in _run(database_url, "jobs", "cancel", "--key", "broken:1")
    assert "cancelled" in _run(database_url, "jobs", "list", "--status", "cancelled")


def test_cancel_needs_exactly_one_of_key_or_prefix(backend: str, database_url: str) -> None:
    result = CliRunner().invoke(app, ["jobs", "cancel"], env={"DOORSTEP_DATABASE_URL": database_url})
    assert result.exit_code == 1
    assert "exactly one of --key or --prefix" in result.stderr
