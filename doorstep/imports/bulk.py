"""The fast path for history imports: drafts in, batched multi-row INSERTs out.

Adapters (``olist.py``, ``shopify_csv.py``) turn files into the frozen drafts below; :class:`BulkWriter`
writes a batch of them in the caller's transaction with one bulk insert per table (:func:`insert_rows`:
binary ``COPY`` on PostgreSQL, the driver's ``executemany`` on SQLite), never a round trip per row. The rules are the live
path's own, called here rather than re-implemented:

- order money: ``doorstep.orders.service.derive_totals``;
- shipment state, scan identity and milestones: ``doorstep.shipments.status`` ``derive_fingerprint``,
  ``derive_state`` and ``milestones_crossed``; the delay flag: ``doorstep.shipments.promise.delay_reason``;
- milestones: ``doorstep.flows.service.record_history`` (once per subject, ``is_historical=True``);
- ids and shopper tokens: ``doorstep.core.ids``.

Only the I/O differs: the live path loads and flushes ORM objects one order at a time. Every lookup by
natural key is store-scoped (``tenancy.scoped``), and ids already resolved are cached for the run.
Orders whose external id is already in the store are skipped, which makes re-runs no-ops.
"""

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, Date, Engine, Table, bindparam, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.catalog.models import Category, Product, Seller
from doorstep.core import clock, ids
from doorstep.core.tenancy import scoped
from doorstep.customers.models import Customer
from doorstep.db import UtcDateTime
from doorstep.flows import service as flow_service
from doorstep.imports.drafts import (
    CategoryDraft,
    CustomerDraft,
    OrderDraft,
    ProductDraft,
    SellerDraft,
)
from doorstep.orders import service as order_service
from doorstep.orders.models import LineItem, Order, OrderPayment
from doorstep.reviews.models import ReviewImport
from doorstep.shipments import promise
from doorstep.shipments.models import Checkpoint, Shipment, ShipmentItem
from doorstep.shipments.status import (
    Scan,
    ShipmentState,
    Status,
    derive_fingerprint,
    derive_state,
    milestones_crossed,
)

_NO_TAGS: list[str] = []  # one shared (never mutated) empty list: encoded once per batch, not per line
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


_OFFSETS: dict[
    timedelta | None, str | None
] = {}  # utcoffset → "+hh:mm": a source has few offsets, rows have many


def _offset(moment: datetime) -> str | None:
    delta = moment.utcoffset()
    if delta in _OFFSETS:
        return _OFFSETS[delta]
    text: str | None = None
    if delta is not None:
        minutes = int(delta.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        text = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    _OFFSETS[delta] = text
    return text


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


_Encoder = Callable[[Any], Any]
# One shared milestone payload per status: equal values, so the SQLite encoder serialises each once.
_STATE_DATA: dict[Status, dict[str, Any]] = {s: {"status": s.value, "substatus": None} for s in Status}
_Column = tuple[str, _Encoder | None, Any]  # name, how its value is stored, scalar default
_PLANS: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[_Column]]] = {}
_PG_TYPES: dict[str, list[str]] = {}  # PostgreSQL COPY statement → its columns' type names


def _sqlite_datetime(value: datetime | None) -> str | None:
    # What doorstep.db.UtcDateTime + SQLAlchemy's SQLite DATETIME store: naive UTC, microseconds.
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _sqlite_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _pg_json(value: Any) -> Json | None:
    return None if value is None else Json(value)


def _plan(session: Session, table: Table, given: tuple[str, ...]) -> tuple[str, list[_Column]]:
    """The INSERT for these columns compiled once, and per column: name, stored form, scalar default.

    Columns the rows leave out are filled from their Python scalar default when they have one and
    no server default (so other capabilities' new columns keep working). On SQLite the statement is
    the one-row ``INSERT … VALUES (?, …)`` for ``executemany``; on PostgreSQL it is the
    ``COPY t (…) FROM STDIN (FORMAT BINARY)`` that :func:`_insert_pg` streams the rows into.
    """
    dialect = session.get_bind().dialect
    key = (dialect.name, table.name, given)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    wanted = set(given)
    columns: list[_Column] = []
    for column in table.columns:
        default = column.default
        scalar = getattr(default, "arg", None) if default is not None and default.is_scalar else None
        if column.name not in wanted and scalar is None:
            continue
        kind = column.type
        encoder: _Encoder | None = None
        if dialect.name == "sqlite":
            if isinstance(kind, UtcDateTime):
                encoder = _sqlite_datetime
            elif isinstance(kind, JSON):
                encoder = _sqlite_json
            elif isinstance(kind, Date):
                encoder = _sqlite_date
        elif isinstance(kind, JSON):
            encoder = _pg_json
        columns.append((column.name, encoder, scalar))
    compiled = (
        insert(table).values({name: bindparam(name) for name, _, _ in columns}).compile(dialect=dialect)
    )
    if dialect.name == "sqlite":
        by_name = {name: (name, encoder, scalar) for name, encoder, scalar in columns}
        plan = (str(compiled), [by_name[str(name)] for name in compiled.positiontup or ()])
    else:
        # Core's "INSERT INTO t (a, b)" (quoting included) turned into "COPY t (a, b) FROM STDIN".
        head, _, _ = str(compiled).partition(" VALUES ")
        sql = "COPY " + head.removeprefix("INSERT INTO ") + " FROM STDIN (FORMAT BINARY)"
        _PG_TYPES[sql] = [
            re.sub(r"\(.*\)", "", table.c[name].type.compile(dialect=dialect)).lower()
            for name, _, _ in columns
        ]
        plan = (sql, columns)
    _PLANS[key] = plan
    return plan


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


# Encoded values shared by the inserts of one batch, per encoder: id(value) → (value, stored form).
# Holding the value keeps its id from being reused while the memo lives.
Memo = dict[_Encoder, dict[int, tuple[Any, Any]]]


def insert_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], *, memo: Memo | None = None
) -> None:
    """Insert ``rows`` (every column given) in one executemany, in the caller's transaction.

    The table's INSERT is compiled once per column set, and values are handed to the driver already
    in the form it stores (per-row parameter processing would otherwise cost more than the insert):
    SQLite gets the driver's C ``executemany``; PostgreSQL gets one ``INSERT … SELECT * FROM unnest(…)``
    with an array per column (psycopg's executemany would send one statement per row). The rows are
    read column by column (one list per column, encoded as a whole) rather than row by row.

    Each distinct object is encoded once: many rows share a value (the batch's ``created_at``, a
    milestone payload), and a batch's tables share more (a scan's time is the checkpoint's, the
    shipment's and the milestone's); pass one ``memo`` to every insert of a batch to share those too.
    """
    if not rows:
        return
    first = rows[0]
    sql, columns = _plan(session, table, tuple(first))
    count = len(rows)
    memo = {} if memo is None else memo
    values: list[list[Any]] = []
    for name, encode, scalar in columns:
        column = [row[name] for row in rows] if name in first else [scalar] * count
        values.append(column if encode is None else _encode_all(column, encode, memo.setdefault(encode, {})))
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(sql, list(zip(*values, strict=True)))
    else:
        _insert_pg(session, sql, values)


def _encode_all(values: list[Any], encode: _Encoder, memo: dict[int, tuple[Any, Any]]) -> list[Any]:
    out: list[Any] = []
    append = out.append
    get = memo.get
    for value in values:
        hit = get(id(value))
        if hit is None:
            hit = memo[id(value)] = (value, encode(value))
        append(hit[1])
    return out


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
        # Public ids and tokens for the rows this writer creates, drawn from the OS in chunks.
        self._ids = {prefix: ids.id_stream(prefix) for prefix in ("cus", "ord", "li", "shp", "cp")}
        self._tokens = ids.token_stream()
        self._memo: Memo = {}  # the current batch's encoded values (see insert_rows)

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

    # --- customers -----------------------------------------------------------------------------

    def _customer_ids(self, session: Session, drafts: Iterable[CustomerDraft]) -> int:
        wanted: dict[tuple[str, str], CustomerDraft] = {}
        for draft in drafts:
            key = draft.key
            if key is not None and key not in self.customers and key not in wanted:
                wanted[key] = draft
        if not wanted:
            return 0
        for column in ("external_id", "email"):
            values = [value for kind, value in wanted if kind == column]
            attr = getattr(Customer, column)
            for chunk in _chunks(values):
                stmt = scoped(select(attr, Customer.id), Customer, self.store_id).where(attr.in_(chunk))
                for value, id_ in session.execute(stmt):
                    self.customers[(column, value)] = id_
        now = clock.now()
        missing = [(key, d) for key, d in wanted.items() if key not in self.customers]
        rows: list[dict[str, Any]] = [
            {
                "public_id": next(self._ids["cus"]),
                "store_id": self.store_id,
                "external_id": d.external_id,
                "email": d.email,
                "phone": d.phone,
                "first_name": d.first_name,
                "last_name": d.last_name,
                "preferences": {},
                "created_at": now,
                "updated_at": now,
            }
            for _, d in missing
        ]
        if rows:
            new_ids = self._insert_with_ids(session, Customer, rows)
            for (key, _), id_ in zip(missing, new_ids, strict=True):
                self.customers[key] = id_
        return len(rows)

    # --- orders and everything that hangs off them -----------------------------------------------

    def _existing_orders(self, session: Session, external_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(external_ids):
            stmt = scoped(select(Order.external_id), Order, self.store_id).where(Order.external_id.in_(chunk))
            found.update(ext for ext in session.scalars(stmt) if ext is not None)
        return found

    def write_orders(self, session: Session, drafts: Sequence[OrderDraft]) -> Written:
        """Insert the orders of one batch (skipping those already in the store) with all they carry."""
        try:
            return self._write_orders(session, drafts)
        finally:
            self._memo.clear()

    def _write_orders(self, session: Session, drafts: Sequence[OrderDraft]) -> Written:
        written = Written()
        tune(session)
        _refresh_statistics(session, self.batches_written)
        self.batches_written += 1
        existing = self._existing_orders(session, [d.external_id for d in drafts])
        fresh: list[OrderDraft] = []
        for draft in drafts:
            if draft.external_id in existing:
                written.skipped += 1
                continue
            existing.add(draft.external_id)  # the same order twice in one batch: the first wins
            fresh.append(draft)
        if not fresh:
            return written
        written.rows += self._customer_ids(session, (d.customer for d in fresh if d.customer))
        now = clock.now()
        order_rows: list[dict[str, Any]] = []
        for d in fresh:
            subtotal, total = order_service.derive_totals(
                ((li.unit_price_minor, li.quantity, li.discount_minor) for li in d.lines),
                shipping=d.shipping_minor,
                tax=d.tax_minor,
                discount=d.discount_minor,
                total=d.total_minor,
            )
            key = d.customer.key if d.customer else None
            order_rows.append(
                {
                    "public_id": next(self._ids["ord"]),
                    "store_id": self.store_id,
                    "customer_id": self.customers.get(key) if key else None,
                    "external_id": d.external_id,
                    "number": d.number,
                    "source": self.source,
                    "placed_at": d.placed_at,
                    "cancelled_at": d.cancelled_at,
                    "cancel_reason": d.cancel_reason,
                    "currency": d.currency,
                    "subtotal_minor": subtotal,
                    "shipping_minor": d.shipping_minor,
                    "tax_minor": d.tax_minor,
                    "discount_minor": d.discount_minor,
                    "total_minor": total,
                    "refunded_minor": 0,
                    "shipping_address": d.shipping_address,
                    "tags": list(d.tags),
                    "note": d.note,
                    "status_token": next(self._tokens),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        order_ids = self._insert_with_ids(session, Order, order_rows)
        for row, order_id in zip(order_rows, order_ids, strict=True):
            row["id"] = order_id
        line_rows: list[dict[str, Any]] = []
        payment_rows: list[dict[str, Any]] = []
        review_rows: list[dict[str, Any]] = []
        for d, order_id in zip(fresh, order_ids, strict=True):
            for position, li in enumerate(d.lines):
                line_rows.append(
                    {
                        "public_id": next(self._ids["li"]),
                        "store_id": self.store_id,
                        "order_id": order_id,
                        "position": position,
                        "external_id": li.external_id,
                        "product_id": li.product_id,
                        "variant_id": None,
                        "sku": li.sku,
                        "title": li.title,
                        "variant_title": li.variant_title,
                        "quantity": li.quantity,
                        "unit_price_minor": li.unit_price_minor,
                        "discount_minor": li.discount_minor,
                        "image_url": None,
                        "product_tags": _NO_TAGS,
                        "is_final_sale": False,
                        "seller_id": self.sellers.get(li.seller_ref) if li.seller_ref else None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            payment_rows.extend(
                {
                    "store_id": self.store_id,
                    "order_id": order_id,
                    "sequence": p.sequence,
                    "method": p.method,
                    "installments": p.installments,
                    "amount_minor": p.amount_minor,
                    "currency": d.currency,
                    "reference": p.reference,
                    "created_at": now,
                    "updated_at": now,
                }
                for p in d.payments
            )
            review_rows.extend(
                {
                    "store_id": self.store_id,
                    "order_id": order_id,
                    "source": self.source,
                    "external_id": r.external_id,
                    "order_external_id": d.external_id,
                    "score": r.score,
                    "title": r.title,
                    "message": r.message,
                    "reviewed_at": r.reviewed_at,
                    "answered_at": r.answered_at,
                    "raw": r.raw,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in d.reviews
            )
        line_ids = self._insert_with_ids(session, LineItem, line_rows)
        if payment_rows:
            insert_rows(session, _table(OrderPayment), payment_rows, memo=self._memo)
        if review_rows:
            insert_rows(session, _table(ReviewImport), review_rows, memo=self._memo)
        occurrences: list[flow_service.Occurrence] = []
        for d, row in zip(fresh, order_rows, strict=True):
            occurrences.append(
                flow_service.Occurrence("order.placed", row["public_id"], row["public_id"], d.placed_at)
            )
            if d.cancelled_at is not None:
                occurrences.append(
                    flow_service.Occurrence(
                        "order.cancelled",
                        row["public_id"],
                        row["public_id"],
                        d.cancelled_at,
                        {"reason": d.cancel_reason},
                    )
                )
        shipped = self._write_shipments(session, fresh, order_rows, line_rows, line_ids, occurrences, now)
        milestones = flow_service.record_history(
            session,
            store_id=self.store_id,
            occurrences=occurrences,
            write=lambda s, table, rows: insert_rows(s, table, rows, memo=self._memo),
            new_subjects=True,  # every subject is an order or parcel this batch just created
        )
        written.orders = len(fresh)
        written.rows += len(order_rows) + len(line_rows) + len(payment_rows) + len(review_rows)
        written.rows += shipped + milestones
        return written

    def _insert_with_ids(self, session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
        """Insert rows with ids reserved up front (one round trip), so no RETURNING per row is needed."""
        if not rows:
            return []
        table = _table(model)
        new_ids = _reserve_ids(session, table, len(rows))
        for row, id_ in zip(rows, new_ids, strict=True):
            row["id"] = id_
        insert_rows(session, table, rows, memo=self._memo)
        return new_ids

    def _write_shipments(
        self,
        session: Session,
        drafts: Sequence[OrderDraft],
        order_rows: Sequence[dict[str, Any]],
        line_rows: Sequence[dict[str, Any]],
        line_ids: Sequence[int],
        occurrences: list[flow_service.Occurrence],
        now: datetime,
    ) -> int:
        lines_by_order: dict[int, list[tuple[int, int]]] = {}
        for row, line_id in zip(line_rows, line_ids, strict=True):
            lines_by_order.setdefault(row["order_id"], []).append((line_id, row["quantity"]))
        shipment_rows: list[dict[str, Any]] = []
        scans_per_shipment: list[list[dict[str, Any]]] = []
        for d, order_row in zip(drafts, order_rows, strict=True):
            if d.shipment is None:
                continue
            s = d.shipment
            checkpoint_rows: list[dict[str, Any]] = []
            scans: list[Scan] = []
            for cp in s.scans:
                fingerprint = derive_fingerprint(
                    cp.occurred_at, cp.raw_code, cp.message, cp.city, cp.postal_code, cp.country
                )
                scans.append(Scan(cp.occurred_at, cp.status, None, fingerprint))
                checkpoint_rows.append(
                    {
                        "public_id": next(self._ids["cp"]),
                        "store_id": self.store_id,
                        "occurred_at": cp.occurred_at,
                        "utc_offset": _offset(cp.occurred_at),
                        "status": cp.status.value,
                        "substatus": None,
                        "raw_code": cp.raw_code,
                        "raw_message": cp.message,
                        "city": cp.city,
                        "region": cp.region,
                        "postal_code": cp.postal_code,
                        "country": cp.country,
                        "source": self.source,
                        "fingerprint": fingerprint,
                        "created_at": now,
                    }
                )
            state = derive_state(scans)
            # Was the parcel late? The live rule, asked on the day it arrived (today, if it never did).
            reason = promise.delay_reason(
                is_terminal=False,
                promised_on=s.promised_on,
                expected_on=None,
                today=(state.delivered_at or now).date(),
            )
            public_id = next(self._ids["shp"])
            shipment_rows.append(
                {
                    "public_id": public_id,
                    "store_id": self.store_id,
                    "order_id": order_row["id"],
                    "external_id": None,
                    "carrier": s.carrier,
                    "service": s.service,
                    "tracking_number": s.tracking_number,
                    "tracking_url": None,
                    "direction": "outbound",
                    "status": state.status.value,
                    "substatus": None,
                    "status_changed_at": state.status_changed_at,
                    "last_checkpoint_at": state.last_checkpoint_at,
                    "shipped_at": state.shipped_at,
                    "delivered_at": state.delivered_at,
                    "promised_on": s.promised_on,
                    "expected_on": None,
                    "order_ref": None,
                    "signed_by": None,
                    "is_delayed": reason is not None,
                    "delay_reason": reason,
                    "is_stalled": False,
                    "poll_source": None,  # history is never polled
                    "next_poll_at": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            scans_per_shipment.append(checkpoint_rows)
            reached_at = dict(state.reached_at)
            occurrences.extend(
                flow_service.Occurrence(
                    name,
                    public_id,
                    order_row["public_id"],
                    reached_at[name],
                    _STATE_DATA[state.status],
                )
                for name in milestones_crossed(ShipmentState(), state)
            )
        shipment_ids = self._insert_with_ids(session, Shipment, shipment_rows)
        item_rows: list[dict[str, Any]] = []
        checkpoint_rows_all: list[dict[str, Any]] = []
        for row, shipment_id, checkpoint_rows in zip(
            shipment_rows, shipment_ids, scans_per_shipment, strict=True
        ):
            for line_id, quantity in lines_by_order.get(row["order_id"], []):
                item_rows.append(
                    {
                        "store_id": self.store_id,
                        "shipment_id": shipment_id,
                        "line_item_id": line_id,
                        "quantity": quantity,
                    }
                )
            for cp_row in checkpoint_rows:
                cp_row["shipment_id"] = shipment_id
                checkpoint_rows_all.append(cp_row)
        if item_rows:
            insert_rows(session, _table(ShipmentItem), item_rows, memo=self._memo)
        if checkpoint_rows_all:
            insert_rows(session, _table(Checkpoint), checkpoint_rows_all, memo=self._memo)
        return len(shipment_rows) + len(item_rows) + len(checkpoint_rows_all)
