"""Periodic jobs: name, cadence and handler, one line each.

Every cadence is cut into slots aligned on the epoch (a 30 s job has slots at :00 and :30). A worker
inserts the current slot as a job keyed ``periodic:<name>:<slot start>``; a unique index on periodic
keys makes the insert a no-op for every other worker, so each slot runs once however many workers
there are. Missed slots (no worker running) are not caught up: the next slot does the work. Slots of
one periodic job share a lock, so a slow run never overlaps the next one.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from doorstep.jobs import handlers, queue
from doorstep.jobs.handlers import Handler

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Periodic:
    name: str  # also the job kind
    every: timedelta
    handler: Handler
    max_attempts: int = 3


PERIODIC: tuple[Periodic, ...] = (
    Periodic("tracking.poll", timedelta(seconds=30), handlers.poll_tracking),
    Periodic("tracking.sweep", timedelta(minutes=15), handlers.sweep_tracking),
    Periodic("returns.advance", timedelta(seconds=30), handlers.advance_returns),
    Periodic("returns.refunds", timedelta(seconds=30), handlers.send_refunds),
)


def slot_start(every: timedelta, now: datetime) -> datetime:
    return EPOCH + every * ((now - EPOCH) // every)


def slot_key(name: str, start: datetime) -> str:
    return f"periodic:{name}:{start:%Y-%m-%dT%H:%M:%SZ}"


def schedule_due(session: Session, *, now: datetime, entries: tuple[Periodic, ...] = PERIODIC) -> int:
    """Insert the current slot of every periodic job (in the caller's transaction); return how many were new."""
    added = 0
    for entry in entries:
        start = slot_start(entry.every, now)
        added += queue.enqueue(
            session, kind=entry.name, key=slot_key(entry.name, start), store_id=None, run_at=start,
            args={"slot": start.isoformat()}, lock=f"periodic:{entry.name}", max_attempts=entry.max_attempts,
        )  # fmt: skip
    return added
