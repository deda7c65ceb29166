"""Return analytics (read side): return rate by product and by reason, resolution shares, revenue retained.

Counted over orders placed in a period. Units returned are units in returns that were not rejected.
*Revenue retained* is the value of returns settled as store credit or an exchange (the money stayed
with the store), against *refunded*, the money that went back to shoppers (refunds and keep-its).
"""

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from doorstep.core.tenancy import scoped
from doorstep.orders.models import LineItem, Order
from doorstep.returns.models import ReturnItem, ReturnRequest
from doorstep.returns.schemas import RateRow, ReasonRow, ReturnAnalytics


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def return_analytics(
    session: Session,
    *,
    store_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    top: int = 20,
) -> ReturnAnalytics:
    orders = scoped(select(Order.id), Order, store_id).where(Order.cancelled_at.is_(None))
    if since is not None:
        orders = orders.where(Order.placed_at >= since)
    if until is not None:
        orders = orders.where(Order.placed_at < until)
    product_key = func.coalesce(LineItem.product_id, LineItem.sku, LineItem.title)
    sold_stmt = (
        scoped(select(product_key, func.max(LineItem.title), func.sum(LineItem.quantity)), LineItem, store_id)
        .where(LineItem.order_id.in_(orders))
        .group_by(product_key)
    )
    sold = {str(key): (str(title), int(units)) for key, title, units in session.execute(sold_stmt)}
    live_returns = scoped(select(ReturnRequest.id), ReturnRequest, store_id).where(
        ReturnRequest.order_id.in_(orders), ReturnRequest.status != "rejected"
    )
    returned_stmt = (
        scoped(select(product_key, ReturnItem.reason, func.sum(ReturnItem.quantity)), ReturnItem, store_id)
        .join(LineItem, LineItem.id == ReturnItem.line_item_id)
        .where(ReturnItem.return_id.in_(live_returns))
        .group_by(product_key, ReturnItem.reason)
    )
    by_product: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    for key, reason, units in session.execute(returned_stmt):
        by_product[str(key)] += int(units)
        by_reason[str(reason)] += int(units)
    units_sold = sum(units for _, units in sold.values())
    units_returned = sum(by_product.values())
    rows = [
        RateRow(key=key, title=sold.get(key, (None, 0))[0], units_sold=sold.get(key, (None, 0))[1],
                units_returned=n, rate=_ratio(n, sold.get(key, (None, 0))[1]))
        for key, n in by_product.items()
    ]  # fmt: skip
    rows.sort(key=lambda r: (-r.rate, -r.units_returned, r.key))
    money_stmt = scoped(
        select(
            ReturnRequest.outcome,
            ReturnRequest.currency,
            func.count(ReturnRequest.id),
            func.sum(ReturnRequest.items_minor),
            func.sum(ReturnRequest.refund_minor),
        ),
        ReturnRequest,
        store_id,
    ).where(ReturnRequest.id.in_(live_returns))
    money_stmt = money_stmt.group_by(ReturnRequest.outcome, ReturnRequest.currency)
    outcomes: Counter[str] = Counter()
    currencies: set[str] = set()
    refunded = credited = exchanged = 0
    count = 0
    for outcome, currency, n, items_minor, refund_minor in session.execute(money_stmt):
        count += int(n)
        currencies.add(str(currency))
        if outcome is None:
            continue
        outcomes[str(outcome)] += int(n)
        if outcome in ("refunded", "kept"):
            refunded += int(refund_minor or 0)
        elif outcome == "credited":
            credited += int(items_minor or 0)
        elif outcome == "exchanged":
            exchanged += int(items_minor or 0)
    settled = sum(outcomes.values())
    share = {
        name: _ratio(outcomes.get(outcome, 0), settled)
        for name, outcome in (("refund", "refunded"), ("store_credit", "credited"), ("exchange", "exchanged"), ("keep", "kept"))
    }  # fmt: skip
    return ReturnAnalytics(
        currency=next(iter(currencies)) if len(currencies) == 1 else None,
        returns=count,
        units_sold=units_sold,
        units_returned=units_returned,
        return_rate=_ratio(units_returned, units_sold),
        by_product=rows[:top],
        by_reason=[
            ReasonRow(reason=reason, units=n, share=_ratio(n, units_returned))
            for reason, n in by_reason.most_common()
        ],
        resolution_share=share,
        refunded_minor=refunded,
        credited_minor=credited,
        exchanged_minor=exchanged,
        revenue_retained_minor=credited + exchanged,
    )
