"""`doorstep serve` and `doorstep worker`."""

import signal
import threading
from typing import Annotated

import typer
import uvicorn

from doorstep import migrate as migrations
from doorstep.app import create_app
from doorstep.cli import context


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default DOORSTEP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DOORSTEP_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="Web processes (PostgreSQL only).")] = 1,
) -> None:
    """Run the web app. On SQLite, migrations are applied first."""
    app = context.get(ctx)
    settings = app.settings
    if settings.is_sqlite:
        migrations.upgrade(app.engine)
    elif workers > 1:
        context.errors.print("multiple web workers: run one `doorstep serve` per process behind a proxy")
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
    once: Annotated[bool, typer.Option(help="Process what is due, then exit.")] = False,
) -> None:
    """Run background jobs. Until the scheduler lands there are no job kinds, so this idles until stopped."""
    app = context.get(ctx)
    if app.settings.is_sqlite:
        migrations.upgrade(app.engine)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    context.errors.print(f"worker started (concurrency {concurrency}); no job kinds are registered yet")
    while not once and not stop.wait(1.0):
        pass
    context.errors.print("worker stopped")
