"""`doorstep demo`: a demo brand with realistic orders, its API key and URLs, then the web app."""

from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import make_url

from doorstep import migrate as migrations
from doorstep.cli import context
from doorstep.cli import imports as cli_imports
from doorstep.cli.serve import serve
from doorstep.db import transaction
from doorstep.demo import seed as demo_seed
from doorstep.imports import olist, rejects
from doorstep.stores import service as store_service


def demo(
    ctx: typer.Context,
    orders: Annotated[int, typer.Option(min=1, max=5000, help="How many demo orders to create.")] = 36,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Seed and print, then exit.")] = False,
    port: Annotated[int | None, typer.Option(help="Port for the web app.")] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Also import real history: `olist` (the Olist sample).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Folder of the Olist CSV files for --data olist.")
    ] = None,
) -> None:
    """Create the demo brand (idempotent), print its API key and URLs, and serve the app with its worker."""
    app = context.get(ctx)
    migrations.upgrade(app.engine)
    columns = (TextColumn("seeding demo orders"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=context.errors, transient=True) as progress:
        task = progress.add_task("seed", total=orders)
        seeded = demo_seed.seed(app.factory, orders=orders, on_progress=lambda: progress.advance(task))
    if data is not None:
        _import_history(app, data, data_dir)
    base = app.settings.base_url.rstrip("/")
    if port:
        base = f"http://{app.settings.host}:{port}"
    out = context.console
    out.print(
        f"\n[bold]Doorstep demo[/bold] — store [bold]{seeded.store_slug}[/bold], {len(seeded.orders)} orders"
    )
    out.print(
        f"database: {make_url(app.settings.resolved_database_url).render_as_string(hide_password=True)}"
    )
    out.print("\nAPI key (shown once):")
    out.print(seeded.api_key, soft_wrap=True)
    out.print("\nTry it:")
    out.print(
        f'  curl -H "Authorization: Bearer {seeded.api_key}" "{base}/api/v1/orders?limit=5"', soft_wrap=True
    )
    out.print(f"  API docs:  {base}/api/docs")
    out.print(f"  Health:    {base}/healthz   Metrics: {base}/metrics")
    out.print("\nOrders by parcel state:")
    for scenario, number in seeded.examples.items():
        token = seeded.tokens.get(scenario)
        link = f"  {base}/t/{token}" if token else ""
        out.print(f"  {scenario:<18} order {number:<6}{link}", soft_wrap=True)
    out.print(f"\nOrder lookup page: {base}/track/{seeded.store_slug}")
    out.print(f"Outbox (every e-mail and SMS the flows send): {base}/dev/outbox")
    out.print(f"Messages and why each was sent or not: {base}/api/v1/messages (with the API key)")
    if no_serve:
        return
    out.print("\nserving — Ctrl+C to stop\n")
    # Web and worker in one process: as simulated scans arrive, flows send into the devbox outbox.
    serve(ctx, host=None, port=port, with_worker=True)


OLIST_SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "olist" / "sample_4000_orders"


def _import_history(app: context.Context, data: str, data_dir: Path | None) -> None:
    """Import real order history into the demo store (idempotent: a rerun skips what is there)."""
    if data != "olist":
        raise context.fail(f"--data {data!r} is not known; use --data olist")
    directory = data_dir or OLIST_SAMPLE
    if not directory.is_dir():
        raise context.fail(f"no Olist data at {directory}; pass --data-dir with the Olist CSV folder")
    found = rejects.Rejects()
    history = olist.read(directory, found)
    with transaction(app.factory) as session:
        store_id = store_service.get_store_by_slug(session, slug=demo_seed.SLUG).id
    cli_imports.run_with_progress(
        app.factory,
        store_id=store_id,
        source="olist",
        input_path=directory,
        catalog=history.catalog,
        batches=partial(history.batches, size=2000),
        total=history.order_count,
        found=found,
        rejects_path=None,
    )
