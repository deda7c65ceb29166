"""Refund outbox: a resolved return's money waits in ``return_refunds`` until the worker sends it.

Services make no network calls, so resolving a return only writes a ``pending`` row here; the
``returns.refunds`` job reads due rows (:func:`due_refunds`), calls the platform through an adapter and
records the answer (:func:`record_result`). A success becomes an ``order_refunds`` row through
``orders.service`` (which emits ``refund.issued`` and enforces refunded ≤ paid); a failure is kept with
its reason and retried with backoff until it is marked failed.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.core.tenancy import scoped
from doorstep.orders import service as order_service
from doorstep.orders.models import Order
from doorstep.returns.models import ReturnRefund, ReturnRequest

MAX_ATTEMPTS = 6


def _left_to_refund(session: Session, order: Order, *, excluding: int | None = None) -> int:
    """What can still go back: the total less recorded refunds and refunds still waiting to be sent."""
    stmt = scoped(select(ReturnRefund), ReturnRefund, order.store_id).where(
        ReturnRefund.order_id == order.id, ReturnRefund.status == "pending"
    )
    waiting = sum(r.amount_minor for r in session.scalars(stmt) if r.id != excluding)
    return max(order.total_minor - order.refunded_minor - waiting, 0)


def request_refund(session: Session, *, request: ReturnRequest, now: datetime) -> ReturnRefund:
    """Queue the return's refund (once per return), capped by what is left of the order's payment."""
    existing = scoped(select(ReturnRefund), ReturnRefund, request.store_id).where(
        ReturnRefund.return_id == request.id
    )
    found = session.scalars(existing).one_or_none()
    if found is not None:
        return found
    order = request.order
    left = _left_to_refund(session, order)
    amount = min(request.refund_minor, left)
    request.refund_minor = amount
    refund = ReturnRefund(
        public_id=ids.new_id("rrf"),
        store_id=request.store_id,
        return_id=request.id,
        order_id=order.id,
        amount_minor=amount,
        currency=request.currency,
        channel="pending",  # decided by the worker from the store's connections at send time
        status="pending",
        next_attempt_at=now,
        lines=[
            {
                "line_external_id": item.line_item.external_id,
                "line_item_id": item.line_item.public_id,
                "quantity": item.accepted_quantity if item.accepted_quantity is not None else item.quantity,
                "restock": not item.is_keep_it,
            }
            for item in request.items
        ],
    )
    session.add(refund)
    session.flush()
    return refund


def request_claim_refund(session: Session, *, order: Order, amount_minor: int, now: datetime) -> ReturnRefund:
    left = _left_to_refund(session, order)
    if amount_minor > left:
        raise Invalid.field(
            "amount_minor", f"{amount_minor} is more than the {left} left to refund on order {order.public_id}",
            f"refund at most {left}",
        )  # fmt: skip
    refund = ReturnRefund(
        public_id=ids.new_id("rrf"), store_id=order.store_id, return_id=None, order_id=order.id,
        amount_minor=amount_minor, currency=order.currency, channel="pending", status="pending",
        next_attempt_at=now, lines=[],
    )  # fmt: skip
    session.add(refund)
    session.flush()
    return refund


@dataclass(frozen=True)
class DueRefund:
    """What the worker needs to send one refund (ids and values, detached from the session)."""

    refund_id: str
    store_id: int
    order_external_id: str | None
    order_public_id: str
    amount_minor: int
    currency: str
    lines: list[dict[str, object]]
    return_id: str | None
    rma: str | None
    attempts: int


def due_refunds(session: Session, *, store_id: int, now: datetime, limit: int = 50) -> list[DueRefund]:
    stmt = (
        scoped(select(ReturnRefund, Order), ReturnRefund, store_id)
        .join(Order, Order.id == ReturnRefund.order_id)
        .where(ReturnRefund.status == "pending", ReturnRefund.next_attempt_at <= now)
        .order_by(ReturnRefund.next_attempt_at, ReturnRefund.id)
        .limit(limit)
    )
    due: list[DueRefund] = []
    for refund, order in session.execute(stmt).unique():
        request = (
            session.scalars(
                scoped(select(ReturnRequest), ReturnRequest, store_id).where(ReturnRequest.id == refund.return_id)
            ).unique().one_or_none()
            if refund.return_id is not None
            else None
        )  # fmt: skip
        due.append(
            DueRefund(
                refund.public_id, store_id, order.external_id, order.public_id, refund.amount_minor,
                refund.currency, list(refund.lines), request.public_id if request else None,
                request.rma if request else None, refund.attempts,
            )
        )  # fmt: skip
    return due


def record_result(
    session: Session,
    *,
    store_id: int,
    refund_id: str,
    channel: str,
    ok: bool,
    external_id: str | None = None,
    error: str | None = None,
    processed_at: datetime | None = None,
    retryable: bool = True,
    now: datetime | None = None,
) -> ReturnRefund:
    """Record what the platform answered. Success records the order refund (emits ``refund.issued``).

    A failure is retried with backoff unless ``retryable`` is False (nothing would change: no channel, bad
    credentials); after ``MAX_ATTEMPTS`` it is ``failed`` and waits for a merchant's retry.
    """
    now = now or clock.now()
    stmt = (
        scoped(select(ReturnRefund), ReturnRefund, store_id)
        .where(ReturnRefund.public_id == refund_id)
        .with_for_update()
    )
    refund = session.scalars(stmt).one_or_none()
    if refund is None:
        raise NotFound(f"refund {refund_id} not found")
    if refund.status == "succeeded":
        return refund  # a repeat answer changes nothing
    refund.channel = channel
    refund.attempts += 1
    if not ok:
        refund.last_error = (error or "the platform refused the refund")[:2000]
        if refund.attempts >= MAX_ATTEMPTS or not retryable:
            refund.status = "failed"
            refund.next_attempt_at = None
        else:
            refund.next_attempt_at = now + timedelta(seconds=30 * 2**refund.attempts)
        session.flush()
        return refund
    refund.status = "succeeded"
    refund.external_id = external_id or refund.public_id
    refund.succeeded_at = now
    refund.next_attempt_at = None
    refund.last_error = None
    session.flush()
    order_service.record_refund_for_order(
        session,
        store_id=store_id,
        order_row_id=refund.order_id,
        external_id=refund.external_id,
        amount_minor=refund.amount_minor,
        processed_at=processed_at or now,
        lines=[
            {
                "line_external_id": str(line.get("line_external_id") or line.get("line_item_id")),
                "quantity": line.get("quantity", 0),
                "restock_type": "return",
            }
            for line in refund.lines
        ],
    )
    return refund


def retry_refund(
    session: Session, *, store_id: int, refund_id: str, now: datetime | None = None
) -> ReturnRefund:
    """Send a failed refund again (a merchant's decision after fixing the connection)."""
    stmt = scoped(select(ReturnRefund), ReturnRefund, store_id).where(ReturnRefund.public_id == refund_id)
    refund = session.scalars(stmt).one_or_none()
    if refund is None:
        raise NotFound(f"refund {refund_id} not found")
    if refund.status != "failed":
        raise Conflict(f"refund {refund_id} is {refund.status}; only failed refunds can be retried")
    refund.status = "pending"
    refund.attempts = 0
    refund.next_attempt_at = now or clock.now()
    session.flush()
    return refund


def list_for_return(session: Session, *, request: ReturnRequest) -> list[ReturnRefund]:
    stmt = scoped(select(ReturnRefund), ReturnRefund, request.store_id).where(
        ReturnRefund.return_id == request.id
    )
    return list(session.scalars(stmt))
