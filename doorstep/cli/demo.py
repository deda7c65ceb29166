"""`doorstep demo`: a demo brand with realistic orders, its API key and URLs, then the web app."""

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import make_url

from doorstep import migrate as migrations
from doorstep.cli import context
from doorstep.cli.serve import serve
from doorstep.demo import seed as demo_seed


def demo(
    ctx: typer.Context,
    orders: Annotated[int, typer.Option(min=1, max=5000, help="How many demo orders to create.")] = 36,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Seed and print, then exit.")] = False,
    port: Annotated[int | None, typer.Option(help="Port for the web app.")] = None,
) -> None:
    """Create the demo brand (idempotent), print its API key and URLs, and serve the app."""
    app = context.get(ctx)
    migrations.upgrade(app.engine)
    columns = (TextColumn("seeding demo orders"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=context.errors, transient=True) as progress:
        task = progress.add_task("seed", total=orders)
        seeded = demo_seed.seed(app.factory, orders=orders, on_progress=lambda: progress.advance(task))
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
        out.print(f"  {scenario:<18} order {number}")
    if no_serve:
        return
    out.print("\nserving — Ctrl+C to stop\n")
    serve(ctx, host=None, port=port)
