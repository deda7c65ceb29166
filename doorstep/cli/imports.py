"""`doorstep import …`: bring order history in from files (Olist data set, Shopify order export)."""

from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from doorstep.cli import context
from doorstep.core.errors import NotFound
from doorstep.db import transaction
from doorstep.imports import olist, rejects, runner, shopify_csv
from doorstep.imports.pipeline import BatchSource
from doorstep.stores import service as store_service

imports = typer.Typer(
    help="Import order history (customers, orders, parcels, payments) from files.", no_args_is_help=True
)

StoreOption = Annotated[str, typer.Option("--store", help="Slug of the store to import into.")]
RejectsOption = Annotated[
    Path | None,
    typer.Option("--rejects", help="Where to write rejected rows (CSV); default: beside the input."),
]
BatchOption = Annotated[int, typer.Option("--batch-size", min=1, max=50_000, help="Orders per transaction.")]


class RateColumn(ProgressColumn):
    """Rows per second, as measured by the progress bar."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")


def _store_id(factory: sessionmaker[Session], slug: str) -> int:
    with transaction(factory) as session:
        try:
            return store_service.get_store_by_slug(session, slug=slug).id
        except NotFound as exc:
            raise context.fail(f"{exc.detail}; create it first with `doorstep stores create`") from exc


def run_with_progress(
    factory: sessionmaker[Session],
    *,
    store_id: int,
    source: str,
    input_path: Path,
    catalog: runner.Catalog,
    batches: BatchSource,
    total: int,
    found: rejects.Rejects,
    rejects_path: Path | None,
) -> runner.Summary:
    """Run one import with a Rich progress bar (rows/s, ETA), then print its summary."""
    columns = (
        TextColumn(f"importing {source}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=context.errors, transient=True) as progress:
        task = progress.add_task(source, total=total)
        summary = runner.run_import(
            factory,
            store_id=store_id,
            source=source,
            input_ref=str(input_path),
            catalog=catalog,
            batches=batches,
            rejects=found,
            on_batch=lambda n: progress.advance(task, n),
            parallel=total >= runner.PARALLEL_FROM,
        )
    written = found.write(rejects_path or rejects.default_path(input_path))
    table = Table(title=f"{source} import ({summary.status})", show_header=False)
    table.add_row("orders imported", f"{summary.orders_imported:,}")
    table.add_row("orders already there", f"{summary.orders_skipped:,}")
    table.add_row("rows rejected", f"{summary.rejected:,}")
    table.add_row("catalog rows added", f"{summary.catalog_rows:,}")
    table.add_row("rows written", f"{summary.rows + summary.catalog_rows:,}")
    context.console.print(table)
    if written is not None:
        context.console.print(f"rejected rows (file, line, reason): {written}")
    return summary


@imports.command("olist")
def import_olist(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="Folder with the Olist CSV files.")
    ],
    store: StoreOption,
    rejects_path: RejectsOption = None,
    batch_size: BatchOption = 2000,
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, max=1000, help="Import N copies with fresh ids (scale tests).")
    ] = 1,
) -> None:
    """Import the Olist Brazilian e-commerce data set (history: no shopper is notified)."""
    app = context.get(ctx)
    store_id = _store_id(app.factory, store)
    found = rejects.Rejects()
    data = olist.read(directory, found)
    run_with_progress(
        app.factory,
        store_id=store_id,
        source="olist",
        input_path=directory,
        catalog=data.catalog,
        batches=partial(data.batches, size=batch_size, repeat=repeat),
        total=data.order_count * repeat,
        found=found,
        rejects_path=rejects_path,
    )


@imports.command("shopify-orders")
def import_shopify_orders(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Shopify order export (orders_export.csv).")
    ],
    store: StoreOption,
    rejects_path: RejectsOption = None,
    batch_size: BatchOption = 2000,
) -> None:
    """Import a Shopify order export CSV (history: no shopper is notified)."""
    app = context.get(ctx)
    store_id = _store_id(app.factory, store)
    found = rejects.Rejects()
    export = shopify_csv.read(file, found)
    run_with_progress(
        app.factory,
        store_id=store_id,
        source="shopify",
        input_path=file,
        catalog=runner.Catalog(),
        batches=partial(export.batches, size=batch_size),
        total=len(export.orders),
        found=found,
        rejects_path=rejects_path,
    )
