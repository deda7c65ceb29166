"""Messages: decide at send time with fresh state, record every decision, and settle what providers say.

The database half of a send (``doorstep.messaging.dispatch`` owns the transactions and the channel call):

- :func:`prepare` claims the message row by its unique key (the exactly-once guard), reads the situation
  fresh, runs :func:`doorstep.messaging.policy.decide`, and either settles the row (``suppressed`` with the
  reason; ``deferred`` with a follow-up job at the time) or marks it ``sending`` and renders it;
- :func:`mark_sent`, :func:`fall_back` (a provider refused this kind: try the next) and :func:`mark_failed`
  record the channel's answer;
- :func:`record_provider_status` applies delivery receipts (Twilio status callbacks), and the engagement
  functions count opens, clicks and unsubscribes from signed links.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from doorstep.config import Settings
from doorstep.core import clock, ids
from doorstep.core.errors import NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.customers.models import Consent, Customer
from doorstep.flows import service as flow_service
from doorstep.flows.models import MilestoneEvent
from doorstep.flows.schemas import Step
from doorstep.integrations.channels.protocol import Kind, Outbound
from doorstep.jobs import queue
from doorstep.messaging import compose, policy, render, routing
from doorstep.messaging.models import FINAL, Message, MessageStatus
from doorstep.orders.models import Order
from doorstep.returns.models import Claim, ReturnRequest, StoreCredit
from doorstep.shipments.models import Shipment
from doorstep.stores.models import Store

COUNTED = (MessageStatus.sending, MessageStatus.sent, MessageStatus.delivered)


@dataclass(frozen=True)
class Ready:
    """A message decided ``send`` and rendered: hand ``outbound`` to ``route.channel``."""

    message_pk: int
    outbound: Outbound
    route: routing.Route


@dataclass(frozen=True)
class Settled:
    """Nothing to send now: the row's status and reason say why."""

    status: str
    reason: str | None


Prepared = Ready | Settled


# --- deciding ----------------------------------------------------------------------------------------


def prepare(session: Session, *, store_id: int, args: dict[str, Any], settings: Settings) -> Prepared:
    """Decide one send step's message (args of a ``message.send`` job) and, if it goes, render it."""
    now = clock.now()
    event = _event(session, store_id, str(args["milestone_event_id"]))
    key = str(args.get("message_key") or "")
    message = _claim_row(session, store_id, key, event, str(args.get("flow", "")), now)
    if message.status in FINAL:
        return Settled(message.status, message.reason)
    world = _World.read(session, store_id, event)
    if message.status == MessageStatus.sending and message.kind is not None:
        # A crash after the decision (maybe after the provider took it): send again with the same message
        # id, which devbox and providers with idempotency keys use to store it once.
        return _render_ready(session, message, world, settings, _step(world, args), message.kind)
    if world.shipment is not None and world.shipment.direction == "return":
        # The parcel carries a return back to the store: the shopper hears through the return's messages
        # (return.in_transit, return.received), never "your order was delivered".
        return _settle(message, MessageStatus.suppressed, "a return parcel: told by the return's flows", now)
    step = _step(world, args)
    situation = world.situation(event, step, args, settings, now, session)
    decision = policy.decide(situation)
    message.decided_at = now
    if isinstance(decision, policy.Suppress):
        return _settle(message, MessageStatus.suppressed, decision.reason, now)
    if isinstance(decision, policy.Defer):
        message.deferred_until = decision.until
        queue.enqueue(
            session, kind=flow_service.SEND_KIND, key=f"{key}@{decision.until:%Y%m%dT%H%M%S}",
            store_id=store_id, run_at=decision.until,
            max_attempts=flow_service.SEND_MAX_ATTEMPTS, args=dict(args),
        )  # fmt: skip
        reason = f"{decision.reason}: until {decision.until.isoformat()}"
        return _settle(message, MessageStatus.deferred, reason, now)
    message.reason = decision.reason
    return _start(session, message, world, settings, step, decision.kind, decision.to)


def _start(
    session: Session,
    message: Message,
    world: "_World",
    settings: Settings,
    step: Step | None,
    kind: str,
    to: str,
) -> Prepared:
    message.kind, message.recipient, message.status = kind, to, MessageStatus.sending
    message.customer_id = world.customer.id if world.customer is not None else None
    message.locale = world.locale
    message.deferred_until = None
    return _render_ready(session, message, world, settings, step, kind)


def _render_ready(
    session: Session, message: Message, world: "_World", settings: Settings, step: Step | None, kind: str
) -> Prepared:
    # The reads below need none of the message's pending changes: write them once, at the end.
    with session.no_autoflush:
        prepared = _render_unflushed(session, message, world, settings, step, kind)
    session.flush()
    return prepared


def _render_unflushed(
    session: Session, message: Message, world: "_World", settings: Settings, step: Step | None, kind: str
) -> Prepared:
    now = clock.now()
    route = world.route(session, kind, settings)
    if isinstance(route, routing.NoRoute):
        return _settle(message, MessageStatus.suppressed, f"{kind}: {route.reason}", now)
    remedy = (step.remedy.code, step.remedy.description) if step is not None and step.remedy else None
    context = compose.build(
        store=world.store, order=world.order, shipment=world.shipment, customer=world.customer,
        locale=world.locale,
        addressing=compose.Addressing(
            settings.base_url, settings.security.secret_key.get_secret_value(), message.public_id, kind
        ),
        remedy=remedy, return_request=world.return_request, credit_code=world.credit_code, claim=world.claim,
    )  # fmt: skip
    template = (step.template if step is not None else None) or message.milestone
    try:
        rendered = render.render(
            session, store_id=message.store_id, milestone=template, kind=Kind(kind), locale=world.locale,
            context=context,
        )  # fmt: skip
    except render.RenderFailed as exc:
        return _settle(message, MessageStatus.failed, f"the {kind} template failed: {exc.reason}", now)
    except LookupError as exc:  # no template shipped for this milestone, kind and locale
        return _settle(message, MessageStatus.failed, f"no {kind} template: {exc}", now)
    message.subject = rendered.subject
    message.channel = route.name
    message.attempts += 1
    headers: dict[str, str] = {}
    if kind == Kind.email and context.links.unsubscribe:
        headers = {
            "List-Unsubscribe": f"<{context.links.unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    outbound = Outbound(
        message_id=message.public_id, store_id=message.store_id, kind=Kind(kind), to=message.recipient or "",
        sender=route.sender, rendered=rendered, headers=headers,
        metadata={"milestone": message.milestone, "subject_id": message.subject_id, "order_id": message.order_id,
                  "flow": message.flow},
    )  # fmt: skip
    return Ready(message.id, outbound, route)


def _settle(message: Message, status: MessageStatus, reason: str | None, now: datetime) -> Settled:
    message.status = status
    message.reason = reason
    message.updated_at = now
    return Settled(status, reason)


def _event(session: Session, store_id: int, public_id: str) -> MilestoneEvent:
    stmt = scoped(select(MilestoneEvent), MilestoneEvent, store_id).where(
        MilestoneEvent.public_id == public_id
    )
    event = session.scalars(stmt).one_or_none()
    if event is None:
        raise NotFound(f"milestone {public_id} not found")
    return event


def _claim_row(
    session: Session, store_id: int, key: str, event: MilestoneEvent, flow: str, now: datetime
) -> Message:
    """The message row for ``key``, created once (concurrent twins meet on the unique key), locked."""
    values = {
        "public_id": ids.new_id("msg"), "store_id": store_id, "key": key, "milestone_event_id": event.id,
        "milestone": event.name, "subject_id": event.subject_id, "order_id": event.order_id, "flow": flow,
        "status": MessageStatus.deciding.value, "attempts": 0, "open_count": 0, "click_count": 0,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # The first run creates the row and holds it (uncommitted, so a twin waits on the unique key); a
    # later run finds it and locks it.
    created = session.scalars(
        builder(Message).values(**values).on_conflict_do_nothing().returning(Message)
    ).one_or_none()
    if created is not None:
        return created
    stmt = scoped(select(Message), Message, store_id).where(Message.key == key).with_for_update()
    return session.scalars(stmt).one()


class _World:
    """The fresh state one decision reads: milestone's order, parcel, shopper, store and flow."""

    def __init__(
        self,
        store: Store,
        order: Order | None,
        shipment: Shipment | None,
        customer: Customer | None,
        flows: dict[str, flow_service.Flow],
        recorded: frozenset[str],
    ) -> None:
        self.store, self.order, self.shipment, self.customer = store, order, shipment, customer
        self.flows, self.recorded = flows, recorded
        self.locale = (customer.locale if customer is not None else None) or store.locale or "en"
        self.time_zone = (customer.timezone if customer is not None else None) or store.timezone
        self._routes: dict[str, routing.Route | routing.NoRoute] = {}
        self.return_request: ReturnRequest | None = None  # return.* milestones
        self.credit_code: str | None = None  # the return's store-credit code, once issued
        self.claim: Claim | None = None  # claim.* milestones

    def route(self, session: Session, kind: str, settings: Settings) -> "routing.Route | routing.NoRoute":
        """The store's channel for ``kind`` (or why there is none), looked up once per decision."""
        if kind not in self._routes:
            try:
                self._routes[kind] = routing.route(
                    session, store_id=self.store.id, kind=Kind(kind), settings=settings
                )
            except routing.NoRoute as exc:
                self._routes[kind] = exc
        return self._routes[kind]

    @classmethod
    def read(cls, session: Session, store_id: int, event: MilestoneEvent) -> "_World":
        store = session.get(Store, store_id)
        if store is None:
            raise NotFound(f"store {store_id} not found")
        shipment = None
        if ids.has_prefix(event.subject_id, "shp"):
            stmt = scoped(select(Shipment), Shipment, store_id).where(Shipment.public_id == event.subject_id)
            shipment = session.scalars(stmt).unique().one_or_none()
        order = shipment.order if shipment is not None else None
        if order is None and event.order_id:
            stmt_order = scoped(select(Order), Order, store_id).where(Order.public_id == event.order_id)
            order = session.scalars(stmt_order).unique().one_or_none()
        subjects = {event.subject_id} | ({event.order_id} if event.order_id else set())
        stmt_names = scoped(select(MilestoneEvent.name), MilestoneEvent, store_id).where(
            MilestoneEvent.subject_id.in_(subjects), MilestoneEvent.id != event.id
        )
        recorded = frozenset(session.scalars(stmt_names))
        flows = flow_service.effective_flows(session, store_id=store_id)
        world = cls(store, order, shipment, order.customer if order is not None else None, flows, recorded)
        world._read_return_or_claim(session, store_id, event.subject_id)
        return world

    def _read_return_or_claim(self, session: Session, store_id: int, subject_id: str) -> None:
        """A return's or claim's own rows, read fresh like the order (messaging reads models, never services)."""
        if ids.has_prefix(subject_id, "ret"):
            stmt = scoped(select(ReturnRequest), ReturnRequest, store_id).where(
                ReturnRequest.public_id == subject_id
            )
            self.return_request = session.scalars(stmt).unique().one_or_none()
            if self.return_request is not None and self.return_request.store_credit_id is not None:
                stmt_code = scoped(select(StoreCredit.code), StoreCredit, store_id).where(
                    StoreCredit.id == self.return_request.store_credit_id
                )
                self.credit_code = session.scalars(stmt_code).one_or_none()
        elif ids.has_prefix(subject_id, "clm"):
            stmt_claim = scoped(select(Claim), Claim, store_id).where(Claim.public_id == subject_id)
            self.claim = session.scalars(stmt_claim).unique().one_or_none()

    def situation(
        self, event: MilestoneEvent, step: Step | None, args: dict[str, Any], settings: Settings, now: datetime,
        session: Session,
    ) -> policy.Situation:  # fmt: skip
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
        configured = frozenset(
            k for k in kinds if isinstance(self.route(session, k, settings), routing.Route)
        )
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
            recent_sends=_recent_sends(session, self.store.id, customer, now) if customer is not None else (),
            cap=int(cap) if cap is not None else None,
        )


def _step(world: _World, args: dict[str, Any]) -> Step | None:
    flow = world.flows.get(str(args.get("flow", "")))
    index = int(args.get("step", -1))
    if flow is None or not 0 <= index < len(flow.definition.steps):
        return None
    step = flow.definition.steps[index]
    return step if step.send is not None else None


def _recent_sends(session: Session, store_id: int, customer: Customer, now: datetime) -> list[datetime]:
    stmt = scoped(select(Message.sent_at), Message, store_id).where(
        Message.customer_id == customer.id,
        Message.status.in_([s.value for s in COUNTED]),
        Message.sent_at.is_not(None),
        Message.sent_at > now - policy.DEFAULT_CAP_WINDOW,
    )
    return [clock.ensure_aware(t) for t in session.scalars(stmt) if t is not None]


# --- recording the channel's answer -------------------------------------------------------------------


def _message(session: Session, store_id: int, message_pk: int) -> Message:
    stmt = scoped(select(Message), Message, store_id).where(Message.id == message_pk).with_for_update()
    message = session.scalars(stmt).one_or_none()
    if message is None:
        raise NotFound(f"message {message_pk} not found")
    return message


def mark_sent(session: Session, *, store_id: int, message_pk: int, provider_message_id: str | None) -> bool:
    """Record the channel's acceptance, in one statement; False if the row was no longer ``sending``."""
    now = clock.now()
    stmt = (
        update(Message)
        .where(
            Message.id == message_pk,
            Message.store_id == store_id,
            Message.status == MessageStatus.sending.value,
        )
        .values(status=MessageStatus.sent.value, provider_message_id=provider_message_id, sent_at=now,
                updated_at=now)
    )  # fmt: skip
    result = session.execute(stmt, execution_options={"synchronize_session": False})
    return bool(getattr(result, "rowcount", 0))


def mark_failed(session: Session, *, store_id: int, message_pk: int, reason: str) -> Message:
    message = _message(session, store_id, message_pk)
    if message.status not in FINAL:
        earlier = None if (message.reason or "").startswith("retrying:") else message.reason
        _settle(message, MessageStatus.failed, _join(earlier, reason), clock.now())
        session.flush()
    return message


def note_retry(session: Session, *, store_id: int, message_pk: int, reason: str) -> None:
    """A transient failure: the row stays ``sending`` (the job retries); remember why, for operators."""
    message = _message(session, store_id, message_pk)
    if message.status == MessageStatus.sending:
        message.reason = f"retrying: {reason}"[:2000]
        session.flush()


def fall_back(
    session: Session, *, store_id: int, message_pk: int, args: dict[str, Any], settings: Settings, reason: str
) -> Prepared:
    """The provider refused this kind for good (e.g. an invalid number): try the step's next kind."""
    message = _message(session, store_id, message_pk)
    failed_kind = message.kind or ""
    note = f"{failed_kind} failed: {reason}"
    event = _event(session, store_id, str(args["milestone_event_id"]))
    world = _World.read(session, store_id, event)
    step = _step(world, args)
    kinds = tuple(step.send or ()) if step is not None else ()
    remaining = kinds[kinds.index(failed_kind) + 1 :] if failed_kind in kinds else ()
    if not remaining:
        return _settle(message, MessageStatus.failed, _join(message.reason, note), clock.now())
    situation = world.situation(event, step, args, settings, clock.now(), session)
    chosen = policy.choose_kind(situation.__class__(**{**situation.__dict__, "kinds": remaining}))
    if isinstance(chosen, policy.Suppress):
        return _settle(message, MessageStatus.failed, _join(note, chosen.reason), clock.now())
    message.reason = _join(note, chosen.reason)
    return _start(session, message, world, settings, step, chosen.kind, chosen.to)


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)[:4000]


def customer_of(session: Session, *, store_id: int, order_id: str | None) -> int | None:
    if order_id is None:
        return None
    stmt = scoped(select(Order.customer_id), Order, store_id).where(Order.public_id == order_id)
    return session.scalars(stmt).first()


def record_provider_status(
    session: Session,
    *,
    store_id: int,
    provider_message_id: str,
    status: str,
    occurred_at: datetime,
    error: str | None = None,
) -> Message | None:
    """A provider's delivery receipt (Twilio: delivered, failed, undelivered). Unknown ids return None."""
    stmt = scoped(select(Message), Message, store_id).where(
        Message.provider_message_id == provider_message_id
    )
    message = session.scalars(stmt).first()
    if message is None:
        return None
    now = clock.now()
    if status == "delivered":
        if message.status in (MessageStatus.sending, MessageStatus.sent):
            message.status = MessageStatus.delivered
        message.delivered_at = message.delivered_at or clock.as_utc(occurred_at)
    elif status in ("failed", "undelivered") and message.status != MessageStatus.delivered:
        message.status = MessageStatus.failed
        message.reason = _join(
            message.reason, f"provider reported {status}" + (f": {error}" if error else "")
        )
    message.updated_at = now
    session.flush()
    return message


# --- engagement (signed links resolve the message, and through it the tenant) ---------------------------


def find_by_public_id(session: Session, *, message_id: str) -> Message | None:
    """The message a signed link names (the caller has verified the signature)."""
    return session.scalars(select(Message).where(Message.public_id == message_id)).one_or_none()


def record_open(session: Session, *, message_id: str) -> None:
    message = find_by_public_id(session, message_id=message_id)
    if message is None:
        return
    message.open_count += 1
    message.opened_at = message.opened_at or clock.now()
    session.flush()


def record_click(session: Session, *, message_id: str) -> None:
    message = find_by_public_id(session, message_id=message_id)
    if message is None:
        return
    message.click_count += 1
    now = clock.now()
    message.clicked_at = message.clicked_at or now
    message.opened_at = message.opened_at or now  # a click proves the open (images may be blocked)
    session.flush()


@dataclass(frozen=True)
class Subscription:
    store_id: int
    store_name: str
    kind: str
    recipient: str | None
    subscribed: bool
    frequency: str


def subscription(session: Session, *, message_id: str) -> Subscription | None:
    """What the unsubscribe page shows for the message a signed link names."""
    message = find_by_public_id(session, message_id=message_id)
    if message is None or message.kind is None:
        return None
    store = session.get(Store, message.store_id)
    customer = _customer(session, message)
    consents = {c.channel: c.is_granted for c in customer.consents} if customer is not None else {}
    frequency = (
        str((customer.preferences or {}).get("frequency", "key_moments")) if customer else "key_moments"
    )
    return Subscription(
        message.store_id, store.name if store else "", message.kind, message.recipient,
        consents.get(message.kind, False), frequency,
    )  # fmt: skip


def _customer(session: Session, message: Message) -> Customer | None:
    if message.customer_id is not None:
        return session.get(Customer, message.customer_id)
    customer_id = customer_of(session, store_id=message.store_id, order_id=message.order_id)
    return session.get(Customer, customer_id) if customer_id is not None else None


def unsubscribe(session: Session, *, message_id: str, source: str, frequency: str | None = None) -> bool:
    """Withdraw consent for the message's kind (or only change the frequency); True if the message exists."""
    message = find_by_public_id(session, message_id=message_id)
    if message is None or message.kind is None:
        return False
    customer = _customer(session, message)
    if customer is None:
        return True
    now = clock.now()
    if frequency is not None:
        customer.preferences = {**(customer.preferences or {}), "frequency": frequency}
    else:
        existing = next((c for c in customer.consents if c.channel == message.kind), None)
        if existing is None:
            customer.consents.append(
                Consent(store_id=customer.store_id, channel=message.kind, is_granted=False, source=source,
                        recorded_at=now)
            )  # fmt: skip
        else:
            existing.is_granted, existing.source, existing.recorded_at = False, source, now
    customer.updated_at = now
    session.flush()
    return True


# --- reading ---------------------------------------------------------------------------------------------


def list_messages(
    session: Session,
    *,
    store_id: int,
    status: MessageStatus | None = None,
    subject_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Message], str | None]:
    stmt = scoped(select(Message), Message, store_id)
    if status is not None:
        stmt = stmt.where(Message.status == status.value)
    if subject_id is not None:
        stmt = stmt.where((Message.subject_id == subject_id) | (Message.order_id == subject_id))
    return paginate(session, stmt, Message, limit=limit, cursor=cursor)


@dataclass(frozen=True)
class MilestoneCounts:
    milestone: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    suppressed: int
    failed: int


def notification_counts(
    session: Session, *, store_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[MilestoneCounts]:
    """Per milestone: messages sent (incl. delivered), delivered, opened, clicked, suppressed, failed."""
    sent = Message.status.in_([MessageStatus.sent.value, MessageStatus.delivered.value])

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    stmt = scoped(
        select(
            Message.milestone,
            count(sent),
            count(Message.status == MessageStatus.delivered.value),
            count(sent & Message.opened_at.is_not(None)),
            count(sent & Message.clicked_at.is_not(None)),
            count(Message.status == MessageStatus.suppressed.value),
            count(Message.status == MessageStatus.failed.value),
        ),
        Message,
        store_id,
    ).group_by(Message.milestone)
    if since is not None:
        stmt = stmt.where(Message.created_at >= since)
    if until is not None:
        stmt = stmt.where(Message.created_at < until)
    rows: Sequence[Any] = session.execute(stmt.order_by(Message.milestone)).all()
    return [MilestoneCounts(r[0], *(int(v or 0) for v in r[1:])) for r in rows]
