"""`doorstep serve` and `doorstep worker`."""

import signal
import threading
import time
from typing import Annotated

import httpx
import typer
import uvicorn

from doorstep import migrate as migrations
from doorstep.app import create_app
from doorstep.cli import context
from doorstep.core import clock
from doorstep.db import transaction
from doorstep.inbound import polling
from doorstep.shipments import service as shipment_service
from doorstep.stores import service as store_service


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default DOORSTEP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DOORSTEP_PORT).")] = None,
) -> None:
    """Run the web app. On SQLite, migrations are applied first."""
    app = context.get(ctx)
    settings = app.settings
    if settings.is_sqlite:
        migrations.upgrade(app.engine)
    uvicorn.run(
        create_app(settings, engine=app.engine),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
        server_header=False,
    )


def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once.")] = 4,
    once: Annotated[bool, typer.Option(help="Run one round of due work, then exit.")] = False,
    poll_every: Annotated[float, typer.Option(help="Seconds between polling rounds.")] = 30.0,
    sweep_every: Annotated[float, typer.Option(help="Seconds between delay/stall sweeps.")] = 900.0,
) -> None:
    """Run background work: carrier polling and the delay/stall sweep (the job scheduler comes later)."""
    app = context.get(ctx)
    if app.settings.is_sqlite:
        migrations.upgrade(app.engine)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    secret = app.settings.security.secret_key.get_secret_value()
    context.errors.print(f"worker started (concurrency {concurrency})")
    last_sweep = 0.0
    with httpx.Client(timeout=30.0) as client:
        while True:
            report = polling.poll_due(app.factory, secret=secret, client=client)
            if report.polled or report.failed:
                context.errors.print(f"polled {report.polled} parcel(s); {len(report.failed)} failure(s)")
                for failure in report.failed:
                    context.errors.print(f"  {failure}")
            if time.monotonic() - last_sweep >= sweep_every or once:
                _sweep(app)
                last_sweep = time.monotonic()
            if once or stop.wait(poll_every):
                break
    context.errors.print("worker stopped")


def _sweep(app: context.Context) -> None:
    with transaction(app.factory) as session:
        store_ids = [s.id for s in store_service.list_stores(session)]
    for store_id in store_ids:
        with transaction(app.factory) as session:
            shipment_service.check_overdue_and_stalled(session, store_id=store_id, now=clock.now())
