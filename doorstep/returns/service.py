"""Returns: the only writer of returns, return items and return policies.

What the shopper portal calls: :func:`get_eligibility` (per item: eligible, or a reason code and plain
words), :func:`list_exchange_options`, :func:`quote_return` (the money, computed here and only here),
:func:`create_return` (validated, idempotent, safe to submit twice) and :func:`get_by_token`.
What the merchant API calls: the lifecycle actions (approve, reject, issue a label, receive, inspect,
resolve), the policy getter and setter, and the lists. Every transition emits its milestone through
``flows.service.emit`` in the caller's transaction.
"""

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep.core import clock, hashing, ids
from doorstep.core.errors import Conflict, FieldProblem, Invalid, NotFound, invalid_from_validation
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.flows import service as flow_service
from doorstep.orders.models import LineItem, Order
from doorstep.returns import credit, exchanges, lifecycle, refunds
from doorstep.returns.commands import (
    ApproveReturn,
    CreateReturn,
    InspectReturn,
    IssueLabel,
    ProposeReturn,
    ReceiveReturn,
    RejectReturn,
    ResolveReturn,
)
from doorstep.returns.lifecycle import Action, Outcome, Status
from doorstep.returns.models import ReturnItem, ReturnPolicyRecord, ReturnRefund, ReturnRequest
from doorstep.returns.policy import (
    DEFAULT_POLICY,
    ItemEligibility,
    ItemFacts,
    Method,
    OrderMoney,
    PricedLine,
    ProposedItem,
    Quote,
    Reason,
    Resolution,
    ReturnPolicy,
    derive_value,
    evaluate_item,
    is_keep_it,
)
from doorstep.returns.policy import quote as price_return
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import CreateShipment, Direction, ShipmentItemInput
from doorstep.shipments.models import Shipment, ShipmentItem


@dataclass(frozen=True)
class Applied:
    """What a write did: the return, the milestones it crossed, and whether it was new."""

    return_request: ReturnRequest
    milestones: list[str]
    created: bool = False


@dataclass(frozen=True)
class OrderEligibility:
    order_id: str
    currency: str
    delivered_at: datetime | None
    items: list[ItemEligibility]
    resolutions: tuple[Resolution, ...]
    methods: tuple[Method, ...]
    keep_it_line_ids: tuple[str, ...]  # items whose refund needs nothing sent back

    @property
    def any_eligible(self) -> bool:
        return any(i.eligible for i in self.items)


@dataclass(frozen=True)
class ExchangeOption:
    variant_id: str
    title: str
    variant_title: str | None
    unit_price_minor: int
    currency: str


# --- policy ---------------------------------------------------------------------------------------------


def get_policy(session: Session, *, store_id: int) -> ReturnPolicy:
    """The store's policy, or the documented default when it never set one."""
    stmt = scoped(select(ReturnPolicyRecord), ReturnPolicyRecord, store_id)
    record = session.scalars(stmt).one_or_none()
    if record is None:
        return DEFAULT_POLICY
    return ReturnPolicy.model_validate(record.document)


def get_policy_revision(session: Session, *, store_id: int) -> int:
    """How many times the store saved its policy (0: it uses the default)."""
    stmt = scoped(select(ReturnPolicyRecord.revision), ReturnPolicyRecord, store_id)
    return session.scalars(stmt).one_or_none() or 0


def get_policy_with_revision(session: Session, *, store_id: int) -> tuple[int, ReturnPolicy]:
    return get_policy_revision(session, store_id=store_id), get_policy(session, store_id=store_id)


def set_policy(session: Session, *, store_id: int, document: dict[str, object]) -> ReturnPolicy:
    """Replace the store's policy after validating it (problems name each field and its fix)."""
    try:
        policy = ReturnPolicy.model_validate(document)
    except ValidationError as exc:
        raise invalid_from_validation(list(exc.errors())) from exc  # type: ignore[arg-type]
    stmt = scoped(select(ReturnPolicyRecord), ReturnPolicyRecord, store_id).with_for_update()
    record = session.scalars(stmt).one_or_none()
    stored = policy.model_dump(mode="json")
    if record is None:
        session.add(ReturnPolicyRecord(store_id=store_id, document=stored, revision=1))
    else:
        record.document = stored
        record.revision += 1
        record.updated_at = clock.now()
    session.flush()
    return policy


# --- reading an order for returns -------------------------------------------------------------------


def _order(session: Session, store_id: int, order_id: str, *, lock: bool = False) -> Order:
    stmt = scoped(select(Order), Order, store_id).where(Order.public_id == order_id)
    if lock:
        # Serialises concurrent submissions for one order on PostgreSQL (SQLite has one writer).
        stmt = stmt.with_for_update(of=Order)
    order = session.scalars(stmt).unique().one_or_none()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def _delivered_at(session: Session, order: Order) -> datetime | None:
    stmt = scoped(select(func.max(Shipment.delivered_at)), Shipment, order.store_id).where(
        Shipment.order_id == order.id, Shipment.direction == "outbound"
    )
    return session.scalars(stmt).one_or_none()


def _shipped_quantities(session: Session, order: Order) -> dict[int, int] | None:
    """Units of each line in the order's outbound parcels; None when the order has no parcels at all."""
    parcels = scoped(select(Shipment.id), Shipment, order.store_id).where(
        Shipment.order_id == order.id, Shipment.direction == "outbound"
    )
    parcel_ids = list(session.scalars(parcels))
    if not parcel_ids:
        return None
    stmt = (
        scoped(
            select(ShipmentItem.line_item_id, func.sum(ShipmentItem.quantity)), ShipmentItem, order.store_id
        )
        .where(ShipmentItem.shipment_id.in_(parcel_ids))
        .group_by(ShipmentItem.line_item_id)
    )
    return {int(line): int(qty) for line, qty in session.execute(stmt)}


def _returned_quantities(session: Session, order: Order, *, excluding: int | None = None) -> dict[int, int]:
    """Units of each line already in a return that was not rejected."""
    stmt = (
        scoped(select(ReturnItem.line_item_id, func.sum(ReturnItem.quantity)), ReturnItem, order.store_id)
        .join(ReturnRequest, ReturnRequest.id == ReturnItem.return_id)
        .where(ReturnRequest.order_id == order.id, ReturnRequest.status != Status.rejected.value)
        .group_by(ReturnItem.line_item_id)
    )
    if excluding is not None:
        stmt = stmt.where(ReturnRequest.id != excluding)
    return {int(line): int(qty) for line, qty in session.execute(stmt)}


def _committed_refunds(session: Session, order: Order) -> int:
    """Refunds promised by returns that the platform has not confirmed yet (counted against the total)."""
    confirmed = scoped(select(ReturnRefund.return_id), ReturnRefund, order.store_id).where(
        ReturnRefund.status == "succeeded", ReturnRefund.return_id.is_not(None)
    )
    stmt = scoped(
        select(func.coalesce(func.sum(ReturnRequest.refund_minor), 0)), ReturnRequest, order.store_id
    ).where(
        ReturnRequest.order_id == order.id,
        ReturnRequest.status != Status.rejected.value,
        ReturnRequest.id.not_in(confirmed),
    )
    return int(session.scalars(stmt).one())


def _tier(order: Order) -> str | None:
    """Loyalty tier hook: the order's ``tier:<name>`` tag until the loyalty domain provides tiers."""
    for tag in order.tags or []:
        if tag.casefold().startswith("tier:"):
            return tag.split(":", 1)[1].strip() or None
    return None


def _facts(session: Session, order: Order) -> list[ItemFacts]:
    shipped = _shipped_quantities(session, order)
    returned = _returned_quantities(session, order)
    return [
        ItemFacts(
            line_item_id=li.public_id,
            title=li.title,
            product_id=li.product_id,
            sku=li.sku,
            tags=tuple(li.product_tags or ()),
            is_final_sale=bool(li.is_final_sale),
            quantity=li.quantity,
            returned_quantity=returned.get(li.id, 0),
            shipped_quantity=None if shipped is None else shipped.get(li.id, 0),
        )
        for li in order.line_items
    ]


def _money(session: Session, order: Order) -> OrderMoney:
    return OrderMoney(
        currency=order.currency,
        subtotal_minor=order.subtotal_minor,
        discount_minor=order.discount_minor,
        shipping_minor=order.shipping_minor,
        tax_minor=order.tax_minor,
        total_minor=order.total_minor,
        refunded_minor=order.refunded_minor,
        committed_minor=_committed_refunds(session, order),
    )


def _priced(li: LineItem) -> PricedLine:
    return PricedLine(li.public_id, li.title, li.quantity, li.unit_price_minor, li.discount_minor)


def _evaluate(
    session: Session, order: Order, policy: ReturnPolicy, now: datetime, money: OrderMoney | None = None
) -> OrderEligibility:
    delivered_at = _delivered_at(session, order)
    items = [
        evaluate_item(
            policy, facts, placed_at=order.placed_at, delivered_at=delivered_at,
            is_cancelled=order.cancelled_at is not None, now=now,
        )
        for facts in _facts(session, order)
    ]  # fmt: skip
    money = money or _money(session, order)
    keep: list[str] = []
    for li, item in zip(order.line_items, items, strict=True):
        if not item.eligible:
            continue
        value, _, _ = derive_value(money, _priced(li), 1, Reason.changed_mind, policy)
        if policy.keep_it.max_item_value_minor is not None and value <= policy.keep_it.max_item_value_minor:
            keep.append(li.public_id)
    return OrderEligibility(
        order.public_id, order.currency, delivered_at, items, policy.resolutions, policy.methods, tuple(keep)
    )


def get_eligibility(
    session: Session, *, store_id: int, order_id: str, now: datetime | None = None
) -> OrderEligibility:
    """Per line item: can it be returned, how many units, with which resolutions, and if not why."""
    order = _order(session, store_id, order_id)
    return _evaluate(session, order, get_policy(session, store_id=store_id), now or clock.now())


def list_exchange_options(session: Session, *, store_id: int, line_item_id: str) -> list[ExchangeOption]:
    """Other variants of the item's product, priced as the store last sold them (the server's prices)."""
    stmt = scoped(select(LineItem), LineItem, store_id).where(LineItem.public_id == line_item_id)
    line = session.scalars(stmt).one_or_none()
    if line is None:
        raise NotFound(f"line item {line_item_id} not found")
    return _variants(session, store_id, line)


def _variants(session: Session, store_id: int, line: LineItem) -> list[ExchangeOption]:
    if line.product_id is None:
        options: list[ExchangeOption] = []
        if line.variant_id:
            options.append(
                ExchangeOption(
                    line.variant_id,
                    line.title,
                    line.variant_title,
                    line.unit_price_minor,
                    line.order.currency,
                )
            )
        return options
    latest = (
        scoped(select(func.max(LineItem.id)), LineItem, store_id)
        .where(LineItem.product_id == line.product_id, LineItem.variant_id.is_not(None))
        .group_by(LineItem.variant_id)
    )
    rows = session.execute(
        scoped(select(LineItem, Order.currency), LineItem, store_id)
        .join(Order, Order.id == LineItem.order_id)
        .where(LineItem.id.in_(latest))
        .order_by(LineItem.variant_title, LineItem.variant_id)
    ).all()
    return [
        ExchangeOption(str(li.variant_id), li.title, li.variant_title, li.unit_price_minor, currency)
        for li, currency in rows
    ]


# --- quoting and creating ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    order: Order
    policy: ReturnPolicy
    quote: Quote
    lines: dict[str, LineItem]
    exchange: dict[str, ExchangeOption]


def _check(session: Session, order: Order, cmd: ProposeReturn, now: datetime) -> _Checked:
    """Validate a proposed return against the order and the policy, and price it. Raises Invalid."""
    policy = get_policy(session, store_id=order.store_id)
    money = _money(session, order)
    eligibility = {e.line_item_id: e for e in _evaluate(session, order, policy, now, money).items}
    lines = {li.public_id: li for li in order.line_items}
    problems: list[FieldProblem] = []
    if cmd.resolution is not Resolution.keep and cmd.resolution not in policy.resolutions:
        problems.append(FieldProblem(
            "resolution", f"{cmd.resolution.value} is not offered by this store",
            f"choose one of {', '.join(r.value for r in policy.resolutions)}",
        ))  # fmt: skip
    if cmd.resolution is Resolution.keep:
        if cmd.method is not Method.none and cmd.method is not Method.label:
            problems.append(FieldProblem("method", "nothing is sent back for keep-it", "send method none"))
    elif cmd.method not in policy.methods:
        problems.append(FieldProblem(
            "method", f"{cmd.method.value} is not offered by this store",
            f"choose one of {', '.join(m.value for m in policy.methods)}",
        ))  # fmt: skip
    proposed: list[ProposedItem] = []
    exchange: dict[str, ExchangeOption] = {}
    for index, item in enumerate(cmd.items):
        where = f"items.{index}"
        line = lines.get(item.line_item_id)
        verdict = eligibility.get(item.line_item_id)
        if line is None or verdict is None:
            problems.append(FieldProblem(
                f"{where}.line_item_id", f"{item.line_item_id} is not an item of order {order.public_id}",
                "choose an item from this order",
            ))  # fmt: skip
            continue
        if not verdict.eligible:
            problems.append(FieldProblem(
                f"{where}.line_item_id", f"{line.title}: {verdict.message} ({verdict.reason})",
                "remove this item from the return",
            ))  # fmt: skip
            continue
        if item.quantity > verdict.returnable_quantity:
            already = line.quantity - verdict.returnable_quantity
            problems.append(FieldProblem(
                f"{where}.quantity",
                f"{item.quantity} is more than the {verdict.returnable_quantity} unit(s) of {line.title} left to return "
                f"({line.quantity} ordered, {already} already in a return)",
                f"send at most {verdict.returnable_quantity}",
            ))  # fmt: skip
            continue
        if item.reason not in policy.reasons:
            problems.append(FieldProblem(
                f"{where}.reason", f"{item.reason.value} is not a reason this store accepts",
                f"choose one of {', '.join(r.value for r in policy.reasons)}",
            ))  # fmt: skip
        if item.reason in policy.photos_required_for and not item.photos:
            problems.append(FieldProblem(
                f"{where}.photos", f"a photo is required for the reason {item.reason.value}",
                "attach at least one photo of the item",
            ))  # fmt: skip
        if cmd.resolution not in verdict.resolutions and cmd.resolution is not Resolution.keep:
            problems.append(FieldProblem(
                "resolution", f"{line.title} can only be exchanged",
                "choose exchange, or return this item separately",
            ))  # fmt: skip
        price: int | None = None
        if cmd.resolution is Resolution.exchange:
            options = {o.variant_id: o for o in _variants(session, order.store_id, line)}
            choice = options.get(item.exchange_variant_id or "")
            if choice is None:
                problems.append(FieldProblem(
                    f"{where}.exchange_variant_id",
                    f"{item.exchange_variant_id!r} is not a variant offered for {line.title}",
                    f"choose one of {', '.join(sorted(options)) or 'no variants (choose another resolution)'}",
                ))  # fmt: skip
                continue
            exchange[line.public_id] = choice
            price = choice.unit_price_minor
        proposed.append(ProposedItem(_priced(line), item.quantity, item.reason, price))
    if problems:
        raise Invalid(
            f"the return cannot be made: {problems[0].field}: {problems[0].message}", problems=problems
        )
    if cmd.resolution is Resolution.keep:
        for index, p in enumerate(proposed):
            value, _, _ = derive_value(money, p.line, p.quantity, p.reason, policy)
            if not is_keep_it(policy, p, value // p.quantity):
                problems.append(FieldProblem(
                    f"items.{index}", f"{p.line.title} must be sent back; keep-it does not apply to it",
                    "choose refund, store_credit or exchange",
                ))  # fmt: skip
        if problems:
            raise Invalid(f"keep-it is not available: {problems[0].message}", problems=problems)
    method = Method.none if cmd.resolution is Resolution.keep else cmd.method
    quoted = price_return(
        policy, money, proposed, resolution=cmd.resolution, method=method, tier=_tier(order)
    )
    return _Checked(order, policy, quoted, lines, exchange)


def quote_return(
    session: Session, *, store_id: int, order_id: str, cmd: ProposeReturn, now: datetime | None = None
) -> Quote:
    """The refund breakdown of a proposed return (items, fee, bonus, exchange difference, totals)."""
    order = _order(session, store_id, order_id)
    return _check(session, order, cmd, now or clock.now()).quote


def quote_to_json(quote: Quote) -> dict[str, object]:
    from dataclasses import asdict

    data = asdict(quote)
    data["resolution"] = quote.resolution.value
    for line in data["lines"]:
        line["reason"] = str(line["reason"])
    data["notes"] = list(quote.notes)
    return data


def _fingerprint(order: Order, cmd: CreateReturn) -> str:
    content = cmd.model_dump(mode="json", exclude={"idempotency_key", "expected_total_minor", "comment"})
    return hashing.sha256_hex(json.dumps([order.public_id, content], sort_keys=True).encode())


def _new_rma() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud at a counter
    return "R" + "".join(secrets.choice(alphabet) for _ in range(9))


def create_return(
    session: Session,
    *,
    store_id: int,
    order_id: str,
    cmd: CreateReturn,
    source: str = "portal",
    now: datetime | None = None,
) -> Applied:
    """Open a return: validated against the order and the policy, priced by the server, then approved
    at once when the policy says so. Emits ``return.requested`` (and ``return.approved``).

    Submitting twice is safe: the same ``idempotency_key``, or without one the same content while the
    first return is still open, answers with the existing return (``created=False``) and changes nothing.
    """
    now = now or clock.now()
    order = _order(session, store_id, order_id, lock=True)
    fingerprint = _fingerprint(order, cmd)
    existing = _existing(session, order, cmd, fingerprint)
    if existing is not None:
        return Applied(existing, [], created=False)
    checked = _check(session, order, cmd, now)
    quoted = checked.quote
    if cmd.expected_total_minor is not None and cmd.expected_total_minor != quoted.total_minor:
        raise Conflict(
            f"the total changed: you were shown {cmd.expected_total_minor} but the return is worth "
            f"{quoted.total_minor} {quoted.currency}; review the new amount and confirm again",
            problems=[FieldProblem(
                "expected_total_minor", f"is {cmd.expected_total_minor}, the server computes {quoted.total_minor}",
                "fetch a new quote and send its total_minor",
            )],
        )  # fmt: skip
    method = Method.none if quoted.is_keep_it else cmd.method
    request = ReturnRequest(
        public_id=ids.new_id("ret"),
        store_id=store_id,
        order_id=order.id,
        customer_id=order.customer_id,
        token=ids.new_token(),
        rma=_new_rma(),
        status=Status.requested.value,
        resolution=cmd.resolution.value,
        method=method.value,
        source=source,
        idempotency_key=cmd.idempotency_key,
        fingerprint=fingerprint,
        currency=quoted.currency,
        items_minor=quoted.items_minor,
        fee_minor=quoted.fee_minor,
        bonus_minor=quoted.bonus_minor,
        exchange_minor=quoted.exchange_minor,
        refund_minor=quoted.refund_minor,
        credit_minor=quoted.credit_minor,
        charge_minor=quoted.charge_minor,
        is_keep_it=quoted.is_keep_it,
        quote=quote_to_json(quoted),
        comment=cmd.comment,
        requested_at=now,
    )
    by_line = {q.line_item_id: q for q in quoted.lines}
    for item in cmd.items:
        line = checked.lines[item.line_item_id]
        choice = checked.exchange.get(item.line_item_id)
        request.items.append(
            ReturnItem(
                store_id=store_id,
                line_item_id=line.id,
                quantity=item.quantity,
                reason=item.reason.value,
                comment=item.comment,
                photos=list(item.photos),
                value_minor=by_line[item.line_item_id].value_minor,
                is_keep_it=by_line[item.line_item_id].is_keep_it,
                exchange_variant_id=choice.variant_id if choice else None,
                exchange_title=(
                    " / ".join(p for p in (choice.title, choice.variant_title) if p) if choice else None
                ),
                exchange_variant_title=choice.variant_title if choice else None,
                exchange_unit_price_minor=choice.unit_price_minor if choice else None,
                created_at=now,
            )
        )
    session.add(request)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # the same idempotency key won a concurrent race
        raise Conflict("this return was already submitted; open it from your returns link") from exc
    milestones = _emit(session, request, None, Status.requested, now)
    if _auto_approves(checked.policy, request):
        milestones += _approve(
            session, request, now, note="approved automatically by the return policy", policy=checked.policy
        )
    return Applied(request, milestones, created=True)


def _existing(session: Session, order: Order, cmd: CreateReturn, fingerprint: str) -> ReturnRequest | None:
    if cmd.idempotency_key is not None:
        stmt = scoped(select(ReturnRequest), ReturnRequest, order.store_id).where(
            ReturnRequest.idempotency_key == cmd.idempotency_key
        )
        found = session.scalars(stmt).unique().one_or_none()
        if found is not None and (found.order_id != order.id or found.fingerprint != fingerprint):
            raise Conflict(
                "this idempotency key was already used for a different return; send a new key",
                problems=[FieldProblem("idempotency_key", "was used for another request", "send a new key")],
            )
        return found
    stmt = scoped(select(ReturnRequest), ReturnRequest, order.store_id).where(
        ReturnRequest.order_id == order.id,
        ReturnRequest.fingerprint == fingerprint,
        ReturnRequest.status.in_([s.value for s in lifecycle.OPEN]),
    )
    return session.scalars(stmt.order_by(ReturnRequest.id)).unique().first()


def _auto_approves(policy: ReturnPolicy, request: ReturnRequest) -> bool:
    rule = policy.approval
    if not rule.auto_approve:
        return False
    if rule.manual_above_minor is not None and request.items_minor > rule.manual_above_minor:
        return False
    return not any(item.reason in rule.manual_for_reasons for item in request.items)


# --- reading returns ---------------------------------------------------------------------------------


def get_by_token(session: Session, *, token: str) -> ReturnRequest | None:
    """The return a shopper's link token opens, or None. Resolves the tenant from the random token."""
    if not 16 <= len(token) <= 64:
        return None
    return session.scalars(select(ReturnRequest).where(ReturnRequest.token == token)).unique().one_or_none()


def get_return(session: Session, *, store_id: int, return_id: str, lock: bool = False) -> ReturnRequest:
    stmt = scoped(select(ReturnRequest), ReturnRequest, store_id).where(ReturnRequest.public_id == return_id)
    if lock:
        stmt = stmt.with_for_update(of=ReturnRequest)
    found = session.scalars(stmt).unique().one_or_none()
    if found is None:
        raise NotFound(f"return {return_id} not found")
    return found


def list_for_order(session: Session, *, store_id: int, order_id: str) -> list[ReturnRequest]:
    order = _order(session, store_id, order_id)
    stmt = scoped(select(ReturnRequest), ReturnRequest, store_id).where(ReturnRequest.order_id == order.id)
    return list(session.scalars(stmt.order_by(ReturnRequest.id)).unique())


def list_returns(
    session: Session,
    *,
    store_id: int,
    limit: int,
    cursor: str | None = None,
    status: Status | None = None,
    resolution: Resolution | None = None,
    order_id: str | None = None,
    reason: str | None = None,
) -> tuple[list[ReturnRequest], str | None]:
    stmt = scoped(select(ReturnRequest), ReturnRequest, store_id)
    if status is not None:
        stmt = stmt.where(ReturnRequest.status == status.value)
    if resolution is not None:
        stmt = stmt.where(ReturnRequest.resolution == resolution.value)
    if order_id is not None:
        stmt = stmt.join(Order, Order.id == ReturnRequest.order_id).where(Order.public_id == order_id)
    if reason is not None:
        with_reason = scoped(select(ReturnItem.return_id), ReturnItem, store_id).where(
            ReturnItem.reason == reason
        )
        stmt = stmt.where(ReturnRequest.id.in_(with_reason))
    return paginate(session, stmt, ReturnRequest, limit=limit, cursor=cursor)


# --- lifecycle ---------------------------------------------------------------------------------------


def _emit(
    session: Session, request: ReturnRequest, before: Status | None, after: Status, at: datetime
) -> list[str]:
    names = lifecycle.milestones_crossed(before, after)
    data: dict[str, object] = {"rma": request.rma, "resolution": request.resolution, "status": after.value}
    if after is Status.rejected:
        data["reason"] = request.rejected_reason
    return flow_service.emit(
        session,
        store_id=request.store_id,
        occurrences=[
            flow_service.Occurrence(name, request.public_id, request.order.public_id, at, data)
            for name in names
        ],
    )


def _move(session: Session, request: ReturnRequest, action: Action, now: datetime) -> list[str]:
    before = Status(request.status)
    try:
        after = lifecycle.derive_next(before, action, is_keep_it=request.is_keep_it)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(str(exc)) from exc
    request.status = after.value
    setattr(request, f"{after.value}_at", now)
    request.updated_at = now
    session.flush()
    return _emit(session, request, before, after, now)


def _approve(
    session: Session,
    request: ReturnRequest,
    now: datetime,
    note: str | None,
    policy: ReturnPolicy | None = None,
) -> list[str]:
    milestones = _move(session, request, Action.approve, now)
    if note:
        request.merchant_note = note
    if request.resolution == Resolution.exchange.value and request.exchange_order_id is None:
        request.exchange_order_id = exchanges.create_replacement_order(session, request=request, now=now)
    if request.is_keep_it:
        milestones += _resolve(session, request, now)
    elif request.method in (Method.label.value, Method.qr_dropoff.value):
        policy = policy or get_policy(session, store_id=request.store_id)
        if policy.auto_label is not None:
            label = IssueLabel(carrier=policy.auto_label, tracking_number=request.rma, service="ground")
            milestones += _issue_label(session, request, label, now)
    return milestones


def approve_return(
    session: Session, *, store_id: int, return_id: str, cmd: ApproveReturn, now: datetime | None = None
) -> Applied:
    request = get_return(session, store_id=store_id, return_id=return_id, lock=True)
    return Applied(request, _approve(session, request, now or clock.now(), cmd.note))


def reject_return(
    session: Session, *, store_id: int, return_id: str, cmd: RejectReturn, now: datetime | None = None
) -> Applied:
    request = get_return(session, store_id=store_id, return_id=return_id, lock=True)
    request.rejected_reason = cmd.reason.value
    request.rejected_message = cmd.message
    return Applied(request, _move(session, request, Action.reject, now or clock.now()))


def issue_label(
    session: Session, *, store_id: int, return_id: str, cmd: IssueLabel, now: datetime | None = None
) -> Applied:
    """Attach the return parcel (a ``direction=return`` shipment tracked by the same ingest)."""
    request = get_return(session, store_id=store_id, return_id=return_id, lock=True)
    return Applied(request, _issue_label(session, request, cmd, now or clock.now()))


def _issue_label(session: Session, request: ReturnRequest, cmd: IssueLabel, now: datetime) -> list[str]:
    if request.status != Status.approved.value:
        raise Conflict(
            f"a return that is {request.status} cannot get a label; it must be approved first"
            if request.status == Status.requested.value
            else f"return {request.public_id} already has its parcel or is closed ({request.status})"
        )
    if request.is_keep_it:
        raise Conflict("a keep-it return has nothing to send back, so it needs no label")
    applied = shipment_service.create_shipment(
        session,
        store_id=request.store_id,
        cmd=CreateShipment(
            order_id=request.order.public_id,
            carrier=cmd.carrier,
            service=cmd.service,
            tracking_number=cmd.tracking_number,
            tracking_url=cmd.tracking_url,
            direction=Direction.return_,
            external_id=request.rma,
            items=tuple(
                ShipmentItemInput(line_item_id=item.line_item.public_id, quantity=item.quantity)
                for item in request.items
                if not item.is_keep_it
            ),
        ),
    )
    request.return_shipment_id = applied.shipment.id
    return _move(session, request, Action.issue_label, now)


def receive_return(
    session: Session, *, store_id: int, return_id: str, cmd: ReceiveReturn, now: datetime | None = None
) -> Applied:
    request = get_return(session, store_id=store_id, return_id=return_id, lock=True)
    if cmd.note:
        request.merchant_note = cmd.note
    return Applied(request, _move(session, request, Action.receive, now or clock.now()))


def inspect_return(
    session: Session, *, store_id: int, return_id: str, cmd: InspectReturn, now: datetime | None = None
) -> Applied:
    """Record what passed inspection; the money to settle is scaled to the accepted units."""
    request = get_return(session, store_id=store_id, return_id=return_id, lock=True)
    by_line = {item.line_item.public_id: item for item in request.items}
    problems: list[FieldProblem] = []
    for index, inspected in enumerate(cmd.items):
        item = by_line.get(inspected.line_item_id)
        if item is None:
            problems.append(FieldProblem(
                f"items.{index}.line_item_id", f"{inspected.line_item_id} is not in return {request.public_id}",
                "send an item of this return",
            ))  # fmt: skip
        elif inspected.accepted_quantity > item.quantity:
            problems.append(FieldProblem(
                f"items.{index}.accepted_quantity",
                f"{inspected.accepted_quantity} is more than the {item.quantity} unit(s) returned",
                f"send at most {item.quantity}",
            ))  # fmt: skip
    if problems:
        raise Invalid(f"inspection: {problems[0].message}", problems=problems)
    now = now or clock.now()
    milestones = _move(session, request, Action.inspect, now)
    for inspected in cmd.items:
        item = by_line[inspected.line_item_id]
        item.accepted_quantity = inspected.accepted_quantity
        item.inspection_note = inspected.note
    for item in request.items:
        if item.accepted_quantity is None:
            item.accepted_quantity = item.quantity
    if cmd.note:
        request.merchant_note = cmd.note
    _rescale(request)
    session.flush()
    return Applied(request, milestones)


def _rescale(request: ReturnRequest) -> None:
    """Scale the settled money to the accepted units (rounded down: never more than quoted)."""
    quoted = sum(item.value_minor for item in request.items)
    accepted = sum(
        item.value_minor
        * (item.accepted_quantity if item.accepted_quantity is not None else item.quantity)
        // item.quantity
        for item in request.items
    )
    if quoted == accepted or quoted == 0:
        return
    request.items_minor = accepted
    request.refund_minor = request.refund_minor * accepted // quoted
    request.credit_minor = request.credit_minor * accepted // quoted
    request.bonus_minor = request.bonus_minor * accepted // quoted


def _resolve(session: Session, request: ReturnRequest, now: datetime) -> list[str]:
    resolution = Resolution(request.resolution)
    if request.credit_minor > 0 and request.store_credit_id is None:
        request.store_credit_id = credit.issue_for_return(session, request=request, now=now)
    if request.refund_minor > 0:
        refunds.request_refund(session, request=request, now=now)
    outcome = {
        Resolution.refund: Outcome.kept if request.is_keep_it else Outcome.refunded,
        Resolution.keep: Outcome.kept,
        Resolution.store_credit: Outcome.credited,
        Resolution.exchange: Outcome.exchanged,
    }[resolution]
    request.outcome = outcome.value
    return _move(session, request, Action.resolve, now)


def resolve_return(
    session: Session, *, store_id: int, return_id: str, cmd: ResolveReturn, now: datetime | None = None
) -> Applied:
    """Settle an inspected return: credit issued, refund queued for the platform, exchange closed."""
    request = get_return(session, store_id=store_id, return_id=return_id, lock=True)
    if cmd.note:
        request.merchant_note = cmd.note
    if request.status != Status.inspected.value and not (
        request.is_keep_it and request.status == Status.approved.value
    ):
        raise Conflict(f"a return that is {request.status} cannot be resolved; receive and inspect it first")
    return Applied(request, _resolve(session, request, now or clock.now()))


# --- return parcels: scans move the return along ---------------------------------------------------------


_SHIPPED = frozenset({"in_transit", "out_for_delivery", "attempt_failed", "available_for_pickup"})


def advance_from_shipments(session: Session, *, store_id: int, now: datetime | None = None) -> list[Applied]:
    """Move returns along from their parcels' scans: shipped → in_transit, delivered → received.

    Reads the state the tracking ingest already derived, so scans arriving late, twice or out of order
    change nothing more than once. Runs as the ``returns.advance`` job (shipments never import returns).
    """
    now = now or clock.now()
    stmt = (
        scoped(
            select(ReturnRequest, Shipment.status, Shipment.shipped_at, Shipment.delivered_at),
            ReturnRequest,
            store_id,
        )
        .join(Shipment, Shipment.id == ReturnRequest.return_shipment_id)
        .where(ReturnRequest.status.in_([Status.label_issued.value, Status.in_transit.value]))
        .where(Shipment.status.in_([*_SHIPPED, "delivered"]))
        .order_by(ReturnRequest.id)
        .with_for_update(of=ReturnRequest)
    )
    moved: list[Applied] = []
    for request, status, shipped_at, delivered_at in session.execute(stmt).unique():
        milestones: list[str] = []
        if status == "delivered":
            # A delivery scan may be the first scan seen: label_issued → received directly.
            milestones += _move(session, request, Action.receive, delivered_at or now)
        elif request.status == Status.label_issued.value:
            milestones += _move(session, request, Action.ship, shipped_at or now)
        else:
            continue  # still on its way: nothing new
        moved.append(Applied(request, milestones))
    return moved


def list_return_shipment_ids(session: Session, *, store_id: int) -> list[int]:
    stmt = scoped(select(ReturnRequest.return_shipment_id), ReturnRequest, store_id).where(
        ReturnRequest.return_shipment_id.is_not(None)
    )
    return [int(i) for i in session.scalars(stmt) if i is not None]


def returned_by_line(session: Session, *, store_id: int, order_id: str) -> dict[str, int]:
    """Units of each line (public id) in returns that were not rejected."""
    order = _order(session, store_id, order_id)
    counts = _returned_quantities(session, order)
    return {li.public_id: counts.get(li.id, 0) for li in order.line_items}
