"""Package-protection claims: lost, damaged, stolen or wrong item, on one outbound parcel.

A claim can be filed only when the parcel's tracking state supports it (:func:`derive_claimable`, pure):
*lost* after a lost exception, a stall or an expiry; *stolen* once the parcel has been "delivered" for
``claims.delivered_not_received_after_hours``; *damaged* and *wrong_item* once delivered (or a damaged
exception). The amount is computed here from the order, never sent by the shopper. Claims worth at most
``claims.auto_approve_max_minor`` are approved and settled at once; the rest wait for the merchant.
Settling is a reship (a free replacement order) or a refund (queued in the refund outbox).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, FieldProblem, Invalid, NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.customers.commands import UpsertCustomer
from doorstep.flows import service as flow_service
from doorstep.orders import service as order_service
from doorstep.orders.commands import Address, CreateOrder, LineItemInput
from doorstep.orders.models import LineItem, Order
from doorstep.returns import refunds
from doorstep.returns import service as return_service
from doorstep.returns.commands import ClaimKind, ClaimResolution, DecideClaim, FileClaim
from doorstep.returns.models import Claim
from doorstep.returns.policy import OrderMoney, PricedLine, Reason, ReturnPolicy, derive_value
from doorstep.shipments.models import Shipment

OPEN = ("filed", "approved")


@dataclass(frozen=True)
class ParcelFacts:
    status: str
    substatus: str | None
    is_stalled: bool
    delivered_at: datetime | None
    placed_at: datetime
    direction: str


@dataclass(frozen=True)
class ClaimOption:
    kind: ClaimKind
    allowed: bool
    reason: (
        str | None
    )  # machine-readable: not_delivered_yet, too_soon, not_lost, window_closed, return_parcel
    message: str | None
    available_at: datetime | None = None


def derive_claimable(policy: ReturnPolicy, parcel: ParcelFacts, now: datetime) -> list[ClaimOption]:
    """Which claims the parcel's state allows now, each with a reason code and plain words when not."""
    rules = policy.claims
    closes = parcel.placed_at + timedelta(days=rules.file_within_days)
    options: list[ClaimOption] = []
    for kind in ClaimKind:
        code: str | None = None
        message: str | None = None
        available: datetime | None = None
        delivered = parcel.status == "delivered"
        if parcel.direction != "outbound":
            code, message = "return_parcel", "Claims are for parcels sent to you, not returns."
        elif now > closes:
            code, message = "window_closed", f"Claims for this order closed on {closes:%B %-d, %Y}."
        elif kind is ClaimKind.lost:
            lost = (parcel.status == "exception" and parcel.substatus == "lost") or parcel.status == "expired"
            if not (lost or (parcel.is_stalled and not delivered)):
                code, message = "not_lost", "The carrier still reports this parcel as on its way."
        elif kind is ClaimKind.stolen:
            if not delivered or parcel.delivered_at is None:
                code, message = "not_delivered_yet", "A parcel can be reported stolen once marked delivered."
            else:
                available = parcel.delivered_at + timedelta(hours=rules.delivered_not_received_after_hours)
                if now < available:
                    code = "too_soon"
                    message = (
                        f"Parcels marked delivered sometimes turn up late; you can report it missing from "
                        f"{available:%B %-d, %H:%M} UTC."
                    )
        elif kind is ClaimKind.damaged:
            if not (delivered or (parcel.status == "exception" and parcel.substatus == "damaged")):
                code, message = "not_delivered_yet", "Damage can be reported once the parcel arrives."
        elif not delivered:
            code, message = "not_delivered_yet", "A wrong item can be reported once the parcel arrives."
        options.append(ClaimOption(kind, code is None, code, message, available))
    return options


def _parcel(session: Session, store_id: int, shipment_id: str) -> Shipment:
    stmt = scoped(select(Shipment), Shipment, store_id).where(Shipment.public_id == shipment_id)
    shipment = session.scalars(stmt).unique().one_or_none()
    if shipment is None or shipment.order is None:
        raise NotFound(f"shipment {shipment_id} not found")
    return shipment


def _facts(shipment: Shipment, order: Order) -> ParcelFacts:
    return ParcelFacts(
        shipment.status, shipment.substatus, bool(shipment.is_stalled), shipment.delivered_at,
        order.placed_at, shipment.direction,
    )  # fmt: skip


def claimable(
    session: Session, *, store_id: int, shipment_id: str, now: datetime | None = None
) -> list[ClaimOption]:
    """Per claim kind: can it be filed for this parcel now, and if not why (code + plain words)."""
    shipment = _parcel(session, store_id, shipment_id)
    assert shipment.order is not None
    policy = return_service.get_policy(session, store_id=store_id)
    return derive_claimable(policy, _facts(shipment, shipment.order), now or clock.now())


def _amount(
    session: Session, order: Order, shipment: Shipment, cmd: FileClaim, policy: ReturnPolicy
) -> tuple[int, list[dict[str, object]]]:
    """The value of the claimed units (price less discounts, tax and shipping share) and the items."""
    lines = {li.public_id: li for li in order.line_items}
    in_parcel = {item.line_item.public_id: item.quantity for item in shipment.items}
    wanted = [(i.line_item_id, i.quantity) for i in cmd.items] or list(in_parcel.items())
    problems: list[FieldProblem] = []
    money = OrderMoney(
        order.currency, order.subtotal_minor, order.discount_minor, order.shipping_minor, order.tax_minor,
        order.total_minor, order.refunded_minor, 0,
    )  # fmt: skip
    total = 0
    items: list[dict[str, object]] = []
    for index, (line_id, quantity) in enumerate(wanted):
        line: LineItem | None = lines.get(line_id)
        if line is None or line_id not in in_parcel:
            problems.append(FieldProblem(
                f"items.{index}.line_item_id", f"{line_id} is not in parcel {shipment.public_id}",
                "choose an item from this parcel",
            ))  # fmt: skip
            continue
        if quantity > in_parcel[line_id]:
            problems.append(FieldProblem(
                f"items.{index}.quantity", f"{quantity} is more than the {in_parcel[line_id]} in this parcel",
                f"send at most {in_parcel[line_id]}",
            ))  # fmt: skip
            continue
        priced = PricedLine(
            line.public_id, line.title, line.quantity, line.unit_price_minor, line.discount_minor
        )
        value, _, _ = derive_value(money, priced, quantity, Reason.damaged, policy)
        total += value
        items.append({"line_item_id": line_id, "quantity": quantity, "value_minor": value})
    if problems:
        raise Invalid(f"the claim cannot be filed: {problems[0].message}", problems=problems)
    return total, items


def file_claim(
    session: Session, *, store_id: int, order_id: str, cmd: FileClaim, now: datetime | None = None
) -> tuple[Claim, list[str]]:
    """File a claim on one of the order's parcels; emits ``claim.filed`` (and settles small ones at once).

    The same ``idempotency_key`` twice answers with the first claim; an open claim of the same kind on the
    same parcel is refused (one claim per problem).
    """
    now = now or clock.now()
    order_stmt = (
        scoped(select(Order), Order, store_id).where(Order.public_id == order_id).with_for_update(of=Order)
    )
    order = session.scalars(order_stmt).unique().one_or_none()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    if cmd.idempotency_key:
        seen = scoped(select(Claim), Claim, store_id).where(Claim.idempotency_key == cmd.idempotency_key)
        found = session.scalars(seen).unique().one_or_none()
        if found is not None:
            return found, []
    shipment = _parcel(session, store_id, cmd.shipment_id)
    if shipment.order_id != order.id:
        raise NotFound(f"shipment {cmd.shipment_id} not found on order {order_id}")
    policy = return_service.get_policy(session, store_id=store_id)
    option = next(o for o in derive_claimable(policy, _facts(shipment, order), now) if o.kind is cmd.kind)
    if not option.allowed:
        raise Invalid.field("kind", f"{cmd.kind.value} cannot be claimed now: {option.message} ({option.reason})",
                            "choose another kind, or wait until the parcel's status allows it")  # fmt: skip
    if cmd.kind.value in policy.claims.require_photos_for and not cmd.evidence:
        raise Invalid.field("evidence", f"a photo is required for a {cmd.kind.value} claim", "attach a photo")
    duplicate = scoped(select(Claim.public_id), Claim, store_id).where(
        Claim.shipment_id == shipment.id, Claim.kind == cmd.kind.value, Claim.status.in_(OPEN)
    )
    if (open_id := session.scalars(duplicate).first()) is not None:
        raise Conflict(f"a {cmd.kind.value} claim for this parcel is already open ({open_id})")
    amount, items = _amount(session, order, shipment, cmd, policy)
    claim = Claim(
        public_id=ids.new_id("clm"), store_id=store_id, order_id=order.id, shipment_id=shipment.id,
        token=ids.new_token(), kind=cmd.kind.value, status="filed",
        preferred_resolution=cmd.preferred_resolution.value, description=cmd.description,
        evidence=list(cmd.evidence), items=items, currency=order.currency, amount_minor=amount,
        idempotency_key=cmd.idempotency_key, filed_at=now,
    )  # fmt: skip
    session.add(claim)
    session.flush()
    milestones = _emit(session, claim, "claim.filed", now)
    limit = policy.claims.auto_approve_max_minor
    if limit is not None and amount <= limit:
        claim.is_auto_approved = True
        milestones += _settle(
            session,
            claim,
            ClaimResolution(claim.preferred_resolution),
            now,
            "approved automatically: low value",
        )
    return claim, milestones


def _emit(session: Session, claim: Claim, name: str, at: datetime) -> list[str]:
    data: dict[str, object] = {"kind": claim.kind, "status": claim.status, "resolution": claim.resolution}
    occurrence = flow_service.Occurrence(name, claim.public_id, claim.order.public_id, at, data)
    return flow_service.emit(session, store_id=claim.store_id, occurrences=[occurrence])


def _settle(
    session: Session, claim: Claim, resolution: ClaimResolution, now: datetime, reason: str | None
) -> list[str]:
    claim.decided_at = now
    claim.decided_reason = reason
    claim.resolution = resolution.value
    if resolution is ClaimResolution.refund:
        claim.refund_id = refunds.request_claim_refund(
            session, order=claim.order, amount_minor=claim.amount_minor, now=now
        ).id
    else:
        claim.replacement_order_id = _reship(session, claim, now)
    claim.status = "resolved"
    claim.resolved_at = now
    session.flush()
    return _emit(session, claim, "claim.resolved", now)


def _reship(session: Session, claim: Claim, now: datetime) -> int:
    """A free replacement order with the claimed items (emits ``order.placed``)."""
    original = claim.order
    lines = {li.public_id: li for li in original.line_items}
    inputs = []
    for index, item in enumerate(claim.items, start=1):
        li = lines[str(item["line_item_id"])]
        inputs.append(LineItemInput(
            external_id=f"{claim.public_id}-{index}", product_id=li.product_id, variant_id=li.variant_id,
            sku=li.sku, title=li.title, variant_title=li.variant_title, quantity=int(str(item["quantity"])),
            unit_price_minor=li.unit_price_minor, discount_minor=li.unit_price_minor * int(str(item["quantity"])),
        ))  # fmt: skip
    customer = original.customer
    cmd = CreateOrder(
        number=f"{original.number}-R{claim.public_id[-4:].upper()}",
        placed_at=now,
        currency=original.currency,
        customer=UpsertCustomer(external_id=customer.external_id, email=customer.email, phone=customer.phone)
        if customer is not None
        else None,
        line_items=tuple(inputs),
        total_minor=0,
        shipping_address=Address.model_validate(original.shipping_address)
        if original.shipping_address
        else None,
        tags=("reship", f"claim:{claim.public_id}"),
        note=f"Replacement for order {original.number} ({claim.kind} claim {claim.public_id})",
        source="claim",
    )
    return order_service.create_order(session, store_id=claim.store_id, cmd=cmd).order.id


def get_claim(session: Session, *, store_id: int, claim_id: str, lock: bool = False) -> Claim:
    stmt = scoped(select(Claim), Claim, store_id).where(Claim.public_id == claim_id)
    if lock:
        stmt = stmt.with_for_update(of=Claim)
    found = session.scalars(stmt).unique().one_or_none()
    if found is None:
        raise NotFound(f"claim {claim_id} not found")
    return found


def get_claim_by_token(session: Session, *, store_id: int, token: str) -> Claim | None:
    stmt = scoped(select(Claim), Claim, store_id).where(Claim.token == token)
    return session.scalars(stmt).unique().one_or_none()


def decide_claim(
    session: Session, *, store_id: int, claim_id: str, cmd: DecideClaim, now: datetime | None = None
) -> tuple[Claim, list[str]]:
    """Approve (and settle: reship or refund) or decline a filed claim; emits ``claim.resolved``."""
    now = now or clock.now()
    claim = get_claim(session, store_id=store_id, claim_id=claim_id, lock=True)
    if claim.status != "filed":
        raise Conflict(f"claim {claim_id} is already {claim.status}")
    if not cmd.approve:
        if not cmd.reason:
            raise Invalid.field("reason", "is required when declining a claim", "say why, in plain words")
        claim.status = "rejected"
        claim.decided_at = claim.resolved_at = now
        claim.decided_reason = cmd.reason
        session.flush()
        return claim, _emit(session, claim, "claim.resolved", now)
    resolution = cmd.resolution or ClaimResolution(claim.preferred_resolution)
    return claim, _settle(session, claim, resolution, now, cmd.reason)


def list_claims(
    session: Session, *, store_id: int, limit: int, cursor: str | None = None, status: str | None = None,
    kind: ClaimKind | None = None,
) -> tuple[list[Claim], str | None]:  # fmt: skip
    stmt = scoped(select(Claim), Claim, store_id)
    if status is not None:
        stmt = stmt.where(Claim.status == status)
    if kind is not None:
        stmt = stmt.where(Claim.kind == kind.value)
    return paginate(session, stmt, Claim, limit=limit, cursor=cursor)
