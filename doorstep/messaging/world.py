"""The fresh state a send decision reads, for one message or a batch of them, in a fixed number of queries.

:func:`read` loads, for every milestone of a batch at once: the store and its flows (once), the parcels
and orders (with line items, shopper and consents), the other milestones recorded on each subject and
its order (for "superseded" and exit conditions), the returns and claims the milestones are about, and
each shopper's recent sends (the frequency cap). A batch of 64 messages costs the same dozen queries as
one message. Messaging reads models here, never other domains' services, as it always has.

:class:`Shared` is what the messages of one batch have in common: the store, its flows, its channel
routes (looked up once per kind) and each shopper's sends. A message decided ``send`` adds itself to its
shopper's sends, so the cap holds inside a batch exactly as it does across batches.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from doorstep.config import Settings
from doorstep.core import clock, ids
from doorstep.core.errors import NotFound
from doorstep.core.tenancy import scoped
from doorstep.customers.models import Consent, Customer
from doorstep.db import one_of
from doorstep.flows import service as flow_service
from doorstep.flows.models import MilestoneEvent
from doorstep.flows.schemas import Step
from doorstep.integrations.channels.protocol import Kind
from doorstep.message_templates import service as template_service
from doorstep.messaging import policy, render, routing
from doorstep.messaging.models import Message, MessageStatus
from doorstep.orders.models import LineItem, Order
from doorstep.returns.models import Claim, ReturnRequest, StoreCredit
from doorstep.shipments.models import Shipment, ShipmentItem
from doorstep.stores.models import Store

COUNTED = (MessageStatus.sending, MessageStatus.sent, MessageStatus.delivered)


class Shared:
    """What one batch's messages share: store, flows, routes, template overrides and shoppers' sends."""

    def __init__(self, session: Session, store: Store, settings: Settings) -> None:
        self.session, self.store, self.settings = session, store, settings
        self.flows = flow_service.effective_flows(session, store_id=store.id)
        self._routes: dict[str, routing.Route | routing.NoRoute] = {}
        self._overrides: dict[tuple[str, Kind, str], render.Source] | None = None
        self.sends: dict[int, list[datetime]] = {}  # customer id → sends within the cap window

    def route(self, kind: str) -> "routing.Route | routing.NoRoute":
        """The store's channel for ``kind`` (or why there is none), looked up once per batch."""
        if kind not in self._routes:
            try:
                self._routes[kind] = routing.route(
                    self.session, store_id=self.store.id, kind=Kind(kind), settings=self.settings
                )
            except routing.NoRoute as exc:
                self._routes[kind] = exc
        return self._routes[kind]

    def overrides(self) -> dict[tuple[str, Kind, str], render.Source]:
        """The store's enabled template overrides, read once per batch."""
        if self._overrides is None:
            self._overrides = template_service.enabled_overrides(self.session, store_id=self.store.id)
        return self._overrides

    def read_sends(self, customer_ids: Iterable[int], now: datetime) -> None:
        wanted = sorted(set(customer_ids) - set(self.sends))
        if not wanted:
            return
        for customer_id in wanted:
            self.sends[customer_id] = []
        stmt = scoped(select(Message.customer_id, Message.sent_at), Message, self.store.id).where(
            one_of(self.session, Message.customer_id, wanted),
            Message.status.in_([s.value for s in COUNTED]),
            Message.sent_at.is_not(None),
            Message.sent_at > now - policy.DEFAULT_CAP_WINDOW,
        )
        for sender, sent_at in self.session.execute(stmt):
            if sender is not None and sent_at is not None:
                self.sends[sender].append(clock.ensure_aware(sent_at))


class World:
    """The fresh state one decision reads: the milestone's order, parcel, shopper, and what it shares."""

    def __init__(
        self,
        shared: Shared,
        order: Order | None,
        shipment: Shipment | None,
        recorded: frozenset[str],
        return_request: ReturnRequest | None = None,
        credit_code: str | None = None,
        claim: Claim | None = None,
    ) -> None:
        self.shared, self.store, self.flows = shared, shared.store, shared.flows
        self.order, self.shipment = order, shipment
        self.customer: Customer | None = order.customer if order is not None else None
        self.recorded = recorded
        self.return_request = return_request  # return.* milestones
        self.credit_code = credit_code  # the return's store-credit code, once issued
        self.claim = claim  # claim.* milestones
        customer = self.customer
        self.locale = (customer.locale if customer is not None else None) or self.store.locale or "en"
        self.time_zone = (customer.timezone if customer is not None else None) or self.store.timezone

    def route(self, kind: str) -> "routing.Route | routing.NoRoute":
        return self.shared.route(kind)

    def step(self, args: dict[str, Any]) -> Step | None:
        """The flow step a ``message.send`` job's args name, if it still exists and sends."""
        flow = self.flows.get(str(args.get("flow", "")))
        index = int(args.get("step", -1))
        if flow is None or not 0 <= index < len(flow.definition.steps):
            return None
        step = flow.definition.steps[index]
        return step if step.send is not None else None

    def note_send(self, now: datetime) -> None:
        """This shopper was just sent one: later decisions of the batch count it against the cap."""
        if self.customer is not None:
            self.shared.sends.setdefault(self.customer.id, []).append(now)

    def situation(
        self, event: MilestoneEvent, step: Step | None, args: dict[str, Any], now: datetime
    ) -> policy.Situation:
        flow = self.flows.get(str(args.get("flow", "")))
        enabled = flow is not None and flow.definition.enabled and flow.definition.trigger == event.name
        customer = self.customer
        prefs: dict[str, Any] = dict(customer.preferences or {}) if customer is not None else {}
        start, end = prefs.get("quiet_hours_start"), prefs.get("quiet_hours_end")
        store_quiet = (self.store.policies or {}).get("quiet_hours")
        quiet: tuple[int, int] | None = policy.DEFAULT_QUIET_HOURS
        if start is not None and end is not None:
            quiet = (int(start), int(end))
        elif isinstance(store_quiet, list) and len(store_quiet) == 2:
            quiet = (int(store_quiet[0]), int(store_quiet[1]))
        elif store_quiet is False:
            quiet = None
        cap = (self.store.policies or {}).get("message_cap_per_day", policy.DEFAULT_CAP)
        kinds = tuple(step.send or ()) if step is not None else ()
        configured = frozenset(k for k in kinds if isinstance(self.route(k), routing.Route))
        recent: Sequence[datetime] = ()
        if customer is not None:
            self.shared.read_sends((customer.id,), now)
            recent = tuple(self.shared.sends[customer.id])
        return policy.Situation(
            milestone=event.name,
            occurred_at=clock.ensure_aware(event.occurred_at),
            recorded_at=clock.ensure_aware(event.created_at),
            now=now,
            kinds=kinds,
            addresses={"email": customer.email, "sms": customer.phone, "whatsapp": customer.phone}
            if customer is not None
            else {},
            consents={c.channel: c.is_granted for c in customer.consents} if customer is not None else {},
            configured=configured,
            frequency=str(prefs.get("frequency", "key_moments")),
            preferred_order=tuple(prefs["channels"]) if prefs.get("channels") else None,
            quiet_hours=quiet,
            time_zone=self.time_zone,
            flow_enabled=enabled and step is not None,
            order_cancelled=self.order is not None and self.order.cancelled_at is not None,
            recorded=self.recorded,
            exit_on=flow.definition.exit_on if flow is not None else (),
            recent_sends=recent,
            cap=int(cap) if cap is not None else None,
        )


def events(session: Session, store_id: int, public_ids: Sequence[str]) -> dict[str, MilestoneEvent]:
    """The store's milestones by public id; a missing one raises :class:`NotFound`."""
    stmt = scoped(select(MilestoneEvent), MilestoneEvent, store_id).where(
        one_of(session, MilestoneEvent.public_id, sorted(set(public_ids)))
    )
    found = {event.public_id: event for event in session.scalars(stmt)}
    missing = sorted(set(public_ids) - set(found))
    if missing:
        raise NotFound(f"milestone {missing[0]} not found")
    return found


def shared(session: Session, store_id: int, settings: Settings) -> Shared:
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(f"store {store_id} not found")
    return Shared(session, store, settings)


def read(
    session: Session, common: Shared, milestone_events: Sequence[MilestoneEvent], now: datetime
) -> dict[int, World]:
    """Each milestone's world (by milestone row id), read for the whole batch at once."""
    store_id = common.store.id
    subjects = {e.subject_id for e in milestone_events}
    shipments: dict[str, Shipment] = {}
    parcel_ids = sorted(s for s in subjects if ids.has_prefix(s, "shp"))
    if parcel_ids:
        stmt = scoped(select(Shipment), Shipment, store_id).where(
            one_of(session, Shipment.public_id, parcel_ids)
        )
        shipments = {s.public_id: s for s in session.scalars(stmt.options(*_SHIPMENT_COLLECTIONS)).unique()}
    orders: dict[str, Order] = {s.order.public_id: s.order for s in shipments.values() if s.order is not None}
    order_ids = sorted({e.order_id for e in milestone_events if e.order_id} - set(orders))
    if order_ids:
        stmt_orders = scoped(select(Order), Order, store_id).where(
            one_of(session, Order.public_id, order_ids)
        )
        orders.update(
            (o.public_id, o) for o in session.scalars(stmt_orders.options(*_ORDER_COLLECTIONS)).unique()
        )
    _collections(session, store_id, orders.values(), shipments.values())
    recorded = _recorded(session, store_id, subjects | {e.order_id for e in milestone_events if e.order_id})
    returns, credits, claims = _returns_and_claims(session, store_id, subjects)
    customers = [o.customer.id for o in orders.values() if o.customer is not None]
    common.read_sends(customers, now)
    worlds: dict[int, World] = {}
    for event in milestone_events:
        shipment = shipments.get(event.subject_id)
        order = shipment.order if shipment is not None else None
        if order is None and event.order_id:
            order = orders.get(event.order_id)
        names = frozenset(
            name
            for subject in {event.subject_id, event.order_id}
            if subject
            for event_id, name in recorded.get(subject, ())
            if event_id != event.id
        )
        request = returns.get(event.subject_id)
        credit = credits.get(request.store_credit_id) if request and request.store_credit_id else None
        worlds[event.id] = World(
            common, order, shipment, names, request, credit, claims.get(event.subject_id)
        )
    return worlds


# The collections a decision reads (line items, consents, a parcel's items) are loaded by _collections,
# not by their relationships' selectin loaders: those send an IN of up to 64 ids, past psycopg's
# 50-parameter statement cache, so the statement was parsed again on every batch.
_ORDER_COLLECTIONS = (lazyload(Order.line_items), joinedload(Order.customer).lazyload(Customer.consents))
_SHIPMENT_COLLECTIONS = (
    lazyload(Shipment.items),
    joinedload(Shipment.order).lazyload(Order.line_items),
    joinedload(Shipment.order).joinedload(Order.customer).lazyload(Customer.consents),
)


def _collections(
    session: Session, store_id: int, orders: Iterable[Order], shipments: Iterable[Shipment]
) -> None:
    """Fill the orders' line items, their shoppers' consents and the parcels' items, one query each,
    in each relationship's order. A collection already loaded in this session is left as it is."""
    unloaded_orders = {o.id: o for o in orders if "line_items" not in o.__dict__}
    unloaded_customers = {
        c.id: c for c in (o.customer for o in orders) if c is not None and "consents" not in c.__dict__
    }
    unloaded_shipments = {s.id: s for s in shipments if "items" not in s.__dict__}
    for owners, model, key, order_by, attribute in (
        (unloaded_orders, LineItem, LineItem.order_id, LineItem.position, "line_items"),
        (unloaded_customers, Consent, Consent.customer_id, Consent.channel, "consents"),
        (unloaded_shipments, ShipmentItem, ShipmentItem.shipment_id, ShipmentItem.id, "items"),
    ):
        if not owners:
            continue
        found: dict[int, list[Any]] = {owner: [] for owner in owners}
        stmt = scoped(select(model), model, store_id).where(one_of(session, key, sorted(owners)))
        for row in session.scalars(stmt.order_by(key, order_by)).unique():
            found[getattr(row, key.key)].append(row)
        for owner, rows in found.items():
            set_committed_value(owners[owner], attribute, rows)


def _recorded(session: Session, store_id: int, subjects: set[str]) -> dict[str, list[tuple[int, str]]]:
    """(milestone row id, name) of every milestone recorded on these subjects."""
    stmt = scoped(
        select(MilestoneEvent.subject_id, MilestoneEvent.id, MilestoneEvent.name), MilestoneEvent, store_id
    ).where(one_of(session, MilestoneEvent.subject_id, sorted(subjects)))
    recorded: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for subject_id, event_id, name in session.execute(stmt):
        recorded[subject_id].append((event_id, name))
    return recorded


def _returns_and_claims(
    session: Session, store_id: int, subjects: set[str]
) -> tuple[dict[str, ReturnRequest], dict[int, str], dict[str, Claim]]:
    """The returns and claims some milestones are about, and the returns' store-credit codes."""
    returns: dict[str, ReturnRequest] = {}
    credits: dict[int, str] = {}
    claims: dict[str, Claim] = {}
    return_ids = sorted(s for s in subjects if ids.has_prefix(s, "ret"))
    if return_ids:
        stmt = scoped(select(ReturnRequest), ReturnRequest, store_id).where(
            one_of(session, ReturnRequest.public_id, return_ids)
        )
        returns = {r.public_id: r for r in session.scalars(stmt).unique()}
        credit_ids = sorted({r.store_credit_id for r in returns.values() if r.store_credit_id is not None})
        if credit_ids:
            stmt_codes = scoped(select(StoreCredit.id, StoreCredit.code), StoreCredit, store_id).where(
                one_of(session, StoreCredit.id, credit_ids)
            )
            credits = {row[0]: row[1] for row in session.execute(stmt_codes)}
    claim_ids = sorted(s for s in subjects if ids.has_prefix(s, "clm"))
    if claim_ids:
        stmt_claims = scoped(select(Claim), Claim, store_id).where(
            one_of(session, Claim.public_id, claim_ids)
        )
        claims = {c.public_id: c for c in session.scalars(stmt_claims).unique()}
    return returns, credits, claims
