"""Record-then-apply: the one ingestion path every source uses.

verify (by the caller's adapter) → record raw, committed first → parse → apply in one transaction →
return milestones. A payload that cannot be applied stays recorded as ``rejected`` with its reason and
can be replayed. Duplicates (same idempotency key, or same payload hash for sources that dedupe by
content) are recorded as ``duplicate`` and answered with the original outcome, never re-applied.

This module owns its transactions (it is the inbound entry point), so it takes a session factory.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import clock, ids, metrics
from doorstep.core.errors import Conflict, DoorstepError, FieldProblem, NotFound, error_for_status
from doorstep.core.hashing import sha256_hex
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.db import transaction
from doorstep.inbound.models import EventStatus, InboundEvent
from doorstep.inbound.topics import API_TOPICS, Handler, Result

# Headers worth keeping for debugging and re-verification (signatures are HMACs of the body, not
# secrets); credentials such as Authorization or a shared token are never stored.
_KEPT_HEADERS = frozenset(
    {
        "content-type", "user-agent", "idempotency-key", "x-hmac-signature", "aftership-hmac-sha256",
        "sign", "shopify-hmac-sha256", "webhook-id", "webhook-timestamp", "webhook-signature",
        "x-twilio-signature", "i-twilio-idempotency-token",
    }
)  # fmt: skip
_KEPT_PREFIXES = ("x-shopify-",)
UNVERIFIED = "unverified:"


def _kept(headers: dict[str, str]) -> dict[str, str]:
    return {
        k.lower(): v
        for k, v in headers.items()
        if k.lower() in _KEPT_HEADERS or k.lower().startswith(_KEPT_PREFIXES)
    }


@dataclass(frozen=True)
class Outcome:
    event_id: str
    status: EventStatus
    response_status: int | None
    response_body: dict[str, Any] | None
    reason: str | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    milestones: list[str] = field(default_factory=list)
    error: DoorstepError | None = None


@dataclass(frozen=True)
class Submission:
    store_id: int
    source: str
    topic: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    # Webhook sources treat an identical body as a re-delivery; the API relies on Idempotency-Key only.
    dedupe_by_hash: bool = False


def handler_for(event: InboundEvent) -> Handler:
    if event.idempotency_key.startswith(UNVERIFIED):
        raise Conflict("this payload failed signature verification and is never applied")
    if event.source == "api":
        if event.topic not in API_TOPICS:
            raise NotFound(f"no handler for API topic {event.topic!r}")
        return API_TOPICS[event.topic]
    from doorstep.inbound import webhooks  # webhooks builds on this module

    return webhooks.resolve(event)


def submit(
    factory: sessionmaker[Session],
    sub: Submission,
    *,
    wait_seconds: float = 5.0,
    resolve: Callable[[InboundEvent], Handler] = handler_for,
) -> Outcome:
    """Record the payload (committed), then apply it unless it is a duplicate; return what happened."""
    payload_hash = sha256_hex(sub.body)
    key = sub.idempotency_key or (
        f"sha256:{payload_hash}" if sub.dedupe_by_hash else f"auto:{ids.new_id('evt')}"
    )
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            event_id, earlier = _record(factory, sub, key, payload_hash)
            break
        except IntegrityError:
            # A concurrent twin recorded first; look again and record ours as its duplicate.
            if time.monotonic() > deadline:
                raise
            continue
    if earlier is None or earlier.status == EventStatus.rejected:
        return apply(factory, earlier.event_id if earlier else event_id, resolve=resolve)
    # Ours is recorded as a duplicate. Answer with the twin's outcome, waiting while it is being applied
    # (API callers must get the same answer; webhook senders only need an acknowledgement).
    while earlier.status == EventStatus.received and sub.source == "api":
        if time.monotonic() > deadline:
            raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly")
        time.sleep(0.05)
        with transaction(factory) as session:
            earlier = _outcome(get_event(session, event_id=earlier.event_id))
    metrics.INBOUND_EVENTS.labels(sub.source, EventStatus.duplicate.value).inc()
    if earlier.status == EventStatus.rejected:
        error = error_for_status(
            earlier.response_status or 422, earlier.reason or "rejected", earlier.problems
        )
        return Outcome(
            event_id, EventStatus.rejected, None, None, earlier.reason, earlier.problems, error=error
        )
    return Outcome(event_id, EventStatus.duplicate, earlier.response_status, earlier.response_body)


def record_rejected(factory: sessionmaker[Session], sub: Submission, reason: str) -> str:
    """Keep a payload that failed verification, with why; it is never applied."""
    with transaction(factory) as session:
        event = InboundEvent(
            public_id=ids.new_id("evt"),
            store_id=sub.store_id,
            source=sub.source,
            topic=sub.topic,
            # Unverified bodies never claim the idempotency key a genuine delivery will use.
            idempotency_key=f"{UNVERIFIED}{ids.new_id('evt')}",
            payload_hash=sha256_hex(sub.body),
            body=sub.body,
            headers=_kept(sub.headers),
            params=sub.params,
            received_at=clock.now(),
            status=EventStatus.rejected.value,
            reason=reason,
            attempts=0,
        )
        session.add(event)
        session.flush()
        metrics.INBOUND_EVENTS.labels(sub.source, "unverified").inc()
        return event.public_id


def _record(
    factory: sessionmaker[Session], sub: Submission, key: str, payload_hash: str
) -> tuple[str, Outcome | None]:
    """Store the raw payload. Returns its id and, for a repeat, the earlier live event's outcome."""
    with transaction(factory) as session:
        earlier = _live_twin(session, sub, key, payload_hash)
        if (
            earlier is not None
            and sub.source == "api"
            and (
                earlier.payload_hash != payload_hash
                or earlier.topic != sub.topic
                or earlier.params != sub.params
            )
        ):
            raise Conflict(
                "this Idempotency-Key was already used for a different request (another body or resource); "
                "send a new key for a new request, or resend the original request unchanged"
            )
        if earlier is not None and earlier.status == EventStatus.rejected:
            return earlier.public_id, _outcome(earlier)  # a retry: apply the recorded payload again
        event = InboundEvent(
            public_id=ids.new_id("evt"),
            store_id=sub.store_id,
            source=sub.source,
            topic=sub.topic,
            idempotency_key=key,
            payload_hash=payload_hash,
            body=sub.body,
            headers=_kept(sub.headers),
            params=sub.params,
            received_at=clock.now(),
            status=(EventStatus.duplicate if earlier else EventStatus.received).value,
            duplicate_of_id=earlier.id if earlier else None,
        )
        session.add(event)
        session.flush()
        return event.public_id, _outcome(earlier) if earlier else None


def _live_twin(session: Session, sub: Submission, key: str, payload_hash: str) -> InboundEvent | None:
    base = scoped(select(InboundEvent), InboundEvent, sub.store_id).where(
        InboundEvent.source == sub.source, InboundEvent.status != EventStatus.duplicate.value
    )
    twin = session.scalars(base.where(InboundEvent.idempotency_key == key)).first()
    if twin is None and sub.dedupe_by_hash:
        twin = session.scalars(base.where(InboundEvent.payload_hash == payload_hash)).first()
    return twin


def _outcome(event: InboundEvent) -> Outcome:
    return Outcome(
        event_id=event.public_id,
        status=EventStatus(event.status),
        response_status=event.response_status,
        response_body=event.response_body,
        reason=event.reason,
        problems=[FieldProblem(**p) for p in event.problems],
        milestones=list(event.milestones),
    )


def apply(
    factory: sessionmaker[Session], event_id: str, *, resolve: Callable[[InboundEvent], Handler] = handler_for
) -> Outcome:
    """Apply one recorded event in its own transaction; on failure keep it as rejected with the reason."""
    try:
        with transaction(factory) as session:
            event = _get_locked(session, event_id)
            if event.status == EventStatus.applied:
                return _outcome(event)
            result: Result = resolve(event)(session, event.store_id, event.body, dict(event.params))
            event.status = EventStatus.applied.value
            event.applied_at = clock.now()
            event.attempts += 1
            event.reason = None
            event.problems = []
            event.subject = result.subject
            event.milestones = result.milestones
            event.response_status = result.status_code
            event.response_body = result.body
            session.flush()
            metrics.INBOUND_EVENTS.labels(event.source, EventStatus.applied.value).inc()
            return _outcome(event)
    except DoorstepError as exc:
        return _reject(factory, event_id, exc.detail, exc.problems, exc)
    except Exception as exc:
        # Not the sender's fault, but still never lost: kept as rejected, replayable after a fix.
        # Only the first line: database errors go on with the SQL and its parameters (shoppers' data).
        summary = str(exc).splitlines()[0][:300] if str(exc) else ""
        _reject(
            factory, event_id, f"internal error while applying: {type(exc).__name__}: {summary}", [], None
        )
        raise


def _reject(
    factory: sessionmaker[Session],
    event_id: str,
    reason: str,
    problems: list[FieldProblem],
    error: DoorstepError | None,
) -> Outcome:
    with transaction(factory) as session:
        event = _get_locked(session, event_id)
        event.status = EventStatus.rejected.value
        event.response_status = error.status if error else 500
        event.reason = reason[:4000]
        event.problems = [p.__dict__ for p in problems]
        event.attempts += 1
        session.flush()
        metrics.INBOUND_EVENTS.labels(event.source, EventStatus.rejected.value).inc()
        outcome = _outcome(event)
    return Outcome(**{**outcome.__dict__, "error": error})


def _get_locked(session: Session, event_id: str) -> InboundEvent:
    stmt = select(InboundEvent).where(InboundEvent.public_id == event_id).with_for_update()
    event = session.scalars(stmt).one_or_none()
    if event is None:
        raise NotFound(f"inbound event {event_id} not found")
    return event


def replay(
    factory: sessionmaker[Session],
    event_id: str,
    *,
    store_id: int | None = None,
    resolve: Callable[[InboundEvent], Handler] = handler_for,
) -> Outcome:
    """Apply a rejected (or stuck) event again, e.g. after a fix. Applied events are left alone."""
    with transaction(factory) as session:
        event = get_event(session, event_id=event_id, store_id=store_id)
        if event.status == EventStatus.duplicate:
            raise Conflict(f"{event_id} is a duplicate; replay the event it duplicates instead")
        if event.idempotency_key.startswith(UNVERIFIED):
            raise Conflict(f"{event_id} failed signature verification and is never applied")
    return apply(factory, event_id, resolve=resolve)


def get_event(session: Session, *, event_id: str, store_id: int | None = None) -> InboundEvent:
    stmt = select(InboundEvent).where(InboundEvent.public_id == event_id)
    if store_id is not None:
        stmt = scoped(stmt, InboundEvent, store_id)
    event = session.scalars(stmt).one_or_none()
    if event is None:
        raise NotFound(f"inbound event {event_id} not found")
    return event


def list_events(
    session: Session,
    *,
    store_id: int | None = None,
    status: EventStatus | None = None,
    source: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[InboundEvent], str | None]:
    stmt = select(InboundEvent)
    if store_id is not None:
        stmt = scoped(stmt, InboundEvent, store_id)
    if status is not None:
        stmt = stmt.where(InboundEvent.status == status.value)
    if source is not None:
        stmt = stmt.where(InboundEvent.source == source)
    return paginate(session, stmt, InboundEvent, limit=limit, cursor=cursor)


def rejected_ids(session: Session, *, store_id: int | None = None) -> list[str]:
    stmt = select(InboundEvent.public_id).where(
        InboundEvent.status == EventStatus.rejected.value,
        InboundEvent.idempotency_key.not_like(f"{UNVERIFIED}%"),
    )
    if store_id is not None:
        stmt = scoped(stmt, InboundEvent, store_id)
    return list(session.scalars(stmt.order_by(InboundEvent.received_at, InboundEvent.id)))
