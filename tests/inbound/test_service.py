"""Record-then-apply, driven directly through inbound.service.submit / replay."""

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.db import transaction
from doorstep.inbound import service as inbound_service
from doorstep.inbound.models import EventStatus, InboundEvent
from doorstep.inbound.service import Submission
from doorstep.inbound.topics import Handler, Result
from doorstep.orders import service as order_service
from doorstep.orders.commands import CreateOrder
from doorstep.web.idempotency import respond
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey

# Odd spacing and a non-ASCII character: the stored copy must be these exact bytes.
ODD_BODY = b'{ "sku" :  "CAF\xc3\x89-1",\n\t"qty": 2 }'


class Calls:
    """A handler that counts its calls and answers like a create endpoint."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        self.bodies.append(body)
        return Result(f"thing-{len(self.bodies)}", 201, {"n": len(self.bodies)}, [])

    def resolve(self, event: InboundEvent) -> Handler:
        return self


def failing_with(error: Exception) -> Callable[[InboundEvent], Handler]:
    def handler(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        raise error

    return lambda event: handler


def submission(store: StoreWithKey, body: bytes = ODD_BODY, **fields: Any) -> Submission:
    return Submission(
        **{"store_id": store.id, "source": "api", "topic": "orders.create", "body": body, **fields}
    )


def stored(factory: sessionmaker[Session], event_id: str) -> InboundEvent:
    with transaction(factory) as session:
        return inbound_service.get_event(session, event_id=event_id)


def all_events(factory: sessionmaker[Session], store: StoreWithKey) -> list[InboundEvent]:
    with transaction(factory) as session:
        stmt = select(InboundEvent).where(InboundEvent.store_id == store.id).order_by(InboundEvent.id)
        return list(session.scalars(stmt))


def order_count(factory: sessionmaker[Session], store: StoreWithKey) -> int:
    with transaction(factory) as session:
        return len(order_service.list_orders(session, store_id=store.id, limit=1000)[0])


def test_the_payload_is_committed_before_it_is_applied(
    factory: sessionmaker[Session], store: StoreWithKey, settings: Settings
) -> None:
    # given a handler that looks at the log from another connection, then refuses the payload
    seen_from_outside: list[tuple[Any, ...]] = []

    def peek_then_refuse(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        outside = create_engine(settings.resolved_database_url)
        try:
            with outside.connect() as connection:
                rows = connection.execute(
                    text("SELECT status, idempotency_key FROM inbound_events WHERE store_id = :s"),
                    {"s": store_id},
                )
                seen_from_outside.extend(tuple(row) for row in rows)
        finally:
            outside.dispose()
        raise Invalid.field("sku", "is not in the catalogue", "send a known SKU")

    # when the payload is submitted
    outcome = inbound_service.submit(
        factory, submission(store, idempotency_key="k-1"), resolve=lambda event: peek_then_refuse
    )

    # then it was already committed as received while being applied
    assert seen_from_outside == [("received", "k-1")]
    # and, refused, it stays recorded as rejected with the reason, the problems and its exact bytes
    assert outcome.status is EventStatus.rejected
    assert outcome.reason == "sku: is not in the catalogue"
    assert isinstance(outcome.error, Invalid)
    event = stored(factory, outcome.event_id)
    assert event.status == "rejected"
    assert event.reason == "sku: is not in the catalogue"
    assert event.problems == [
        {"field": "sku", "message": "is not in the catalogue", "fix": "send a known SKU"}
    ]
    assert event.body == ODD_BODY
    assert event.attempts == 1
    assert event.applied_at is None
    assert event.response_status == 422  # the status the sender was answered with


def test_a_rejected_payload_is_applied_by_replay_after_the_fix(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given a real order payload rejected while its handler was broken
    body = json.dumps(order_body()).encode()
    rejected = inbound_service.submit(
        factory, submission(store, body), resolve=failing_with(NotFound("catalogue not loaded"))
    )
    assert rejected.status is EventStatus.rejected
    assert order_count(factory, store) == 0

    # when it is replayed with the fixed (real) handler
    outcome = inbound_service.replay(factory, rejected.event_id, store_id=store.id)

    # then the kept payload is applied: the order exists, and the event records the answer
    assert outcome.status is EventStatus.applied
    assert outcome.event_id == rejected.event_id
    assert outcome.response_status == 201
    assert outcome.response_body is not None
    assert outcome.milestones == ["order.placed"]
    assert order_count(factory, store) == 1
    event = stored(factory, rejected.event_id)
    assert event.status == "applied"
    assert event.reason is None
    assert event.problems == []
    assert event.attempts == 2
    assert event.applied_at is not None
    assert event.subject == outcome.response_body["id"]


def test_replaying_an_applied_event_does_not_apply_it_again(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    calls = Calls()
    applied = inbound_service.submit(factory, submission(store), resolve=calls.resolve)

    again = inbound_service.replay(factory, applied.event_id, resolve=calls.resolve)

    assert again.status is EventStatus.applied
    assert again.response_body == {"n": 1}
    assert len(calls.bodies) == 1


def test_an_unexpected_error_is_raised_and_the_event_kept_as_rejected(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given a handler that writes an order and then crashes
    def crash(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        order_service.create_order(session, store_id=store_id, cmd=CreateOrder.model_validate(order_body()))
        raise RuntimeError("disk on fire")

    # when the payload is submitted, the error reaches the caller
    with pytest.raises(RuntimeError, match="disk on fire"):
        inbound_service.submit(factory, submission(store), resolve=lambda event: crash)

    # then the half-done apply was rolled back, and the payload is kept as rejected with the reason
    assert order_count(factory, store) == 0
    [event] = all_events(factory, store)
    assert event.status == "rejected"
    assert event.reason == "internal error while applying: RuntimeError: disk on fire"
    assert event.body == ODD_BODY
    assert event.attempts == 1


def test_webhook_redeliveries_are_duplicates_by_content(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given a source that dedupes by payload hash (no idempotency key)
    calls = Calls()
    hook = submission(store, source="carrier-x", topic="tracking.update", dedupe_by_hash=True)

    # when the same body arrives twice, then a different one
    first = inbound_service.submit(factory, hook, resolve=calls.resolve)
    again = inbound_service.submit(factory, hook, resolve=calls.resolve)
    other = inbound_service.submit(
        factory, submission(store, b'{"other": 1}', source="carrier-x", topic="tracking.update", dedupe_by_hash=True),
        resolve=calls.resolve,
    )  # fmt: skip

    # then the repeat is recorded as a duplicate of the first and answered with its outcome, not applied
    assert first.status is EventStatus.applied
    assert again.status is EventStatus.duplicate
    assert (again.response_status, again.response_body) == (201, {"n": 1})
    assert other.status is EventStatus.applied
    assert calls.bodies == [ODD_BODY, b'{"other": 1}']
    rows = {e.public_id: e for e in all_events(factory, store)}
    assert rows[again.event_id].status == "duplicate"
    assert rows[again.event_id].duplicate_of_id == rows[first.event_id].id
    assert rows[again.event_id].body == ODD_BODY
    assert rows[other.event_id].duplicate_of_id is None


def test_a_webhook_redelivery_of_a_rejected_payload_applies_it_again(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    hook = submission(store, source="carrier-x", topic="tracking.update", dedupe_by_hash=True)
    rejected = inbound_service.submit(factory, hook, resolve=failing_with(NotFound("unknown parcel")))
    calls = Calls()

    redelivered = inbound_service.submit(factory, hook, resolve=calls.resolve)

    assert rejected.status is EventStatus.rejected
    assert redelivered.status is EventStatus.applied
    assert redelivered.event_id == rejected.event_id
    assert len(calls.bodies) == 1
    assert [e.status for e in all_events(factory, store)] == ["applied"]


def test_api_payloads_without_a_key_are_never_deduped_by_content(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    calls = Calls()

    first = inbound_service.submit(factory, submission(store), resolve=calls.resolve)
    second = inbound_service.submit(factory, submission(store), resolve=calls.resolve)

    assert (first.status, second.status) == (EventStatus.applied, EventStatus.applied)
    assert first.event_id != second.event_id
    assert len(calls.bodies) == 2
    keys = [e.idempotency_key for e in all_events(factory, store)]
    assert all(k.startswith("auto:evt_") for k in keys)
    assert len(set(keys)) == 2


def test_an_api_key_repeat_is_a_duplicate_and_another_body_a_conflict(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    calls = Calls()
    first = inbound_service.submit(factory, submission(store, idempotency_key="k-1"), resolve=calls.resolve)

    again = inbound_service.submit(factory, submission(store, idempotency_key="k-1"), resolve=calls.resolve)
    with pytest.raises(Conflict):
        inbound_service.submit(
            factory, submission(store, b"{}", idempotency_key="k-1"), resolve=calls.resolve
        )

    assert again.status is EventStatus.duplicate
    assert again.response_body == first.response_body == {"n": 1}
    assert len(calls.bodies) == 1
    rows = all_events(factory, store)
    assert [(e.status, e.duplicate_of_id) for e in rows] == [("applied", None), ("duplicate", rows[0].id)]


def test_a_duplicate_cannot_be_replayed(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    calls = Calls()
    inbound_service.submit(factory, submission(store, idempotency_key="k-1"), resolve=calls.resolve)
    duplicate = inbound_service.submit(
        factory, submission(store, idempotency_key="k-1"), resolve=calls.resolve
    )

    with pytest.raises(Conflict, match="is a duplicate"):
        inbound_service.replay(factory, duplicate.event_id, resolve=calls.resolve)
    assert len(calls.bodies) == 1


def test_replay_is_scoped_to_the_store(
    factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    rejected = inbound_service.submit(factory, submission(store), resolve=failing_with(NotFound("x")))

    with pytest.raises(NotFound):
        inbound_service.replay(factory, rejected.event_id, store_id=other_store.id)
    assert stored(factory, rejected.event_id).attempts == 1


def test_a_request_waiting_for_its_in_flight_twin_is_recorded_once(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given a first request whose apply takes a moment
    entered, calls = threading.Event(), Calls()

    def slow(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        entered.set()
        threading.Event().wait(0.2)
        return calls(session, store_id, body, params)

    first: list[inbound_service.Outcome] = []
    worker = threading.Thread(
        target=lambda: first.append(
            inbound_service.submit(factory, submission(store, idempotency_key="k-1"), resolve=lambda e: slow)
        )
    )
    worker.start()
    assert entered.wait(timeout=10)

    # when its twin arrives meanwhile and waits for the answer
    second = inbound_service.submit(factory, submission(store, idempotency_key="k-1"), resolve=calls.resolve)
    worker.join(timeout=10)

    # then both get the one answer, and the log holds one applied row and one duplicate row
    assert second.status is EventStatus.duplicate
    assert second.response_body == first[0].response_body == {"n": 1}
    assert len(calls.bodies) == 1
    assert sorted(e.status for e in all_events(factory, store)) == ["applied", "duplicate"]


class Crash(BaseException):
    """Stands in for the process dying mid-apply: nothing in submit() catches it."""


def test_a_waiter_gets_the_same_answer_as_its_twin_when_the_twin_is_rejected(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given a first request left in flight (recorded as received, its apply not finished)
    def crash(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
        raise Crash

    with pytest.raises(Crash):
        inbound_service.submit(factory, submission(store, idempotency_key="k-1"), resolve=lambda e: crash)
    [first] = all_events(factory, store)
    assert first.status == "received"

    # and its retry waiting for the answer
    waited: list[inbound_service.Outcome] = []
    waiter = threading.Thread(
        target=lambda: waited.append(
            inbound_service.submit(factory, submission(store, idempotency_key="k-1"), wait_seconds=5)
        )
    )
    waiter.start()
    for _ in range(200):
        if len(all_events(factory, store)) == 2:
            break
        threading.Event().wait(0.01)

    # when the first one's apply ends in a 404 (replayed here, as the first process would finish it)
    refused = inbound_service.replay(
        factory, first.public_id, resolve=failing_with(NotFound("no such order"))
    )
    waiter.join(timeout=10)

    # then the waiter is answered exactly as the first request was
    assert refused.status is EventStatus.rejected
    [second] = waited
    assert second.status is EventStatus.rejected
    assert respond(second, "/x").status_code == respond(refused, "/x").status_code == 404
    assert respond(second, "/x").body == respond(refused, "/x").body
