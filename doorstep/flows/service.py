"""Milestones and the flows that react to them.

:func:`emit` records each milestone once per subject and, in the same transaction (the transactional
outbox), writes the jobs its matching flows schedule: one ``message.send`` per send step (key
``msg:{subject}:{milestone}:{kinds}``), one ``webhook.deliver`` per webhook step, and one
``milestone.published`` per milestone (key ``pub:{milestone id}``) for integrations that mirror
milestones (Klaviyo, webhook subscriptions). :func:`record_history` records past milestones and writes no
job at all. Flows are data: the shipped ``defaults.yaml``, overlaid by each store's own versions.

This module carries ids only (rule R5): it reads the order, parcel and shopper rows it needs for
conditions and time zones, and never calls another domain's service.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from doorstep import milestones as registry
from doorstep.core import clock, ids
from doorstep.core.errors import FieldProblem, Invalid, NotFound, summarize
from doorstep.core.tenancy import scoped
from doorstep.customers.models import Customer
from doorstep.flows import conditions, defaults, steps
from doorstep.flows.models import MilestoneEvent, StoreFlow
from doorstep.flows.schemas import FlowDefinition, Segment, step_name
from doorstep.jobs import queue
from doorstep.orders.models import Order
from doorstep.shipments.models import Shipment
from doorstep.stores.models import Store
from doorstep.webhooks.models import WebhookEndpoint

SEND_KIND = "message.send"
WEBHOOK_KIND = "webhook.deliver"
PUBLISH_KIND = "milestone.published"
SEND_MAX_ATTEMPTS = 8  # a provider outage of about half an hour is retried before the message is dead


@dataclass(frozen=True)
class Occurrence:
    """A milestone crossed by a state change, as a service reports it."""

    name: str
    subject_id: str
    order_id: str | None
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


def emit(
    session: Session, *, store_id: int, occurrences: Sequence[Occurrence], historical: bool = False
) -> list[str]:
    """Record each milestone once per subject, in the caller's transaction; return the names newly recorded.

    A milestone already recorded is never recorded again; its time only moves earlier.
    """
    if not occurrences:
        return []
    subjects = {o.subject_id for o in occurrences}
    stmt = scoped(select(MilestoneEvent), MilestoneEvent, store_id).where(
        MilestoneEvent.subject_id.in_(subjects)
    )
    existing = {(m.subject_id, m.name): m for m in session.scalars(stmt)}
    recorded: list[str] = []
    new: list[MilestoneEvent] = []
    now = clock.now()
    for occ in occurrences:
        registry.get(occ.name)  # unknown names are a programming error
        known = existing.get((occ.subject_id, occ.name))
        if known is not None:
            # A late-arriving older scan can only make the fact earlier; it never fires it again.
            if occ.occurred_at < known.occurred_at:
                known.occurred_at = occ.occurred_at
            continue
        known = MilestoneEvent(
            public_id=ids.new_id("ms"),
            store_id=store_id,
            name=occ.name,
            subject_id=occ.subject_id,
            order_id=occ.order_id,
            occurred_at=occ.occurred_at,
            is_historical=historical,
            data=occ.data,
            created_at=now,
        )
        session.add(known)
        existing[(occ.subject_id, occ.name)] = known
        recorded.append(occ.name)
        new.append(known)
    session.flush()
    if not historical and new:
        _react(session, store_id, new)
    return recorded


def list_for_subject(session: Session, *, store_id: int, subject_id: str) -> list[MilestoneEvent]:
    stmt = scoped(select(MilestoneEvent), MilestoneEvent, store_id).where(
        MilestoneEvent.subject_id == subject_id
    )
    return list(session.scalars(stmt.order_by(MilestoneEvent.occurred_at, MilestoneEvent.id)))


def record_history(
    session: Session,
    *,
    store_id: int,
    occurrences: Sequence[Occurrence],
    write: Callable[[Session, Table, list[dict[str, Any]]], None] | None = None,
    new_subjects: bool = False,
) -> int:
    """Record milestones that happened in the past (history imports), in bulk; return how many were new.

    The same rules as :func:`emit` — registered names only, once per (subject, name) — but every row is
    ``is_historical=True``, so flows never react to it: an imported order delivered in 2018 sends no
    "delivered" message today. Rows go in with one multi-row INSERT, in the caller's transaction
    (``write`` lets a bulk caller insert them through its own fast path). ``new_subjects`` says every
    subject was created in this transaction, so none can have a milestone yet and the lookup of those
    already recorded is skipped (a history import's fresh orders and parcels: tens of thousands of
    index probes per batch that can only come back empty).
    """
    if not occurrences:
        return 0
    seen: set[tuple[str, str]] = set()
    if not new_subjects:
        subjects = {o.subject_id for o in occurrences}
        stmt = scoped(select(MilestoneEvent.subject_id, MilestoneEvent.name), MilestoneEvent, store_id).where(
            MilestoneEvent.subject_id.in_(subjects)
        )
        seen.update((subject, name) for subject, name in session.execute(stmt))
    rows = history_rows(store_id=store_id, occurrences=occurrences, seen=seen)
    table = MilestoneEvent.__table__
    assert isinstance(table, Table)
    if rows and write is not None:
        write(session, table, rows)
    elif rows:
        session.execute(insert(table), rows)
    return len(rows)


def history_rows(
    *, store_id: int, occurrences: Sequence[Occurrence], seen: set[tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """The ``milestone_events`` rows :func:`record_history` writes, built without a database: registered
    names only, once per (subject, name), skipping the pairs in ``seen`` (those already recorded).
    History importers that plan rows away from the database (``doorstep.imports.plan``) call it directly."""
    seen = set() if seen is None else seen
    now = clock.now()
    public_ids = ids.id_stream("ms", chunk=min(len(occurrences), 4096) or 1)
    rows: list[dict[str, Any]] = []
    for occ in occurrences:
        registry.get(occ.name)  # unknown names are a programming error
        if (occ.subject_id, occ.name) in seen:
            continue
        seen.add((occ.subject_id, occ.name))
        rows.append(
            {
                "public_id": next(public_ids),
                "store_id": store_id,
                "name": occ.name,
                "subject_id": occ.subject_id,
                "order_id": occ.order_id,
                "occurred_at": occ.occurred_at,
                "is_historical": True,
                "data": occ.data,
                "created_at": now,
            }
        )
    return rows


# --- flows: the defaults overlaid by each store's own versions -------------------------------------


@dataclass(frozen=True)
class Flow:
    key: str
    definition: FlowDefinition
    source: str  # "default" or "store"
    updated_at: datetime | None = None


def effective_flows(session: Session, *, store_id: int) -> dict[str, Flow]:
    """Every flow the store runs: the shipped defaults, replaced or extended by the store's own."""
    flows = {key: Flow(key, definition, "default") for key, definition in defaults.load().items()}
    stmt = scoped(select(StoreFlow), StoreFlow, store_id).order_by(StoreFlow.key)
    for row in session.scalars(stmt):
        flows[row.key] = Flow(row.key, FlowDefinition.model_validate(row.definition), "store", row.updated_at)
    return flows


def list_flows(session: Session, *, store_id: int) -> list[Flow]:
    return sorted(effective_flows(session, store_id=store_id).values(), key=lambda f: f.key)


def get_flow(session: Session, *, store_id: int, key: str) -> Flow:
    flow = effective_flows(session, store_id=store_id).get(key)
    if flow is None:
        raise NotFound(f"no flow {key!r}: GET /api/v1/flows lists them, PUT creates one")
    return flow


def put_flow(session: Session, *, store_id: int, key: str, definition: FlowDefinition) -> Flow:
    """Save the store's own version of a flow (replacing the default with that key, or adding one).
    A step naming a template or an endpoint that does not exist is refused here, not found at send time."""
    problems = reference_problems(session, store_id, definition, prefix="body")
    if problems:
        raise Invalid(f"the flow names what does not exist: {summarize(problems)}", problems=problems)
    stmt = scoped(select(StoreFlow), StoreFlow, store_id).where(StoreFlow.key == key)
    row = session.scalars(stmt).one_or_none()
    body = definition.model_dump(mode="json", exclude_defaults=True)
    body["trigger"] = definition.trigger
    body["steps"] = [step.model_dump(mode="json", exclude_none=True) for step in definition.steps]
    if row is None:
        row = StoreFlow(store_id=store_id, key=key, definition=body)
        session.add(row)
    else:
        row.definition = body
        row.updated_at = clock.now()
    session.flush()
    return Flow(key, definition, "store", row.updated_at)


def reference_problems(
    session: Session, store_id: int, definition: FlowDefinition, *, prefix: str = "definition"
) -> list[FieldProblem]:
    """What a flow's steps name that does not exist: a ``template`` must be a milestone's (the shipped
    templates and the store's overrides are per milestone), a ``webhook`` one of this store's endpoints.
    Saving refuses these; a flow read back reports them, for an endpoint deleted since it was saved (or a
    flow saved before templates were checked): such a step fails until the flow is fixed."""
    problems: list[FieldProblem] = []
    hooks = {step.webhook for step in definition.steps if step.webhook is not None}
    known_hooks = (
        set(session.scalars(
            scoped(select(WebhookEndpoint.public_id), WebhookEndpoint, store_id)
            .where(WebhookEndpoint.public_id.in_(hooks))
        ))
        if hooks else set()
    )  # fmt: skip
    for n, step in enumerate(definition.steps):
        if step.template is not None and step.template not in registry.MILESTONES:
            problems.append(FieldProblem(
                f"{prefix}.steps.{n}.template", f"no template is named {step.template!r}",
                "name a milestone, e.g. shipment.delayed (GET /api/v1/templates/defaults lists them), "
                "or leave template out to use the trigger's",
            ))  # fmt: skip
        if step.webhook is not None and step.webhook not in known_hooks:
            problems.append(FieldProblem(
                f"{prefix}.steps.{n}.webhook", f"this store has no webhook endpoint {step.webhook!r}",
                "create it first (POST /api/v1/webhooks) and use its id",
            ))  # fmt: skip
    return problems


def reset_flow(session: Session, *, store_id: int, key: str) -> Flow | None:
    """Drop the store's own version: the default comes back (None when there is no default)."""
    stmt = scoped(select(StoreFlow), StoreFlow, store_id).where(StoreFlow.key == key)
    row = session.scalars(stmt).one_or_none()
    default = defaults.load().get(key)
    if row is None and default is None:
        raise NotFound(f"no flow {key!r}: GET /api/v1/flows lists them")
    if row is not None:
        session.delete(row)
        session.flush()
    return Flow(key, default, "default") if default is not None else None


# --- reacting to new milestones (the transactional outbox) ------------------------------------------


def message_key(subject_id: str, milestone: str, name: str) -> str:
    """The unique key of one send step's job and message: ``msg:{subject}:{milestone}:{kinds[:id]}``."""
    return f"msg:{subject_id}:{milestone}:{name}"


def _react(session: Session, store_id: int, events: Sequence[MilestoneEvent]) -> None:
    flows = [f for f in effective_flows(session, store_id=store_id).values() if f.definition.enabled]
    for event in events:
        queue.enqueue(
            session, kind=PUBLISH_KIND, key=f"pub:{event.public_id}", store_id=store_id,
            args={"milestone_event_id": event.public_id},
        )  # fmt: skip
        triggered = [f for f in flows if f.definition.trigger == event.name]
        if not triggered:
            continue
        facts = read_facts(session, store_id=store_id, event=event)
        now = clock.now()
        for flow in triggered:
            if not conditions.matches(flow.definition.conditions, facts):
                continue
            for due in steps.schedule(flow.definition, start=now, time_zone=facts.time_zone):
                _enqueue_step(session, store_id, event, flow.key, due)


def _enqueue_step(
    session: Session, store_id: int, event: MilestoneEvent, flow_key: str, due: steps.Due
) -> None:
    # No job lock: a message's fate is decided from fresh state when it runs (a later milestone supersedes
    # an earlier one whatever order their jobs run in), and a lock per subject makes every claim scan for
    # siblings (jobs.lock has no index), which halved the dispatch benchmark.
    if due.step.send is not None:
        key = message_key(event.subject_id, event.name, step_name(due.step))
        queue.enqueue(
            session, kind=SEND_KIND, key=key, store_id=store_id, run_at=due.run_at,
            max_attempts=SEND_MAX_ATTEMPTS,
            args={"milestone_event_id": event.public_id, "flow": flow_key, "step": due.index, "message_key": key},
        )  # fmt: skip
    elif due.step.webhook is not None:
        queue.enqueue(
            # The same key as doorstep.messaging.publish gives a subscription's delivery: one call per
            # milestone and endpoint, however many flows and subscriptions ask for it.
            session, kind=WEBHOOK_KIND, key=f"{WEBHOOK_KIND}:{event.public_id}:{due.step.webhook}",
            store_id=store_id, run_at=due.run_at, max_attempts=SEND_MAX_ATTEMPTS,
            args={"milestone_event_id": event.public_id, "endpoint_id": due.step.webhook},
        )  # fmt: skip


def read_facts(session: Session, *, store_id: int, event: MilestoneEvent) -> conditions.Facts:
    """The facts conditions look at, for one milestone: its order, parcel and shopper."""
    shipment = None
    if ids.has_prefix(event.subject_id, "shp"):
        stmt = scoped(select(Shipment), Shipment, store_id).where(Shipment.public_id == event.subject_id)
        shipment = session.scalars(stmt).unique().one_or_none()
    order = shipment.order if shipment is not None else None
    if order is None and event.order_id is not None:
        stmt_order = scoped(select(Order), Order, store_id).where(Order.public_id == event.order_id)
        order = session.scalars(stmt_order).unique().one_or_none()
    store = session.get(Store, store_id)
    customer = order.customer if order is not None else None
    address = (order.shipping_address if order is not None else None) or {}
    country = address.get("country")
    return conditions.Facts(
        order_total_minor=order.total_minor if order is not None else None,
        currency=order.currency if order is not None else None,
        country=str(country).upper() if country else None,
        tags=frozenset(order.tags or ()) if order is not None else frozenset(),
        carrier=shipment.carrier if shipment is not None else None,
        segment=_segment(session, store_id, order) if order is not None else None,
        reachable=reachable_kinds(customer),
        time_zone=(customer.timezone if customer is not None else None)
        or (store.timezone if store else None),
    )


def _segment(session: Session, store_id: int, order: Order) -> Segment | None:
    if order.customer_id is None:
        return None
    stmt = scoped(select(func.count(Order.id)), Order, store_id).where(
        Order.customer_id == order.customer_id, Order.placed_at < order.placed_at
    )
    return Segment.returning if (session.scalar(stmt) or 0) > 0 else Segment.new


def reachable_kinds(customer: Customer | None) -> frozenset[str]:
    """Kinds the shopper has a contact point for and has consented to."""
    if customer is None:
        return frozenset()
    granted = {c.channel for c in customer.consents if c.is_granted}
    kinds = set()
    if customer.email and "email" in granted:
        kinds.add("email")
    if customer.phone:
        kinds.update(k for k in ("sms", "whatsapp") if k in granted)
    return frozenset(kinds)
