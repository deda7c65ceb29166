"""Task catalogue: every job kind the worker runs, and the function that runs it (the wiring module).

| kind             | args          | what it does                                                                 |
|------------------|---------------|------------------------------------------------------------------------------|
| `inbound.apply`  | `event_id`    | apply a recorded inbound event (the same code as applying it inline)         |
| `tracking.poll`  | (periodic)    | poll the carriers of every parcel whose next poll is due (every 30 s)        |
| `tracking.sweep` | (periodic)    | flag parcels past their promise or stalled, store by store (every 15 min)    |
| `message.send`   | `milestone_event_id`, `flow`, `step`, `message_key` | decide, render and send one flow step's message (batched) |
| `milestone.published` | `milestone_event_id` | fan out webhook deliveries; push the milestone to Klaviyo if connected |
| `webhook.deliver` | `milestone_event_id`, `endpoint_id` | one signed Standard Webhooks POST, logged; retried with backoff |
| `returns.advance`| (periodic)    | move returns along from their return parcels' scans (every 30 s)             |
| `returns.refunds`| (periodic)    | send refunds queued by resolved returns and claims to the platform (30 s)    |

A handler takes the worker's :class:`Runtime` and the claimed job. Jobs carry ids only: a handler re-reads
fresh state and owns its transactions. Returning means done; raising records the failure on the job and
its attempt, and :mod:`doorstep.jobs.retry` decides whether it runs again. A handler may return its last
write (a :data:`Settle`) instead of committing it: the worker runs it in the transaction that records
the job done, which saves a commit per job.

A :class:`Batched` handler takes up to ``size`` claimed jobs of its kind at once and reports a
:class:`BatchResult`: the failures by job id (every other job is done) and one last write for the lot.
``message.send`` is one: a batch of messages shares its reads, its decision commit and the commit that
records them ``sent`` with the jobs' completion. Adding a kind is a service function plus one line in
:data:`HANDLERS`; tests pass extra kinds to the worker instead of adding them here.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core import clock
from doorstep.db import transaction
from doorstep.inbound import polling
from doorstep.inbound import service as inbound_service
from doorstep.jobs import refunds as refund_sender
from doorstep.jobs.queue import ClaimedJob
from doorstep.jobs.retry import Retryable
from doorstep.messaging import dispatch as message_dispatch
from doorstep.messaging import publish
from doorstep.returns import service as return_service
from doorstep.shipments import service as shipment_service
from doorstep.stores import service as store_service


@dataclass(frozen=True)
class Runtime:
    """What handlers share in one worker process: the session factory, settings and an HTTP client."""

    factory: sessionmaker[Session]
    settings: Settings
    http: httpx.Client


Settle = Callable[[Session], None]
"""A handler's last write, committed by the worker together with the job's completion."""


@dataclass(frozen=True)
class BatchResult:
    """What a batched handler reports: the failed jobs' errors by job id (the others are done) and the
    batch's last write, committed with the done jobs' completion."""

    errors: Mapping[int, Exception] = field(default_factory=dict)
    settle: Settle | None = None


@dataclass(frozen=True)
class Batched:
    """A handler for many jobs of one kind at once (up to ``size``), for kinds that share their reads."""

    run: Callable[["Runtime", Sequence[ClaimedJob]], BatchResult]
    size: int = 64  # measured: 64 sends per batch beat 32 by ~10% (benchmarks/dispatch.py), 16 lose ~15%


Handler = Callable[[Runtime, ClaimedJob], Settle | None] | Batched


def apply_inbound(runtime: Runtime, job: ClaimedJob) -> None:
    """Apply one recorded event. A rejection is recorded on the event itself (replayable), not here."""
    inbound_service.apply(runtime.factory, str(job.args["event_id"]), resolve=inbound_service.handler_for)


def poll_tracking(runtime: Runtime, job: ClaimedJob) -> None:
    secret = runtime.settings.security.secret_key.get_secret_value()
    report = polling.poll_due(runtime.factory, secret=secret, client=runtime.http)
    if report.failed and not report.polled:
        # Each failed batch is already postponed with backoff; record why on the job.
        raise Retryable("; ".join(report.failed)[:1000])


def sweep_tracking(runtime: Runtime, job: ClaimedJob) -> None:
    with transaction(runtime.factory) as session:
        store_ids = [s.id for s in store_service.list_stores(session)]
    now = clock.now()
    for store_id in store_ids:
        with transaction(runtime.factory) as session:
            shipment_service.check_overdue_and_stalled(session, store_id=store_id, now=now)


def send_messages(runtime: Runtime, jobs: Sequence[ClaimedJob]) -> BatchResult:
    outcome = message_dispatch.send_many(
        runtime.factory, settings=runtime.settings, client=runtime.http, jobs=jobs
    )
    return BatchResult(errors=outcome.errors, settle=outcome.settle if outcome.sent else None)


def publish_milestone(runtime: Runtime, job: ClaimedJob) -> None:
    assert job.store_id is not None, "milestone.published jobs belong to a store"
    publish.publish_milestone(
        runtime.factory, http=runtime.http, settings=runtime.settings, store_id=job.store_id,
        milestone_event_id=str(job.args["milestone_event_id"]),
    )  # fmt: skip


def deliver_webhook(runtime: Runtime, job: ClaimedJob) -> None:
    assert job.store_id is not None, "webhook.deliver jobs belong to a store"
    publish.deliver_webhook(
        runtime.factory, http=runtime.http, settings=runtime.settings, store_id=job.store_id,
        milestone_event_id=str(job.args["milestone_event_id"]), endpoint_id=str(job.args["endpoint_id"]),
        attempt=job.attempt, max_attempts=job.max_attempts,
    )  # fmt: skip


def advance_returns(runtime: Runtime, job: ClaimedJob) -> None:
    with transaction(runtime.factory) as session:
        store_ids = [s.id for s in store_service.list_stores(session)]
    for store_id in store_ids:
        with transaction(runtime.factory) as session:
            return_service.advance_from_shipments(session, store_id=store_id)


def send_refunds(runtime: Runtime, job: ClaimedJob) -> None:
    secret = runtime.settings.security.secret_key.get_secret_value()
    # Failures are recorded on each refund (with backoff); the job itself succeeds.
    refund_sender.send_due(runtime.factory, secret=secret, client=runtime.http)


HANDLERS: dict[str, Handler] = {
    "inbound.apply": apply_inbound,
    "tracking.poll": poll_tracking,
    "tracking.sweep": sweep_tracking,
    "message.send": Batched(send_messages),
    "milestone.published": publish_milestone,
    "webhook.deliver": deliver_webhook,
    "returns.advance": advance_returns,
    "returns.refunds": send_refunds,
}
