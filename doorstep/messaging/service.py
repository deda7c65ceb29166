"""Messages: decide at send time with fresh state, record every decision, and settle what providers say.

The database half of a send (``doorstep.messaging.dispatch`` owns the transactions and the channel call):

- :func:`prepare_many` claims the message rows by their unique keys (the exactly-once guard), reads the
  situation fresh (:mod:`doorstep.messaging.world`, once for the batch), runs
  :func:`doorstep.messaging.policy.decide` per message, and either settles the row (``suppressed`` with
  the reason; ``deferred`` with a follow-up job at the time) or marks it ``sending`` and returns a
  :class:`~doorstep.messaging.draft.Draft` (rendered later, outside the transaction);
- :func:`mark_sent_many`, :func:`fall_back` (a provider refused this kind: try the next),
  :func:`mark_failed` and :func:`record_override_failure` record the channel's answer and the render's;
- :func:`record_provider_status` applies delivery receipts (Twilio status callbacks), and the engagement
  functions count opens, clicks and unsubscribes from signed links.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from doorstep.config import Settings
from doorstep.core import clock, ids
from doorstep.core.errors import NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.customers.models import Consent, Customer
from doorstep.db import one_of
from doorstep.flows import service as flow_service
from doorstep.flows.models import MilestoneEvent
from doorstep.flows.schemas import Step
from doorstep.integrations.channels.protocol import Kind
from doorstep.jobs import queue
from doorstep.message_templates import service as template_service
from doorstep.messaging import compose, policy, render, routing, world
from doorstep.messaging.draft import Draft
from doorstep.messaging.models import FINAL, Message, MessageStatus
from doorstep.orders.models import Order
from doorstep.stores.models import Store


@dataclass(frozen=True)
class Settled:
    """Nothing to send now: the row's status and reason say why."""

    status: str
    reason: str | None


Prepared = Draft | Settled


# --- deciding ----------------------------------------------------------------------------------------


def prepare_many(
    session: Session, *, store_id: int, batch: Sequence[dict[str, Any]], settings: Settings
) -> list[Prepared]:
    """Decide a batch of one store's send steps (one per job's args, distinct message keys), in order.

    The same decision as for one message, with the reads done once for the batch (:mod:`world`) and
    the rows written in one flush at the end: a batch costs a dozen queries, however many it holds.
    Nothing is rendered here: each :class:`Draft` carries its template context, built from these rows.
    """
    now = clock.now()
    keys = [str(args.get("message_key") or "") for args in batch]
    if len(set(keys)) != len(keys):
        raise ValueError("a batch holds each message key once")
    found = world.events(session, store_id, [str(args["milestone_event_id"]) for args in batch])
    events = [found[str(args["milestone_event_id"])] for args in batch]
    # The reads below need none of the rows' pending changes: everything is written once, at the end.
    with session.no_autoflush:
        rows = _claim_rows(session, store_id, keys, events, [str(a.get("flow", "")) for a in batch], now)
        common = world.shared(session, store_id, settings)
        open_events = [e for e, key in zip(events, keys, strict=True) if rows[key].status not in FINAL]
        worlds = world.read(session, common, open_events, now) if open_events else {}
        prepared = [
            _decide(session, rows[key], event, worlds.get(event.id), args, settings, now)
            for key, event, args in zip(keys, events, batch, strict=True)
        ]
    session.flush()
    return prepared


def _decide(
    session: Session,
    message: Message,
    event: MilestoneEvent,
    here: world.World | None,
    args: dict[str, Any],
    settings: Settings,
    now: datetime,
) -> Prepared:
    if message.status in FINAL or here is None:
        return Settled(message.status, message.reason)
    if message.status == MessageStatus.sending and message.kind is not None:
        # A crash after the decision (maybe after the provider took it): send again with the same message
        # id, which devbox and providers with idempotency keys use to store it once.
        return _draft(message, here, settings, here.step(args), message.kind)
    if here.shipment is not None and here.shipment.direction == "return":
        # The parcel carries a return back to the store: the shopper hears through the return's messages
        # (return.in_transit, return.received), never "your order was delivered".
        return _settle(message, MessageStatus.suppressed, "a return parcel: told by the return's flows", now)
    step = here.step(args)
    decision = policy.decide(here.situation(event, step, args, now))
    message.decided_at = now
    if isinstance(decision, policy.Suppress):
        return _settle(message, MessageStatus.suppressed, decision.reason, now)
    if isinstance(decision, policy.Defer):
        message.deferred_until = decision.until
        queue.enqueue(
            session, kind=flow_service.SEND_KIND, key=f"{message.key}@{decision.until:%Y%m%dT%H%M%S}",
            store_id=message.store_id, run_at=decision.until,
            max_attempts=flow_service.SEND_MAX_ATTEMPTS, args=dict(args),
        )  # fmt: skip
        reason = f"{decision.reason}: until {decision.until.isoformat()}"
        return _settle(message, MessageStatus.deferred, reason, now)
    message.reason = decision.reason
    prepared = _start(message, here, settings, step, decision.kind, decision.to)
    if isinstance(prepared, Draft):
        here.note_send(now)
    return prepared


def _start(
    message: Message,
    here: world.World,
    settings: Settings,
    step: Step | None,
    kind: str,
    to: str,
) -> Prepared:
    message.kind, message.recipient, message.status = kind, to, MessageStatus.sending
    message.customer_id = here.customer.id if here.customer is not None else None
    message.locale = here.locale
    message.deferred_until = None
    return _draft(message, here, settings, step, kind)


def _draft(message: Message, here: world.World, settings: Settings, step: Step | None, kind: str) -> Prepared:
    """The message as a :class:`Draft`: its channel and its template context, from the rows read now."""
    route = here.route(kind)
    if isinstance(route, routing.NoRoute):
        return _settle(message, MessageStatus.suppressed, f"{kind}: {route.reason}", clock.now())
    remedy = (step.remedy.code, step.remedy.description) if step is not None and step.remedy else None
    context = compose.build(
        store=here.store, order=here.order, shipment=here.shipment, customer=here.customer,
        locale=here.locale,
        addressing=compose.Addressing(
            settings.base_url, settings.security.secret_key.get_secret_value(), message.public_id, kind
        ),
        remedy=remedy, return_request=here.return_request, credit_code=here.credit_code, claim=here.claim,
    )  # fmt: skip
    message.channel = route.name
    message.attempts += 1
    return Draft(
        message_pk=message.id, message_id=message.public_id, store_id=message.store_id, kind=Kind(kind),
        to=message.recipient or "", template=(step.template if step is not None else None) or message.milestone,
        locale=here.locale, context=context, route=route, overrides=here.shared.overrides(),
        metadata={"milestone": message.milestone, "subject_id": message.subject_id, "order_id": message.order_id,
                  "flow": message.flow},
    )  # fmt: skip


def _settle(message: Message, status: MessageStatus, reason: str | None, now: datetime) -> Settled:
    message.status = status
    message.reason = reason
    message.updated_at = now
    return Settled(status, reason)


# PostgreSQL: the batch's rows as arrays, so the statement's text is the same for every batch. The ORM's
# multi-row INSERT … VALUES has a placeholder per value; its text changes with the batch size and is too
# long for psycopg's query cache, so psycopg parsed it again for every batch: a fifth of the worker's CPU.
_CLAIM_ARRAYS = ("public_id", "key", "milestone_event_id", "milestone", "subject_id", "order_id", "flow")
_CLAIM_PG = text(
    "INSERT INTO messages (public_id, key, milestone_event_id, milestone, subject_id, order_id, flow,"
    " store_id, status, attempts, open_count, click_count, created_at, updated_at)"
    " SELECT v.public_id, v.key, v.milestone_event_id, v.milestone, v.subject_id, v.order_id, v.flow,"
    " :store_id, :status, 0, 0, 0, :now, :now"
    " FROM unnest(CAST(:public_id AS varchar[]), CAST(:key AS varchar[]), CAST(:milestone_event_id AS integer[]),"
    " CAST(:milestone AS varchar[]), CAST(:subject_id AS varchar[]), CAST(:order_id AS varchar[]),"
    " CAST(:flow AS varchar[])) WITH ORDINALITY"
    " AS v(public_id, key, milestone_event_id, milestone, subject_id, order_id, flow, n)"
    " ORDER BY v.n ON CONFLICT (store_id, key) DO NOTHING RETURNING messages.*"
)


def _insert_claims_pg(
    session: Session, store_id: int, values: Sequence[dict[str, Any]], now: datetime
) -> Sequence[Message]:
    """:data:`_CLAIM_PG` loaded as ORM rows: the rows it returns are the ones it wrote, for ``store_id``."""
    columns = {name: [row[name] for row in values] for name in _CLAIM_ARRAYS}
    params = {**columns, "store_id": store_id, "status": MessageStatus.deciding.value, "now": now}
    return session.scalars(select(Message).from_statement(_CLAIM_PG), params).all()


def _claim_rows(
    session: Session,
    store_id: int,
    keys: Sequence[str],
    events: Sequence[MilestoneEvent],
    flows: Sequence[str],
    now: datetime,
) -> dict[str, Message]:
    """The message rows for ``keys``, created once (concurrent twins meet on the unique key), locked.

    Rows are inserted in key order, so two transactions claiming overlapping keys wait on each other in
    the same order and never deadlock.
    """
    values = sorted(
        (
            {
                "public_id": ids.new_id("msg"),
                "store_id": store_id,
                "key": key,
                "milestone_event_id": event.id,
                "milestone": event.name,
                "subject_id": event.subject_id,
                "order_id": event.order_id,
                "flow": flow,
                "status": MessageStatus.deciding.value,
                "attempts": 0,
                "open_count": 0,
                "click_count": 0,
                "created_at": now,
                "updated_at": now,
            }
            for key, event, flow in zip(keys, events, flows, strict=True)
        ),
        key=lambda row: str(row["key"]),
    )
    # The first run creates a row and holds it (uncommitted, so a twin waits on the unique key); a later
    # run finds it and locks it.
    if session.get_bind().dialect.name == "postgresql":
        created = _insert_claims_pg(session, store_id, values, now)
    else:
        created = session.scalars(
            sqlite.insert(Message).on_conflict_do_nothing().returning(Message), values
        ).all()
    rows = {message.key: message for message in created}
    existing = sorted(set(keys) - set(rows))
    if existing:
        stmt = (
            scoped(select(Message), Message, store_id)
            .where(one_of(session, Message.key, existing))
            .with_for_update()
        )
        rows.update((message.key, message) for message in session.scalars(stmt))
    return rows


# --- recording the channel's answer -------------------------------------------------------------------


def _message(session: Session, store_id: int, message_pk: int) -> Message:
    stmt = scoped(select(Message), Message, store_id).where(Message.id == message_pk).with_for_update()
    message = session.scalars(stmt).one_or_none()
    if message is None:
        raise NotFound(f"message {message_pk} not found")
    return message


@dataclass(frozen=True)
class SentRow:
    """A message the channel accepted, to be recorded ``sent``."""

    store_id: int
    message_pk: int
    provider_message_id: str | None
    subject: str | None  # what was rendered (e-mail): recorded with ``sent``


_messages = cast(Table, Message.__table__)
_MARK_SENT = (
    update(_messages)
    .where(
        and_(
            _messages.c.id == bindparam("b_id"),
            _messages.c.store_id == bindparam("b_store_id"),
            _messages.c.status == MessageStatus.sending.value,
        )
    )
    .values(status=MessageStatus.sent.value, provider_message_id=bindparam("b_provider"),
            subject=bindparam("b_subject"), sent_at=bindparam("b_now"), updated_at=bindparam("b_now"))
)  # fmt: skip


# PostgreSQL: one statement per store and batch, joined on the primary key. (A row per statement, as
# executemany sends them, let the generic plan of a table not yet analyzed pick ix_messages_store_id and
# filter every message of the store, for each row: a millisecond each, most of the database's work.)
_MARK_SENT_PG = text(
    "UPDATE messages SET status = :sent, provider_message_id = v.provider, subject = v.subject,"
    " sent_at = :now, updated_at = :now"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:providers AS varchar[]), CAST(:subjects AS varchar[]))"
    " AS v(id, provider, subject)"
    " WHERE messages.id = v.id AND messages.store_id = :store_id AND messages.status = :sending"
)


def mark_sent_many(session: Session, *, rows: Sequence[SentRow]) -> None:
    """Record the channel's acceptance of a batch (rows no longer ``sending`` stay as they are)."""
    if not rows:
        return
    now = clock.now()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        by_store: dict[int, list[SentRow]] = {}
        for row in rows:
            by_store.setdefault(row.store_id, []).append(row)
        for store_id, group in by_store.items():
            connection.execute(
                _MARK_SENT_PG,
                {
                    "ids": [r.message_pk for r in group], "providers": [r.provider_message_id for r in group],
                    "subjects": [r.subject for r in group],
                    "store_id": store_id, "now": now, "sent": MessageStatus.sent.value,
                    "sending": MessageStatus.sending.value,
                },
            )  # fmt: skip
        return
    connection.execute(
        _MARK_SENT,
        [
            {
                "b_id": r.message_pk,
                "b_store_id": r.store_id,
                "b_provider": r.provider_message_id,
                "b_subject": r.subject,
                "b_now": now,
            }
            for r in rows
        ],
    )


def mark_failed(
    session: Session, *, store_id: int, message_pk: int, reason: str, subject: str | None
) -> Message:
    """The send failed for good; ``subject`` is what was rendered (e-mail), kept for operators."""
    message = _message(session, store_id, message_pk)
    if message.status not in FINAL:
        message.subject = subject
        earlier = None if (message.reason or "").startswith("retrying:") else message.reason
        _settle(message, MessageStatus.failed, _join(earlier, reason), clock.now())
        session.flush()
    return message


def record_unwritten(session: Session, *, store_id: int, message_pk: int, reason: str) -> None:
    """No template could render a decided message (:func:`doorstep.messaging.draft.write`): it failed."""
    message = _message(session, store_id, message_pk)
    if message.status == MessageStatus.sending:
        _settle(message, MessageStatus.failed, reason, clock.now())
        session.flush()


def record_override_failure(session: Session, *, store_id: int, failed: render.OverrideFailed) -> None:
    """A store's override failed at send time (the default went out): keep why on the override."""
    template_service.record_failure(session, store_id=store_id, origin=failed.origin, reason=failed.reason)


def note_retry(session: Session, *, store_id: int, message_pk: int, reason: str, subject: str | None) -> None:
    """A transient failure: the row stays ``sending`` (the job retries); remember why and what was
    rendered (``subject``), for operators."""
    message = _message(session, store_id, message_pk)
    if message.status == MessageStatus.sending:
        message.subject = subject
        message.reason = f"retrying: {reason}"[:2000]
        session.flush()


def fall_back(
    session: Session, *, store_id: int, message_pk: int, args: dict[str, Any], settings: Settings, reason: str
) -> Prepared:
    """The provider refused this kind for good (e.g. an invalid number): try the step's next kind."""
    message = _message(session, store_id, message_pk)
    failed_kind = message.kind or ""
    note = f"{failed_kind} failed: {reason}"
    now = clock.now()
    event = world.events(session, store_id, [str(args["milestone_event_id"])])[
        str(args["milestone_event_id"])
    ]
    with session.no_autoflush:
        here = world.read(session, world.shared(session, store_id, settings), [event], now)[event.id]
        step = here.step(args)
        kinds = tuple(step.send or ()) if step is not None else ()
        remaining = kinds[kinds.index(failed_kind) + 1 :] if failed_kind in kinds else ()
        if not remaining:
            return _settle(message, MessageStatus.failed, _join(message.reason, note), now)
        situation = here.situation(event, step, args, now)
        chosen = policy.choose_kind(dataclasses.replace(situation, kinds=remaining))
        if isinstance(chosen, policy.Suppress):
            return _settle(message, MessageStatus.failed, _join(note, chosen.reason), now)
        message.reason = _join(note, chosen.reason)
        prepared = _start(message, here, settings, step, chosen.kind, chosen.to)
    session.flush()
    return prepared


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
