"""Orders: the only writer of orders and line items."""

import functools
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, Table, bindparam, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.customers import service as customer_service
from doorstep.db import OneRowRead, UtcDateTime
from doorstep.flows import service as flow_service
from doorstep.orders.commands import (
    CancelOrder,
    CancelOrderByRef,
    CreateOrder,
    LineItemInput,
    RecordRefund,
    UpdateOrder,
    UpsertOrder,
)
from doorstep.orders.models import LineItem, Order, OrderRefund


@dataclass(frozen=True)
class Applied:
    order: Order
    milestones: list[str]


def get_order(session: Session, *, store_id: int, order_id: str) -> Order:
    stmt = scoped(select(Order), Order, store_id).where(Order.public_id == order_id)
    order = session.scalars(stmt).one_or_none()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def find_by_external_id(session: Session, *, store_id: int, external_id: str) -> Order | None:
    stmt = scoped(select(Order), Order, store_id).where(Order.external_id == external_id)
    return session.scalars(stmt).one_or_none()


def list_orders(
    session: Session,
    *,
    store_id: int,
    limit: int,
    cursor: str | None = None,
    number: str | None = None,
    customer_email: str | None = None,
) -> tuple[list[Order], str | None]:
    stmt = scoped(select(Order), Order, store_id)
    if number is not None:
        stmt = stmt.where(Order.number == number)
    if customer_email is not None:
        from doorstep.customers.models import Customer

        stmt = stmt.join(Customer, Customer.id == Order.customer_id).where(
            Customer.email == customer_email.lower()
        )
    return paginate(session, stmt, Order, limit=limit, cursor=cursor)


def derive_totals(
    lines: Iterable[tuple[int, int, int]], *, shipping: int, tax: int, discount: int, total: int | None
) -> tuple[int, int]:
    """(subtotal, total) from lines given as (unit price, quantity, line discount), all in minor units.

    The one rule for order money, used by live ingestion and by history imports alike: the total is
    the platform's when it sent one, else lines less discounts plus shipping and tax (never below 0).
    """
    subtotal = sum(price * quantity - line_discount for price, quantity, line_discount in lines)
    computed = subtotal - discount + shipping + tax
    return subtotal, total if total is not None else max(computed, 0)


def _totals(cmd: CreateOrder) -> tuple[int, int]:
    return derive_totals(
        ((li.unit_price_minor, li.quantity, li.discount_minor) for li in cmd.line_items),
        shipping=cmd.shipping_minor,
        tax=cmd.tax_minor,
        discount=cmd.discount_minor,
        total=cmd.total_minor,
    )


def create_order(session: Session, *, store_id: int, cmd: CreateOrder, historical: bool = False) -> Applied:
    """Create an order with its lines (and upsert its shopper); emits ``order.placed``."""
    if cmd.external_id and find_by_external_id(session, store_id=store_id, external_id=cmd.external_id):
        raise Conflict(
            f"an order with external_id {cmd.external_id!r} already exists; update it with PATCH /api/v1/orders/{{id}}"
        )
    customer = (
        customer_service.upsert_customer(session, store_id=store_id, cmd=cmd.customer)
        if cmd.customer
        else None
    )
    subtotal, total = _totals(cmd)
    order = Order(
        public_id=ids.new_id("ord"),
        store_id=store_id,
        customer_id=customer.id if customer else None,
        external_id=cmd.external_id,
        number=cmd.number,
        source=cmd.source,
        placed_at=clock.as_utc(cmd.placed_at),
        currency=cmd.currency,
        subtotal_minor=subtotal,
        shipping_minor=cmd.shipping_minor,
        tax_minor=cmd.tax_minor,
        discount_minor=cmd.discount_minor,
        total_minor=total,
        shipping_address=cmd.shipping_address.model_dump(mode="json", exclude_none=True)
        if cmd.shipping_address
        else None,
        tags=list(cmd.tags),
        note=cmd.note,
        status_token=ids.new_token(),
    )
    order.line_items = [
        LineItem(
            public_id=ids.new_id("li"),
            store_id=store_id,
            position=position,
            external_id=li.external_id,
            product_id=li.product_id,
            variant_id=li.variant_id,
            sku=li.sku,
            title=li.title,
            variant_title=li.variant_title,
            quantity=li.quantity,
            unit_price_minor=li.unit_price_minor,
            discount_minor=li.discount_minor,
            image_url=li.image_url,
            product_tags=list(li.product_tags),
            is_final_sale=li.is_final_sale,
        )
        for position, li in enumerate(cmd.line_items)
    ]
    session.add(order)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create with the same external_id won the race
        raise Conflict(f"an order with external_id {cmd.external_id!r} already exists") from exc
    recorded = flow_service.emit(
        session,
        store_id=store_id,
        occurrences=[
            flow_service.Occurrence("order.placed", order.public_id, order.public_id, cmd.placed_at)
        ],
        historical=historical,
    )
    return Applied(order, recorded)


def update_order(session: Session, *, store_id: int, order_id: str, cmd: UpdateOrder) -> Order:
    order = get_order(session, store_id=store_id, order_id=order_id)
    if cmd.customer is not None:
        order.customer_id = customer_service.upsert_customer(session, store_id=store_id, cmd=cmd.customer).id
    if cmd.number is not None:
        order.number = cmd.number
    if cmd.shipping_address is not None:
        order.shipping_address = cmd.shipping_address.model_dump(mode="json", exclude_none=True)
    if cmd.tags is not None:
        order.tags = list(cmd.tags)
    if cmd.note is not None:
        order.note = cmd.note
    order.updated_at = clock.now()
    session.flush()
    session.refresh(order)
    return order


def cancel_order(session: Session, *, store_id: int, order_id: str, cmd: CancelOrder) -> Applied:
    """Cancel once; cancelling again is a no-op. Emits ``order.cancelled``."""
    order = get_order(session, store_id=store_id, order_id=order_id)
    recorded = _mark_cancelled(session, order, cmd.cancelled_at, cmd.reason)
    return Applied(order, recorded)


def cancel_by_external_id(session: Session, *, store_id: int, cmd: CancelOrderByRef) -> Applied:
    """Cancel the order a platform knows by its external id; NotFound until that order arrives."""
    order = _by_external_id(session, store_id, cmd.external_id, lock=True)
    if order is None:
        raise NotFound(
            f"order {cmd.external_id} is not known yet; replay this cancellation after the order arrives"
        )
    return Applied(order, _mark_cancelled(session, order, cmd.cancelled_at, cmd.reason))


def _mark_cancelled(
    session: Session, order: Order, at: datetime | None, reason: str | None, *, historical: bool = False
) -> list[str]:
    if order.cancelled_at is not None:
        return []
    order.cancelled_at = clock.as_utc(at) if at else clock.now()
    order.cancel_reason = reason
    session.flush()
    return flow_service.emit(
        session,
        store_id=order.store_id,
        occurrences=[
            flow_service.Occurrence(
                "order.cancelled", order.public_id, order.public_id, order.cancelled_at, {"reason": reason}
            )
        ],
        historical=historical,
    )


# --- commerce platforms: upserts and refunds ------------------------------------------------------


def _by_external_id(session: Session, store_id: int, external_id: str, *, lock: bool = False) -> Order | None:
    stmt = scoped(select(Order), Order, store_id).where(Order.external_id == external_id)
    if lock:
        # Serialises concurrent deliveries for one order on PostgreSQL (SQLite has one writer anyway).
        stmt = stmt.with_for_update(of=Order)
    return session.scalars(stmt).unique().one_or_none()


def upsert_order(session: Session, *, store_id: int, cmd: UpsertOrder, historical: bool = False) -> Applied:
    """Create the order when its external id is new, else bring it in line with the platform's view.

    Emits ``order.placed`` on create and ``order.cancelled`` the first time ``cancelled_at`` appears.
    Lines are matched by external id; a line the platform no longer lists is removed unless a
    shipment holds it (then it stays, so parcels keep their contents).
    """
    order = _by_external_id(session, store_id, cmd.external_id, lock=True)
    recorded: list[str] = []
    if order is None:
        try:
            with session.begin_nested():
                created = create_order(session, store_id=store_id, cmd=cmd, historical=historical)
        except Conflict:
            # A concurrent delivery of the same order created it first: update that one instead.
            order = _by_external_id(session, store_id, cmd.external_id, lock=True)
            if order is None:
                raise
            _update_from(session, order, cmd)
        else:
            order, recorded = created.order, list(created.milestones)
    else:
        _update_from(session, order, cmd)
    if cmd.cancelled_at is not None:
        recorded += _mark_cancelled(
            session, order, cmd.cancelled_at, cmd.cancel_reason, historical=historical
        )
    return Applied(order, recorded)


def _update_from(session: Session, order: Order, cmd: UpsertOrder) -> None:
    subtotal, total = _totals(cmd)
    if total < order.refunded_minor:
        raise Invalid.field(
            "total_minor",
            f"{total} is less than the {order.refunded_minor} already refunded on order {order.public_id}",
            "send the order's total before refunds",
        )
    if cmd.customer is not None:
        order.customer = customer_service.upsert_customer(session, store_id=order.store_id, cmd=cmd.customer)
    order.number = cmd.number
    order.placed_at = clock.as_utc(cmd.placed_at)
    order.currency = cmd.currency
    order.subtotal_minor = subtotal
    order.shipping_minor = cmd.shipping_minor
    order.tax_minor = cmd.tax_minor
    order.discount_minor = cmd.discount_minor
    order.total_minor = total
    if "shipping_address" in cmd.model_fields_set:
        order.shipping_address = (
            cmd.shipping_address.model_dump(mode="json", exclude_none=True) if cmd.shipping_address else None
        )
    if "tags" in cmd.model_fields_set:
        order.tags = list(cmd.tags)
    if "note" in cmd.model_fields_set:
        order.note = cmd.note
    order.line_items = _merge_lines(session, order, cmd.line_items)
    order.updated_at = clock.now()
    session.flush()


def _merge_lines(session: Session, order: Order, inputs: tuple[LineItemInput, ...]) -> list[LineItem]:
    by_external = {li.external_id: li for li in order.line_items if li.external_id}
    merged: list[LineItem] = []
    for li in inputs:
        row = by_external.pop(li.external_id or "", None)
        if row is None:
            row = LineItem(public_id=ids.new_id("li"), store_id=order.store_id)
        row.position = len(merged)
        row.external_id = li.external_id
        for attr in ("product_id", "variant_id", "sku", "title", "variant_title", "quantity", "image_url"):
            setattr(row, attr, getattr(li, attr))
        row.unit_price_minor = li.unit_price_minor
        row.discount_minor = li.discount_minor
        # Merchant-side facts the platform may not carry are only changed when sent.
        row.product_tags = (
            list(li.product_tags) if "product_tags" in li.model_fields_set else row.product_tags or []
        )
        row.is_final_sale = (
            li.is_final_sale if "is_final_sale" in li.model_fields_set else bool(row.is_final_sale)
        )
        merged.append(row)
    gone = [li for li in order.line_items if li not in merged]
    held = _held_by_shipments(session, order.store_id, [li.id for li in gone])
    for row in gone:
        if row.id in held:
            row.position = len(merged)
            merged.append(row)
    return merged


def _held_by_shipments(session: Session, store_id: int, line_ids: list[int]) -> set[int]:
    if not line_ids:
        return set()
    # Shipments build on orders, so this one read looks upwards; imported here to keep that visible.
    from doorstep.shipments.models import ShipmentItem

    stmt = scoped(select(ShipmentItem.line_item_id), ShipmentItem, store_id).where(
        ShipmentItem.line_item_id.in_(line_ids)
    )
    return set(session.scalars(stmt))


def record_refund(session: Session, *, store_id: int, cmd: RecordRefund) -> Applied:
    """Record money returned for an order, once per refund id; emits ``refund.issued`` when money moved.

    The sum refunded never exceeds the order's total: a refund that would pass it is refused.
    """
    order = _by_external_id(session, store_id, cmd.order_external_id, lock=True)
    if order is None:
        raise NotFound(
            f"order {cmd.order_external_id} is not known yet; replay this refund after the order arrives"
        )
    stmt = scoped(select(OrderRefund), OrderRefund, store_id).where(
        OrderRefund.order_id == order.id, OrderRefund.external_id == cmd.external_id
    )
    if session.scalars(stmt).one_or_none() is not None:
        return Applied(order, [])  # a repeat of a refund already recorded changes nothing
    if cmd.currency is not None and cmd.currency != order.currency:
        raise Invalid.field(
            "currency",
            f"{cmd.currency} is not the currency of order {order.public_id} ({order.currency})",
            f"send the refund amount in {order.currency}",
        )
    refunded = order.refunded_minor + cmd.amount_minor
    if refunded > order.total_minor:
        raise Invalid.field(
            "amount_minor",
            f"{cmd.amount_minor} would bring the refunds of order {order.public_id} to {refunded}, "
            f"more than its total of {order.total_minor}",
            f"send at most {order.total_minor - order.refunded_minor}",
        )
    refund = OrderRefund(
        public_id=ids.new_id("rf"),
        store_id=store_id,
        order_id=order.id,
        external_id=cmd.external_id,
        amount_minor=cmd.amount_minor,
        currency=order.currency,
        processed_at=clock.as_utc(cmd.processed_at),
        lines=[line.model_dump(mode="json") for line in cmd.lines],
    )
    session.add(refund)
    order.refunded_minor = refunded
    order.updated_at = clock.now()
    session.flush()
    if cmd.amount_minor == 0:
        return Applied(order, [])  # e.g. a restock without money back: recorded, but nothing to announce
    recorded = flow_service.emit(
        session,
        store_id=store_id,
        occurrences=[
            flow_service.Occurrence(
                "refund.issued",
                refund.public_id,
                order.public_id,
                cmd.processed_at,
                {
                    "amount_minor": cmd.amount_minor,
                    "currency": order.currency,
                    "external_id": cmd.external_id,
                },
            )
        ],
    )
    return Applied(order, recorded)


def record_refund_for_order(
    session: Session,
    *,
    store_id: int,
    order_row_id: int,
    external_id: str,
    amount_minor: int,
    processed_at: datetime,
    lines: list[dict[str, object]],
) -> Applied:
    """Record a refund Doorstep itself issued (a return's), for an order with or without an external id.

    The same rules as :func:`record_refund`: once per refund id, never past the order's total.
    """
    stmt = scoped(select(Order), Order, store_id).where(Order.id == order_row_id).with_for_update(of=Order)
    order = session.scalars(stmt).unique().one()
    seen = scoped(select(OrderRefund), OrderRefund, store_id).where(
        OrderRefund.order_id == order.id, OrderRefund.external_id == external_id
    )
    if session.scalars(seen).one_or_none() is not None:
        return Applied(order, [])
    refunded = order.refunded_minor + amount_minor
    if refunded > order.total_minor:
        raise Invalid.field(
            "amount_minor",
            f"{amount_minor} would bring the refunds of order {order.public_id} to {refunded}, "
            f"more than its total of {order.total_minor}",
            f"send at most {order.total_minor - order.refunded_minor}",
        )
    refund = OrderRefund(
        public_id=ids.new_id("rf"), store_id=store_id, order_id=order.id, external_id=external_id,
        amount_minor=amount_minor, currency=order.currency, processed_at=clock.as_utc(processed_at), lines=lines,
    )  # fmt: skip
    session.add(refund)
    order.refunded_minor = refunded
    order.updated_at = clock.now()
    session.flush()
    if amount_minor == 0:
        return Applied(order, [])
    data = {"amount_minor": amount_minor, "currency": order.currency, "external_id": external_id}
    occurrence = flow_service.Occurrence(
        "refund.issued", refund.public_id, order.public_id, processed_at, data
    )
    return Applied(order, flow_service.emit(session, store_id=store_id, occurrences=[occurrence]))


def list_refunds(session: Session, *, store_id: int, order_id: str) -> list[OrderRefund]:
    order = get_order(session, store_id=store_id, order_id=order_id)
    stmt = scoped(select(OrderRefund), OrderRefund, store_id).where(OrderRefund.order_id == order.id)
    return list(session.scalars(stmt.order_by(OrderRefund.processed_at, OrderRefund.id)))


# --- the shopper's order-status link -------------------------------------------------------------


def get_by_status_token(session: Session, *, token: str) -> Order | None:
    """The order a shopper's link token opens, or None (unknown or rotated). Resolves the tenant."""
    if not 16 <= len(token) <= 64:
        return None
    return session.scalars(select(Order).where(Order.status_token == token)).unique().one_or_none()


def _lookup_key(value: str | None) -> bytes:
    return "".join((value or "").split()).casefold().encode()


def find_for_lookup(
    session: Session, *, store_id: int, number: str, email: str | None, postal_code: str | None
) -> Order | None:
    """The order with this number whose e-mail or postal code matches, else None.

    Unknown numbers and wrong details do the same work (one query, one constant-time comparison per
    candidate or a dummy), so neither the answer nor its timing tells them apart.
    """
    from doorstep.customers.models import Customer

    cleaned = number.strip().lstrip("#").strip()
    stmt = (
        scoped(select(Order, Customer.email), Order, store_id)
        .outerjoin(Customer, Customer.id == Order.customer_id)
        .where(Order.number.in_([cleaned, f"#{cleaned}"]))
        .order_by(Order.id)
        .limit(5)
    )
    rows: list[tuple[Order | None, str | None]] = (
        [(o, e) for o, e in session.execute(stmt).unique()] if cleaned else []
    )
    wanted_email, wanted_postal = _lookup_key(email), _lookup_key(postal_code)
    found: Order | None = None
    for order, customer_email in rows or [(None, None)]:
        address = (order.shipping_address if order is not None else None) or {}
        email_ok = hmac.compare_digest(_lookup_key(customer_email) or b"\x00", wanted_email or b"\x01")
        postal_ok = hmac.compare_digest(
            _lookup_key(address.get("postal_code")) or b"\x00", wanted_postal or b"\x01"
        )
        if order is not None and (email_ok or postal_ok) and found is None:
            found = order
    return found


def rotate_status_token(session: Session, *, store_id: int, order_id: str) -> Order:
    """Issue a new link token; the old link stops working at once."""
    order = get_order(session, store_id=store_id, order_id=order_id)
    order.status_token = ids.new_token()
    order.updated_at = clock.now()
    session.flush()
    return order


def record_tracking_visits(session: Session, *, counts: Mapping[tuple[int, int], int]) -> None:
    """Add counted views of tracking pages, ``{(store id, order id): views}``, ``updated_at`` left alone.

    The web process runs this once a second beside the event loop, so its Python work is what matters: on
    SQLite it is one statement over a JSON array (the per-row work happens inside SQLite, without the
    GIL); a statement per order cost ~35 µs of Python each, and 200 orders delayed the loop's page views
    by milliseconds. PostgreSQL keeps one statement per order in id order, so two processes flushing the
    same orders lock them in the same order and never deadlock (SQLite's writer lock is whole-file).
    """
    if not counts:
        return
    ordered = sorted(counts.items(), key=lambda kv: kv[0][1])
    now = clock.now()
    if session.get_bind().dialect.name == "sqlite":
        triples = json.dumps([[order_id, store_id, views] for (store_id, order_id), views in ordered])
        session.execute(_ADD_VISITS_SQLITE, {"counts": triples, "visited_at": now})
        return
    orders = Order.__table__
    assert isinstance(orders, Table)
    statement = (
        update(orders)
        .where(orders.c.id == bindparam("order_id"), orders.c.store_id == bindparam("tenant"))
        .values(
            tracking_page_visits=orders.c.tracking_page_visits + bindparam("views"),
            tracking_page_last_visit_at=bindparam("visited_at"),
            updated_at=orders.c.updated_at,
        )
    )
    rows = [
        {"order_id": order_id, "tenant": store_id, "views": views, "visited_at": now}
        for (store_id, order_id), views in ordered
    ]
    session.execute(statement, rows)


_ADD_VISITS_SQLITE = text(
    "UPDATE orders SET tracking_page_visits = tracking_page_visits + v.views,"
    " tracking_page_last_visit_at = :visited_at"
    " FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS store_id,"
    " json_extract(value, '$[2]') AS views FROM json_each(:counts)) AS v"
    " WHERE orders.id = v.id AND orders.store_id = v.store_id"
).bindparams(bindparam("visited_at", type_=UtcDateTime()))


@dataclass(frozen=True)
class Product:
    """A product as the store's own orders describe it (the catalogue of what was ever ordered)."""

    product_id: str
    title: str
    image_url: str | None
    unit_price_minor: int
    currency: str
    score: int


def recommend_products(
    session: Session, *, store_id: int, product_ids: Sequence[str], limit: int = 4
) -> list[Product]:
    """Products most often bought together with ``product_ids``, topped up with best sellers.

    Computed from line items: co-purchases count distinct orders holding both products; best sellers
    sum quantities. Products already in ``product_ids`` are never recommended.
    """
    exclude = list(dict.fromkeys(product_ids))
    picked: dict[str, int] = {}
    if exclude:
        mine = scoped(select(LineItem.order_id), LineItem, store_id).where(LineItem.product_id.in_(exclude))
        co = (
            scoped(
                select(LineItem.product_id, func.count(func.distinct(LineItem.order_id))), LineItem, store_id
            )
            .where(LineItem.order_id.in_(mine), LineItem.product_id.is_not(None))
            .where(LineItem.product_id.not_in(exclude))
            .group_by(LineItem.product_id)
            .order_by(func.count(func.distinct(LineItem.order_id)).desc(), LineItem.product_id)
            .limit(limit)
        )
        picked.update({str(pid): int(n) for pid, n in session.execute(co)})
    if len(picked) < limit:
        best = (
            scoped(select(LineItem.product_id, func.sum(LineItem.quantity)), LineItem, store_id)
            .where(LineItem.product_id.is_not(None))
            .group_by(LineItem.product_id)
            .order_by(func.sum(LineItem.quantity).desc(), LineItem.product_id)
            .limit(limit + len(exclude) + len(picked))
        )
        for pid, _ in session.execute(best):
            if len(picked) >= limit:
                break
            if pid not in exclude and pid not in picked:
                picked[str(pid)] = 0
    if not picked:
        return []
    # How each product looks: its most recent line item (title, image, price).
    latest = (
        scoped(select(func.max(LineItem.id)), LineItem, store_id)
        .where(LineItem.product_id.in_(list(picked)))
        .group_by(LineItem.product_id)
    )
    rows = session.execute(
        scoped(select(LineItem, Order.currency), LineItem, store_id)
        .join(Order, Order.id == LineItem.order_id)
        .where(LineItem.id.in_(latest))
    ).all()
    products = [
        Product(
            str(li.product_id),
            li.title,
            li.image_url,
            li.unit_price_minor,
            currency,
            picked[str(li.product_id)],
        )
        for li, currency in rows
    ]
    order = list(picked)
    return sorted(products, key=lambda p: order.index(p.product_id))


def status_page_fingerprint(
    engine: Engine, *, token: str, on_loop: bool = False
) -> tuple[int, int, str] | None:
    """(order id, store id, a digest of everything the tracking page shows) in one cheap query, or None.

    Changes whenever the order, its store (branding), its parcels or their scans change, so a page
    rendered earlier can be reused while it stays equal. Asked on every page view, so it runs without a
    Session on its own pooled connection (:class:`doorstep.db.OneRowRead`), outside any transaction the
    caller holds: a page loaded after this read is never older than the digest it is cached under, so a
    change in between only costs one more load. ``on_loop``: the caller is on the event loop (see
    :meth:`doorstep.db.OneRowRead.one_or_none_on_loop`; may raise :class:`doorstep.db.WouldBlock`).
    """
    if not 16 <= len(token) <= 64:
        return None
    read = _fingerprint_read(engine)
    row = read.one_or_none_on_loop({"token": token}) if on_loop else read.one_or_none({"token": token})
    if row is None:
        return None
    return int(row[0]), int(row[1]), "|".join(str(v) for v in row[2:])


@functools.lru_cache(maxsize=8)
def _fingerprint_read(engine: Engine) -> OneRowRead:
    return OneRowRead(engine, _fingerprint_statement())


@functools.cache
def _fingerprint_statement() -> Select[Any]:
    """The fingerprint query, built once: on a page view that misses the in-memory window, building this
    statement (four correlated subqueries) cost more than running it."""
    # Shipments and scans build on orders; imported here to keep that upward look visible.
    from doorstep.shipments.models import Checkpoint, Shipment
    from doorstep.stores.models import Store

    of_order = (Shipment.order_id == Order.id, Shipment.store_id == Order.store_id)
    parcels = select(func.count(Shipment.id)).where(*of_order).scalar_subquery()
    parcel_change = select(func.max(Shipment.updated_at)).where(*of_order).scalar_subquery()
    scans = select(func.count(Checkpoint.id)).join(Shipment, Shipment.id == Checkpoint.shipment_id)
    last_scan = select(func.max(Checkpoint.id)).join(Shipment, Shipment.id == Checkpoint.shipment_id)
    return (
        select(
            Order.id,
            Order.store_id,
            Order.updated_at,
            Store.updated_at,
            parcels,
            parcel_change,
            scans.where(*of_order).scalar_subquery(),
            last_scan.where(*of_order).scalar_subquery(),
        )
        .join(Store, Store.id == Order.store_id)
        .where(Order.status_token == bindparam("token"))
    )
