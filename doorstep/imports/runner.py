"""Run an import: catalog first, then orders in batches, one transaction per batch, with bookkeeping.

Each batch commits on its own, so an interrupted run keeps every batch it finished; running the same
input again skips the orders already in the store (matched by external id) and imports the rest. The
run's progress and counts are kept in ``import_runs``.
"""

from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import clock
from doorstep.db import transaction
from doorstep.imports.bulk import BulkWriter, checkpoint
from doorstep.imports.drafts import CategoryDraft, ProductDraft, SellerDraft
from doorstep.imports.models import ImportRun
from doorstep.imports.pipeline import BatchSource, planned_batches
from doorstep.imports.rejects import Rejects

# From this many orders on, callers plan batches in a second process while this one writes them
# (``parallel``); below it, starting that process (about a second) costs more than it saves.
PARALLEL_FROM = 20_000


@dataclass(frozen=True)
class Catalog:
    categories: Sequence[CategoryDraft] = ()
    products: Sequence[ProductDraft] = ()
    sellers: Sequence[SellerDraft] = ()


@dataclass
class Summary:
    run_id: int
    status: str = "running"
    orders_imported: int = 0
    orders_skipped: int = 0
    rejected: int = 0
    catalog_rows: int = 0
    rows: int = 0
    batches: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def run_import(
    factory: sessionmaker[Session],
    *,
    store_id: int,
    source: str,
    input_ref: str,
    catalog: Catalog,
    batches: BatchSource,
    rejects: Rejects,
    on_batch: Callable[[int], None] | None = None,
    stop_after_batches: int | None = None,
    parallel: bool = False,
) -> Summary:
    """Write ``catalog`` then each batch of orders ``batches(rejects)`` yields; ``stop_after_batches``
    stops early (as a crash would). ``parallel`` plans batches in a second process while this one
    writes (``doorstep.imports.pipeline``; ``batches`` must then be picklable)."""
    now = clock.now()
    with transaction(factory) as session:
        run = ImportRun(store_id=store_id, source=source, input=input_ref[:2000], started_at=now)
        session.add(run)
        session.flush()
        summary = Summary(run_id=run.id)
    writer = BulkWriter(store_id=store_id, source=source)
    with transaction(factory) as session:
        summary.catalog_rows = writer.write_catalog(
            session, categories=catalog.categories, products=catalog.products, sellers=catalog.sellers
        )
    planner = {
        "store_id": store_id,
        "source": source,
        "dialect": _dialect(factory),
        "sellers": writer.sellers,
    }
    with closing(planned_batches(batches, rejects, planner, parallel=parallel)) as planned:
        for batch in planned:
            if stop_after_batches is not None and summary.batches >= stop_after_batches:
                summary.status = "stopped"
                break
            with transaction(factory) as session:
                written = writer.apply(session, batch)
                summary.batches += 1
                summary.orders_imported += written.orders
                summary.orders_skipped += written.skipped
                summary.rows += written.rows
                _save(session, summary, rejected=len(rejects))
            if on_batch is not None:
                on_batch(batch.drafts)
        else:
            summary.status = "completed"
    summary.rejected = len(rejects)
    with transaction(factory) as session:
        _save(session, summary, rejected=summary.rejected, finished=summary.status == "completed")
    checkpoint(factory)
    return summary


def _save(session: Session, summary: Summary, *, rejected: int, finished: bool = False) -> None:
    run = session.get(ImportRun, summary.run_id)
    if run is None:  # pragma: no cover - the row was created by this run
        raise RuntimeError(f"import run {summary.run_id} vanished")
    run.status = summary.status
    run.batches = summary.batches
    run.orders_imported = summary.orders_imported
    run.orders_skipped = summary.orders_skipped
    run.rejected = rejected
    run.updated_at = clock.now()
    if finished:
        run.finished_at = clock.now()


def _dialect(factory: sessionmaker[Session]) -> str:
    with factory() as session:
        return session.get_bind().dialect.name
