"""`doorstep serve` and `doorstep worker`."""

import signal
import threading
from datetime import timedelta
from typing import Annotated

import httpx
import typer
import uvicorn

from doorstep import migrate as migrations
from doorstep.app import create_app
from doorstep.cli import context
from doorstep.core import heap
from doorstep.jobs import handlers
from doorstep.jobs.supervisor import Supervisor, WorkerOptions, configure_logging, run_worker
from doorstep.jobs.worker import Worker


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default DOORSTEP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DOORSTEP_PORT).")] = None,
    with_worker: Annotated[
        bool, typer.Option("--with-worker", help="Also run the job worker in this process (all-in-one).")
    ] = False,
) -> None:
    """Run the web app. On SQLite, migrations are applied first."""
    app = context.get(ctx)
    settings = app.settings
    if settings.is_sqlite:
        migrations.upgrade(app.engine)
    background = start_background_worker(app) if with_worker else None
    web = create_app(settings, engine=app.engine)
    heap.settle()
    try:
        uvicorn.run(
            web,
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level,
            proxy_headers=True,
            server_header=False,
        )
    finally:
        if background is not None:
            background.stop()


class BackgroundWorker:
    """The job worker on a thread beside the web app (``serve --with-worker`` and ``demo``)."""

    def __init__(self, app: context.Context, *, concurrency: int = 2) -> None:
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=30.0)
        runtime = handlers.Runtime(app.factory, app.settings, self._client)
        self.worker = Worker(runtime, concurrency=concurrency, idle=0.5)
        self._thread = threading.Thread(
            target=self.worker.run, args=(self._stop,), name="worker", daemon=True
        )

    def start(self) -> "BackgroundWorker":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._client.close()


def start_background_worker(app: context.Context) -> BackgroundWorker:
    context.errors.print("worker running in this process (jobs: sends, tracking polls, sweeps)")
    return BackgroundWorker(app).start()


def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once (threads).")] = 4,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes, each with --concurrency threads (PostgreSQL only). One process uses about "
            "one core; use one per core to send faster.",
        ),
    ] = 1,
    once: Annotated[
        bool, typer.Option(help="Run every job due now (and the current periodic slots), then exit.")
    ] = False,
    batch: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Jobs claimed per query (default: concurrency).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=500,
            help="Most jobs of a batched kind (message.send) one thread runs at once (default: 64). Smaller "
            "batches spread a burst over more worker processes; larger ones cost less per job.",
        ),
    ] = None,
    lease: Annotated[
        float, typer.Option(min=1.0, help="Seconds a claimed job is leased; heartbeats renew it.")
    ] = 60.0,
    idle: Annotated[float, typer.Option(min=0.01, help="Seconds to wait when no job is due.")] = 1.0,
    periodic: Annotated[
        bool, typer.Option(help="Insert periodic jobs (tracking.poll, tracking.sweep).")
    ] = True,
) -> None:
    """Run the job worker: claim due jobs from the database and run them until Ctrl+C or SIGTERM."""
    app = context.get(ctx)
    configure_logging(app.settings)
    options = WorkerOptions(
        concurrency=concurrency, batch=batch, batch_size=batch_size, lease=timedelta(seconds=lease), idle=idle,
        periodic=periodic, once=once,
    )  # fmt: skip
    try:
        supervisor = (
            Supervisor(app.settings, options, processes, context.errors.print) if processes > 1 else None
        )
    except ValueError as exc:  # several processes on SQLite
        raise context.fail(str(exc)) from exc
    if app.settings.is_sqlite:
        migrations.upgrade(app.engine)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if supervisor is None:
        run_worker(app.factory, app.settings, options, stop, context.errors.print)
        return
    context.errors.print(f"starting {processes} worker processes (concurrency {concurrency} each)")
    code = supervisor.run(stop)
    context.errors.print(f"{processes} worker processes stopped")
    if code:
        raise typer.Exit(code)
