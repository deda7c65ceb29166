"""A batch of order drafts planned into encoded rows, without a database.

Everything an import decides about a batch that does not depend on what the database holds happens
here: the live path's rules (totals, scan identity, shipment state, late flag, historical milestones),
public ids and shopper tokens, and the encoding of every value for the backend. What does depend on the
database is left for :meth:`doorstep.imports.bulk.BulkWriter.apply`, which runs inside the batch's
transaction: which orders the store already has, which customers exist, and the rows' integer ids.

Until then a row's id, and every column referring to another row of the batch, holds the row's position
in its table's list (``REFS`` says which columns and which table); ``apply`` swaps positions for the
ids it reserves. That is what lets a planner run ahead in another process (``doorstep.imports.pipeline``)
while the previous batch is being written.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table

from doorstep.core import clock, ids
from doorstep.customers.models import Customer
from doorstep.flows import service as flow_service
from doorstep.flows.models import MilestoneEvent
from doorstep.imports.drafts import OrderDraft
from doorstep.imports.encode import Encoded, Memo, encode_rows
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

CustomerKey = tuple[str, str]
# Columns holding a position in the batch until ``apply``: table → {column: the table it points into}.
REFS: dict[str, dict[str, str]] = {
    "customers": {"id": "customers"},
    "orders": {"id": "orders"},
    "line_items": {"id": "line_items", "order_id": "orders"},
    "order_payments": {"order_id": "orders"},
    "review_imports": {"order_id": "orders"},
    "shipments": {"id": "shipments", "order_id": "orders"},
    "shipment_items": {"shipment_id": "shipments", "line_item_id": "line_items"},
    "checkpoints": {"shipment_id": "shipments"},
}
_NO_TAGS: list[str] = []  # one shared (never mutated) empty list: encoded once per batch, not per line
# One shared milestone payload per status: equal values, so the SQLite encoder serialises each once.
_STATE_DATA: dict[Status, dict[str, Any]] = {s: {"status": s.value, "substatus": None} for s in Status}
_OFFSETS: dict[timedelta | None, str | None] = {}  # utcoffset → "+hh:mm": a source has few offsets


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


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


@dataclass
class PlannedBatch:
    """One batch's rows, encoded, with positions where database ids go (see the module's docstring)."""

    duplicates: int  # drafts dropped because this run already planned their external id
    external_ids: list[str]  # per planned order (its position)
    customer_keys: list[CustomerKey | None]  # per planned order: whose order it is
    customers: Encoded  # customers this run has not met yet (``apply`` inserts those the store lacks)
    customer_row_keys: list[CustomerKey]  # per row of ``customers``
    tables: list[Encoded]  # in insert order, parents first
    owners: dict[str, list[int]]  # table → each row's order position, to drop orders the store has
    rejects: list[Any] = field(default_factory=list)  # rejects the source found (pipeline only)

    @property
    def orders(self) -> int:
        return len(self.external_ids)

    @property
    def drafts(self) -> int:
        """Orders the source handed in for this batch, duplicates included (progress counts these)."""
        return len(self.external_ids) + self.duplicates

    def sizes(self) -> dict[str, int]:
        sizes = {t.table: len(t) for t in self.tables}
        sizes["customers"] = len(self.customers)
        return sizes


class BatchPlanner:
    """Plans the batches of one import run for one store; remembers the run's orders and customers."""

    def __init__(self, *, store_id: int, source: str, dialect: str, sellers: dict[str, int]) -> None:
        self.store_id = store_id
        self.source = source
        self.dialect = dialect
        self.sellers = sellers  # seller external id → id (the catalog is written before any batch)
        self._seen_orders: set[str] = set()
        self._seen_customers: set[CustomerKey] = set()
        self._ids = {prefix: ids.id_stream(prefix) for prefix in ("cus", "ord", "li", "shp", "cp")}
        self._tokens = ids.token_stream()

    def plan(self, drafts: Sequence[OrderDraft]) -> PlannedBatch:
        memo: Memo = {}  # the batch's encoded values, shared by its tables
        fresh: list[OrderDraft] = []
        for draft in drafts:
            if draft.external_id in self._seen_orders:  # the same order twice in a run: the first wins
                continue
            self._seen_orders.add(draft.external_id)
            fresh.append(draft)
        now = clock.now()
        customer_rows, customer_row_keys = self._customers(fresh, now)
        order_rows: list[dict[str, Any]] = []
        line_rows: list[dict[str, Any]] = []
        payment_rows: list[dict[str, Any]] = []
        review_rows: list[dict[str, Any]] = []
        occurrences: list[flow_service.Occurrence] = []
        for position, d in enumerate(fresh):
            subtotal, total = order_service.derive_totals(
                ((li.unit_price_minor, li.quantity, li.discount_minor) for li in d.lines),
                shipping=d.shipping_minor,
                tax=d.tax_minor,
                discount=d.discount_minor,
                total=d.total_minor,
            )
            public_id = next(self._ids["ord"])
            order_rows.append(
                {
                    "id": position,
                    "public_id": public_id,
                    "store_id": self.store_id,
                    "customer_id": None,  # ``apply`` resolves ``customer_keys``
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
            for index, li in enumerate(d.lines):
                line_rows.append(
                    {
                        "id": len(line_rows),
                        "public_id": next(self._ids["li"]),
                        "store_id": self.store_id,
                        "order_id": position,
                        "position": index,
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
                    "order_id": position,
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
                    "order_id": position,
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
            occurrences.append(flow_service.Occurrence("order.placed", public_id, public_id, d.placed_at))
            if d.cancelled_at is not None:
                occurrences.append(
                    flow_service.Occurrence(
                        "order.cancelled", public_id, public_id, d.cancelled_at, {"reason": d.cancel_reason}
                    )
                )
        shipment_rows, item_rows, checkpoint_rows = self._shipments(
            fresh, order_rows, line_rows, occurrences, now
        )
        # Every subject is an order or parcel planned just now, so none has a milestone yet.
        milestone_rows = flow_service.history_rows(store_id=self.store_id, occurrences=occurrences)
        by_model = (
            (Order, order_rows), (LineItem, line_rows), (OrderPayment, payment_rows),
            (ReviewImport, review_rows), (Shipment, shipment_rows), (ShipmentItem, item_rows),
            (Checkpoint, checkpoint_rows), (MilestoneEvent, milestone_rows),
        )  # fmt: skip
        tables = [encode_rows(self.dialect, _table(model), rows, memo) for model, rows in by_model if rows]
        shipment_owner = [row["order_id"] for row in shipment_rows]
        owners = {
            "orders": list(range(len(order_rows))),
            "line_items": [row["order_id"] for row in line_rows],
            "order_payments": [row["order_id"] for row in payment_rows],
            "review_imports": [row["order_id"] for row in review_rows],
            "shipments": shipment_owner,
            "shipment_items": [shipment_owner[row["shipment_id"]] for row in item_rows],
            "checkpoints": [shipment_owner[row["shipment_id"]] for row in checkpoint_rows],
            "milestone_events": [],  # filled below: by the order the subject belongs to
        }
        order_position = {row["public_id"]: row["id"] for row in order_rows}
        owners["milestone_events"] = [order_position[row["order_id"]] for row in milestone_rows]
        return PlannedBatch(
            duplicates=len(drafts) - len(fresh),
            external_ids=[d.external_id for d in fresh],
            customer_keys=[d.customer.key if d.customer else None for d in fresh],
            customers=encode_rows(self.dialect, _table(Customer), customer_rows, memo),
            customer_row_keys=customer_row_keys,
            tables=tables,
            owners=owners,
        )

    def _customers(
        self, drafts: Sequence[OrderDraft], now: datetime
    ) -> tuple[list[dict[str, Any]], list[CustomerKey]]:
        rows: list[dict[str, Any]] = []
        keys: list[CustomerKey] = []
        for d in drafts:
            c = d.customer
            key = c.key if c else None
            if c is None or key is None or key in self._seen_customers:
                continue
            self._seen_customers.add(key)
            keys.append(key)
            rows.append(
                {
                    "id": len(rows),
                    "public_id": next(self._ids["cus"]),
                    "store_id": self.store_id,
                    "external_id": c.external_id,
                    "email": c.email,
                    "phone": c.phone,
                    "first_name": c.first_name,
                    "last_name": c.last_name,
                    "preferences": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
        return rows, keys

    def _shipments(
        self,
        drafts: Sequence[OrderDraft],
        order_rows: Sequence[dict[str, Any]],
        line_rows: Sequence[dict[str, Any]],
        occurrences: list[flow_service.Occurrence],
        now: datetime,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        lines_by_order: dict[int, list[tuple[int, int]]] = {}
        for row in line_rows:
            lines_by_order.setdefault(row["order_id"], []).append((row["id"], row["quantity"]))
        shipment_rows: list[dict[str, Any]] = []
        item_rows: list[dict[str, Any]] = []
        checkpoint_rows: list[dict[str, Any]] = []
        for d, order_row in zip(drafts, order_rows, strict=True):
            if d.shipment is None:
                continue
            s = d.shipment
            position = len(shipment_rows)
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
                        "shipment_id": position,
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
                    "id": position,
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
            item_rows.extend(
                {
                    "store_id": self.store_id,
                    "shipment_id": position,
                    "line_item_id": line,
                    "quantity": quantity,
                }
                for line, quantity in lines_by_order.get(order_row["id"], [])
            )
            reached_at = dict(state.reached_at)
            occurrences.extend(
                flow_service.Occurrence(
                    name, public_id, order_row["public_id"], reached_at[name], _STATE_DATA[state.status]
                )
                for name in milestones_crossed(ShipmentState(), state)
            )
        return shipment_rows, item_rows, checkpoint_rows
