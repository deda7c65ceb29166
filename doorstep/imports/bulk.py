"""The fast path for history imports: planned batches in, one bulk insert per table out.

Adapters (``olist.py``, ``shopify_csv.py``) turn files into frozen drafts; ``plan.py`` turns a batch of
drafts into encoded rows with the live path's rules, called rather than re-implemented:

- order money: ``doorstep.orders.service.derive_totals``;
- shipment state, scan identity and milestones: ``doorstep.shipments.status`` ``derive_fingerprint``,
  ``derive_state`` and ``milestones_crossed``; the delay flag: ``doorstep.shipments.promise.delay_reason``;
- milestones: ``doorstep.flows.service.history_rows`` (once per subject, ``is_historical=True``);
- ids and shopper tokens: ``doorstep.core.ids``.

:class:`BulkWriter` writes the catalog and then each planned batch in the caller's transaction, with one
bulk insert per table (:func:`insert_encoded`: binary ``COPY`` on PostgreSQL, the driver's
``executemany`` on SQLite), never a round trip per row. Only the I/O differs from the live path, which
loads and flushes ORM objects one order at a time. Every lookup by natural key is store-scoped
(``tenancy.scoped``), and ids already resolved are cached for the run. Orders whose external id is
already in the store are skipped, which makes re-runs no-ops.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, bindparam, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.catalog.models import Category, Product, Seller
from doorstep.core import clock
from doorstep.core.tenancy import scoped
from doorstep.customers.models import Customer
from doorstep.flows.models import MilestoneEvent
from doorstep.imports.drafts import CategoryDraft, ProductDraft, SellerDraft
from doorstep.imports.encode import Encoded, Memo, encode_rows
from doorstep.imports.plan import REFS, PlannedBatch
from doorstep.orders.models import LineItem, Order, OrderPayment
from doorstep.reviews.models import ReviewImport
from doorstep.shipments.models import Checkpoint, Shipment, ShipmentItem

_LOOKUP_CHUNK = 5000  # bound parameters per IN (…) lookup
SQLITE_CACHE_PRAGMA = "PRAGMA cache_size=-131072"  # 128 MiB of page cache while importing (KiB)
# Checkpoint the WAL every 1 GiB instead of every 4 MiB. A batch of random-keyed index inserts (public
# ids, tokens, external ids) dirties tens of MiB of index pages, so a small limit checkpoints after every
# batch and writes (and fsyncs) the same hot pages into the database file again and again; measured on
# 100,000 orders, those commits took as long as the inserts. A checkpoint every ~10 batches writes each
# hot page once per round; the WAL stays bounded, and :func:`checkpoint` folds it in at the end of a run.
SQLITE_CHECKPOINT_PRAGMA = "PRAGMA wal_autocheckpoint=262144"
SQLITE_DEFAULT_CHECKPOINT_PRAGMA = "PRAGMA wal_autocheckpoint=1000"  # SQLite's own default


@dataclass
class Written:
    orders: int = 0
    skipped: int = 0
    rows: int = 0  # every row inserted, all tables


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys for ``table``, taken the way each backend hands them out.

    PostgreSQL: from the table's own sequence (``nextval`` over ``generate_series``), so concurrent
    writers never collide. SQLite: after the current maximum; the batch's transaction holds SQLite's
    single write lock (``BEGIN IMMEDIATE``), so nobody else can insert in between.
    """
    if session.get_bind().dialect.name == "postgresql":
        sequence = f"{table.name}_id_seq"
        stmt = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        return list(session.scalars(stmt))
    start = session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
    return list(range(start + 1, start + 1 + count))


# (dialect, table, columns) → the SQL and the order its parameters come in; PostgreSQL COPY → type names.
_STATEMENTS: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[int]]] = {}
_PG_TYPES: dict[str, list[str]] = {}


def _statement(session: Session, table: Table, names: tuple[str, ...]) -> tuple[str, list[int]]:
    """The insert for these columns, compiled once, and the positions of ``names`` it takes them in.

    On SQLite it is the one-row ``INSERT … VALUES (?, …)`` for ``executemany``; on PostgreSQL the
    ``COPY t (…) FROM STDIN (FORMAT BINARY)`` that :func:`_insert_pg` streams the rows into.
    """
    dialect = session.get_bind().dialect
    key = (dialect.name, table.name, names)
    found = _STATEMENTS.get(key)
    if found is not None:
        return found
    compiled = insert(table).values({name: bindparam(name) for name in names}).compile(dialect=dialect)
    if dialect.name == "sqlite":
        position = {name: i for i, name in enumerate(names)}
        found = (str(compiled), [position[str(name)] for name in compiled.positiontup or ()])
    else:
        # Core's "INSERT INTO t (a, b)" (quoting included) turned into "COPY t (a, b) FROM STDIN".
        head, _, _ = str(compiled).partition(" VALUES ")
        sql = "COPY " + head.removeprefix("INSERT INTO ") + " FROM STDIN (FORMAT BINARY)"
        _PG_TYPES[sql] = [
            re.sub(r"\(.*\)", "", table.c[name].type.compile(dialect=dialect)).lower() for name in names
        ]
        found = (sql, list(range(len(names))))
    _STATEMENTS[key] = found
    return found


def _insert_pg(session: Session, sql: str, columns: list[list[Any]]) -> None:
    """``COPY t (…) FROM STDIN (FORMAT BINARY)``: the whole batch as one binary stream, no statement
    per row and no per-row executor work on the server (PostgreSQL buffers COPY rows into multi-row
    heap inserts), each value in the column's binary form."""
    cursor = session.connection().connection.cursor()
    try:
        with cursor.copy(sql) as copy:
            copy.set_types(_PG_TYPES[sql])
            for row in zip(*columns, strict=True):
                copy.write_row(row)
    finally:
        cursor.close()


def insert_encoded(session: Session, table: Table, encoded: Encoded) -> None:
    """Insert rows already encoded for this backend (:func:`doorstep.imports.encode.encode_rows`) in one
    bulk statement, in the caller's transaction: the driver's C ``executemany`` on SQLite, one binary
    ``COPY`` on PostgreSQL (psycopg's executemany would send one statement per row)."""
    if not len(encoded):
        return
    sql, order = _statement(session, table, encoded.names)
    columns = [encoded.columns[i] for i in order]
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(sql, list(zip(*columns, strict=True)))
    else:
        _insert_pg(session, sql, columns)


def insert_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], *, memo: Memo | None = None
) -> None:
    """Insert ``rows`` (every one giving the same columns) in one bulk statement, in the caller's
    transaction. Values are handed to the driver already in the form it stores (per-row parameter
    processing would otherwise cost more than the insert); see :func:`encode_rows` for ``memo``."""
    if rows:
        insert_encoded(session, table, encode_rows(session.get_bind().dialect.name, table, rows, memo))


def tune(session: Session) -> None:
    """SQLite: a page cache big enough for the indexes a large import keeps touching (default: 2 MB),
    and fewer WAL checkpoints. Both are per connection and only change speed, never durability."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(SQLITE_CACHE_PRAGMA)
        session.connection().exec_driver_sql(SQLITE_CHECKPOINT_PRAGMA)


def checkpoint(factory: sessionmaker[Session]) -> None:
    """SQLite, at the end of a run: copy the WAL the import left into the database file, truncate it,
    and give the pooled connection back its default checkpoint limit, so the import pays for its own
    writes rather than the next request that happens to commit. Outside any transaction (a checkpoint
    cannot run inside one); if readers hold old snapshots, SQLite checkpoints what it can."""
    engine = factory.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute(SQLITE_DEFAULT_CHECKPOINT_PRAGMA)
        cursor.close()
    finally:
        raw.close()


# Tables whose natural-key lookups run every batch (PostgreSQL plans them from table statistics).
_ANALYZE_LOOKED_UP = (
    "ANALYZE customers", "ANALYZE orders", "ANALYZE products", "ANALYZE sellers", "ANALYZE categories",
)  # fmt: skip


def _refresh_statistics(session: Session, batches_written: int) -> None:
    """PostgreSQL: ANALYZE the looked-up tables after batches 1, 2, 4, 8, … of a run.

    A new store's tables start with statistics saying they are empty, so the planner answers each
    ``store_id = … AND external_id IN (…)`` lookup by scanning the whole store through the store_id
    index; once the import has written 100,000 customers that costs seconds per batch. Autovacuum's
    ANALYZE comes too late for one long import; a few explicit ones (logarithmic in the run's length) fix
    the plans for the rest of the run.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    if batches_written < 1 or batches_written & (batches_written - 1):
        return
    for statement in _ANALYZE_LOOKED_UP:
        session.connection().exec_driver_sql(statement)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _LOOKUP_CHUNK):
        yield values[start : start + _LOOKUP_CHUNK]


class BulkWriter:
    """Writes batches of drafts for one store; keeps natural key → id caches across batches."""

    def __init__(self, *, store_id: int, source: str) -> None:
        self.store_id = store_id
        self.source = source
        self.customers: dict[tuple[str, str], int] = {}
        self.sellers: dict[str, int] = {}
        self.categories: dict[str, int] = {}
        self.batches_written = 0

    # --- catalog -------------------------------------------------------------------------------

    def _ids_by_external(self, session: Session, model: Any, external_ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(external_ids):
            stmt = scoped(select(model.external_id, model.id), model, self.store_id).where(
                model.external_id.in_(chunk)
            )
            found.update((row[0], row[1]) for row in session.execute(stmt))
        return found

    def _insert_missing(
        self, session: Session, model: Any, rows: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, int], int]:
        known = self._ids_by_external(session, model, list(rows))
        missing = [row for ext, row in rows.items() if ext not in known]
        if missing:
            now = clock.now()
            for row in missing:
                row.update(store_id=self.store_id, created_at=now, updated_at=now)
            insert_rows(session, _table(model), missing)
            known = self._ids_by_external(session, model, list(rows))
        return known, len(missing)

    def write_catalog(
        self,
        session: Session,
        *,
        categories: Sequence[CategoryDraft] = (),
        products: Sequence[ProductDraft] = (),
        sellers: Sequence[SellerDraft] = (),
    ) -> int:
        """Insert the categories, products and sellers the store does not have yet; return rows added."""
        added = 0
        cats = {
            c.external_id: {"external_id": c.external_id, "name": c.name, "source_name": c.source_name}
            for c in categories
        }
        for p in products:  # a product may name a category the translation table lacks
            if p.category_ref and p.category_ref not in cats:
                cats[p.category_ref] = {
                    "external_id": p.category_ref,
                    "name": p.category_ref,
                    "source_name": p.category_ref,
                }
        found, n = self._insert_missing(session, Category, cats)
        self.categories.update(found)
        added += n
        product_rows = {
            p.external_id: {
                "external_id": p.external_id,
                "category_id": self.categories.get(p.category_ref) if p.category_ref else None,
                "title": p.title,
                "weight_g": p.weight_g,
                "length_cm": p.length_cm,
                "height_cm": p.height_cm,
                "width_cm": p.width_cm,
                "photos": p.photos,
                "attributes": p.attributes,
            }
            for p in products
        }
        added += self._insert_missing(session, Product, product_rows)[1]
        seller_rows = {
            s.external_id: {
                "external_id": s.external_id,
                "city": s.city,
                "region": s.region,
                "postal_code": s.postal_code,
                "country": s.country,
            }
            for s in sellers
        }
        found, n = self._insert_missing(session, Seller, seller_rows)
        self.sellers.update(found)
        return added + n

    # --- orders and everything that hangs off them -----------------------------------------------

    def _existing_orders(self, session: Session, external_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(external_ids):
            stmt = scoped(select(Order.external_id), Order, self.store_id).where(Order.external_id.in_(chunk))
            found.update(ext for ext in session.scalars(stmt) if ext is not None)
        return found

    def _resolve_customers(self, session: Session, batch: PlannedBatch) -> int:
        """Find the batch's new customers in the store (by external id, else e-mail), insert the rest;
        return how many were inserted. ``self.customers`` then knows every key of the run."""
        keys = batch.customer_row_keys
        for column in ("external_id", "email"):
            values = [value for kind, value in keys if kind == column]
            attr = getattr(Customer, column)
            for chunk in _chunks(values):
                stmt = scoped(select(attr, Customer.id), Customer, self.store_id).where(attr.in_(chunk))
                for value, id_ in session.execute(stmt):
                    self.customers[(column, value)] = id_
        missing = [i for i, key in enumerate(keys) if key not in self.customers]
        if not missing:
            return 0
        rows = batch.customers if len(missing) == len(keys) else _take(batch.customers, missing)
        new_ids = _reserve_ids(session, _table(Customer), len(rows))
        position = rows.names.index("id")
        rows.columns[position] = list(new_ids)
        insert_encoded(session, _table(Customer), rows)
        for i, id_ in zip(missing, new_ids, strict=True):
            self.customers[keys[i]] = id_
        return len(rows)

    def apply(self, session: Session, batch: PlannedBatch) -> Written:
        """Write a planned batch in the caller's transaction: skip the orders the store already has,
        resolve customers, reserve ids and put them where the plan holds positions, insert every table."""
        written = Written(skipped=batch.duplicates)
        tune(session)
        _refresh_statistics(session, self.batches_written)
        self.batches_written += 1
        if not batch.orders:
            return written
        sizes = batch.sizes()  # positions refer to the plan as made, before any order is dropped
        existing = self._existing_orders(session, batch.external_ids)
        tables = batch.tables
        # Customers first, even when every order is skipped: the planner sends each customer once per
        # run, so a later batch's order may need the id found here.
        written.rows += self._resolve_customers(session, batch)
        if existing:
            written.skipped += len(existing)
            keep = {i for i, ext in enumerate(batch.external_ids) if ext not in existing}
            tables = [_take(t, [i for i, o in enumerate(batch.owners[t.table]) if o in keep]) for t in tables]
            tables = [t for t in tables if len(t)]
        reserved = {
            name: _reserve_ids(session, _TABLES[name], sizes[name]) if sizes.get(name) else []
            for name in ("orders", "line_items", "shipments")
        }
        for encoded in tables:
            if encoded.table == "orders":  # before its "id" column turns from positions into ids
                keys, customers = batch.customer_keys, self.customers
                encoded.columns[encoded.names.index("customer_id")] = [
                    customers.get(key) if (key := keys[i]) else None
                    for i in encoded.columns[encoded.names.index("id")]
                ]
            refs = REFS.get(encoded.table, {})
            for position, name in enumerate(encoded.names):
                target = refs.get(name)
                if target is not None:
                    taken = reserved[target]
                    encoded.columns[position] = [taken[i] for i in encoded.columns[position]]
            insert_encoded(session, _TABLES[encoded.table], encoded)
            written.rows += len(encoded)
        written.orders = sum(len(t) for t in tables if t.table == "orders")
        return written


_TABLES: dict[str, Table] = {
    _table(model).name: _table(model)
    for model in (
        Customer,
        Order,
        LineItem,
        OrderPayment,
        ReviewImport,
        Shipment,
        ShipmentItem,
        Checkpoint,
        MilestoneEvent,
    )
}


def _take(encoded: Encoded, rows: list[int]) -> Encoded:
    """The given rows of ``encoded`` only, in order."""
    return Encoded(encoded.table, encoded.names, [[column[i] for i in rows] for column in encoded.columns])
