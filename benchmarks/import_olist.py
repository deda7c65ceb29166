"""Olist history import: orders/s and rows/s through the import path, next to a raw insert of the same rows.

Import path: CSV → drafts (olist.py) → BulkWriter (totals, scan fingerprints, derived shipment state,
historical milestones, id caches, natural-key lookups) → one transaction per batch. ``--repeat N``
replays the sample N times with fresh ids (25 x 4,000, about 100,000 orders). Peak RSS is the process's
maximum resident set after the import (before the baseline runs).

Baseline: every row the import wrote (all tables, same ids) is read back, the store's rows are deleted,
and the very same rows are inserted again through the importer's own insert
(``doorstep.imports.bulk.insert_rows``: ``INSERT … SELECT * FROM unnest(arrays)`` on PostgreSQL, the compiled
statement and the driver's executemany on SQLite), in batches of the same size and one transaction each, on a connection tuned as the import's is
(``bulk.tune``), ending with the same final WAL checkpoint (``bulk.checkpoint``, SQLite): no parsing,
no rules, no lookups, no id reservation. Only the inserts, their commits and that checkpoint are timed,
so the ratio is what everything but the raw insert costs.

    python -m benchmarks.import_olist [--repeat 25] [--batch-size 2000] [--database-url URL] [--data-dir DIR]
"""

import argparse
import resource
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from benchmarks._figure import Figure
from doorstep import migrate
from doorstep.catalog.models import Category, Product, Seller
from doorstep.config import Settings
from doorstep.core import ids
from doorstep.customers.models import Customer
from doorstep.db import make_engine, make_session_factory, transaction
from doorstep.flows.models import MilestoneEvent
from doorstep.imports import bulk, olist, runner
from doorstep.imports.rejects import Rejects
from doorstep.orders.models import LineItem, Order, OrderPayment
from doorstep.reviews.models import ReviewImport
from doorstep.shipments.models import Checkpoint, Shipment, ShipmentItem
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "olist" / "sample_4000_orders"
# Parents before children, as the rows must go back in.
TABLES = (
    Category, Product, Seller, Customer, Order, LineItem, OrderPayment, ReviewImport,
    Shipment, ShipmentItem, Checkpoint, MilestoneEvent,
)  # fmt: skip


def _peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _raw_insert(factory: sessionmaker[Session], store_id: int, batch_rows: int) -> tuple[int, float]:
    """Read back the store's rows, delete them, insert them again with Core; time only the inserts."""
    dumped: list[tuple[Table, list[dict[str, Any]]]] = []
    with transaction(factory) as session:
        for model in TABLES:
            table = model.__table__
            assert isinstance(table, Table)
            rows = [
                dict(r._mapping) for r in session.execute(select(table).where(table.c.store_id == store_id))
            ]
            dumped.append((table, rows))
    with transaction(factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            # Skip the per-row foreign-key triggers while clearing the benchmark's own rows (several
            # referencing columns have no index, so each deleted row would scan a table).
            session.execute(text("SET LOCAL session_replication_role = replica"))
        for table, _ in reversed(dumped):
            session.execute(delete(table).where(table.c.store_id == store_id))
    bulk.checkpoint(factory)  # start from an empty WAL, as the import did (untimed)
    total = 0
    seconds = 0.0
    for table, rows in dumped:
        for start in range(0, len(rows), batch_rows):
            chunk = rows[start : start + batch_rows]
            began = time.perf_counter()
            with transaction(factory) as session:
                bulk.tune(session)  # the import's connection settings (SQLite page cache, WAL limit)
                bulk.insert_rows(session, table, chunk)
            seconds += time.perf_counter() - began
            total += len(chunk)
    began = time.perf_counter()
    bulk.checkpoint(factory)  # and its final checkpoint: both pay for getting the rows into the file
    seconds += time.perf_counter() - began
    return total, seconds


def run(repeat: int, batch_size: int, database_url: str | None, data_dir: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        engine = make_engine(settings)
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            store = store_service.create_store(
                session, cmd=CreateStore(slug=f"bench-{ids.new_id('sto')[-8:]}", name="Bench")
            )
            store_id = store.id
        began = time.perf_counter()
        found = Rejects()
        data = olist.read(data_dir, found)
        summary = runner.run_import(
            factory,
            store_id=store_id,
            source="olist",
            input_ref=str(data_dir),
            catalog=data.catalog,
            batches=partial(data.batches, size=batch_size, repeat=repeat),
            rejects=found,
            parallel=data.order_count * repeat >= runner.PARALLEL_FROM,  # as `doorstep import olist` decides
        )
        seconds = time.perf_counter() - began
        peak = _peak_rss_mib()
        planner_peak = _peak_rss_mib(resource.RUSAGE_CHILDREN)  # the planner process, when there is one
        rows = summary.rows + summary.catalog_rows
        print(
            f"import: {summary.orders_imported:,} orders, {rows:,} rows in {seconds:.1f} s, "
            f"peak RSS {peak:.0f} MiB (planner process {planner_peak:.0f} MiB); measuring the raw-insert baseline …",
            file=sys.stderr,
            flush=True,
        )
        # The baseline inserts in batches of the same size in rows: the import's rows per transaction.
        raw_rows, raw_seconds = _raw_insert(factory, store_id, max(1, rows // max(summary.batches, 1)))
        engine.dispose()
    return {
        "orders": summary.orders_imported,
        "rejected": summary.rejected,
        "seconds": seconds,
        "rows": rows,
        "rows_per_s": rows / seconds,
        "orders_per_s": summary.orders_imported / seconds,
        "peak_rss_mib": peak,
        "planner_peak_rss_mib": planner_peak,
        "raw_rows": raw_rows,
        "raw_rows_per_s": raw_rows / raw_seconds,
    }


def run_figure(repeat: int = 25, database_url: str | None = None) -> Figure:
    """The figure for `python -m benchmarks`: the scale run (25 replays, ~100,000 orders)."""
    result = run(repeat, 2000, database_url, DATA)
    return Figure(
        name="import olist",
        value=result["rows_per_s"],
        unit="rows/s",
        baseline=result["raw_rows_per_s"],
        baseline_name="raw insert",
        note=f"{result['orders']:,.0f} orders in {result['seconds']:.1f} s, peak RSS {result['peak_rss_mib']:.0f} MiB"
        f" + planner {result['planner_peak_rss_mib']:.0f} MiB",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=25, help="replays of the sample with fresh ids")
    parser.add_argument("--batch-size", type=int, default=2000, help="orders per transaction")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--data-dir", type=Path, default=DATA)
    args = parser.parse_args()
    if not args.data_dir.is_dir():
        parser.exit(2, f"no Olist data at {args.data_dir}; pass --data-dir\n")
    r = run(args.repeat, args.batch_size, args.database_url, args.data_dir)
    ratio = r["rows_per_s"] / r["raw_rows_per_s"]
    print(
        f"import olist {r['orders']:,.0f} orders in {r['seconds']:.1f} s · {r['orders_per_s']:,.0f} orders/s · "
        f"{r['rows_per_s']:,.0f} rows/s ({r['rows']:,.0f} rows) · peak RSS {r['peak_rss_mib']:.0f} MiB"
        f" + planner {r['planner_peak_rss_mib']:.0f} MiB · "
        f"raw insert {r['raw_rows_per_s']:,.0f} rows/s · ratio {ratio:.2f}"
    )


if __name__ == "__main__":
    main()
