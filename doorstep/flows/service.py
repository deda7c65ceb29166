"""Recording milestones (once per subject). Flows and jobs hang off this in the notifications issue."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from doorstep import milestones as registry
from doorstep.core import clock, ids
from doorstep.core.tenancy import scoped
from doorstep.flows.models import MilestoneEvent


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
    session.flush()
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
) -> int:
    """Record milestones that happened in the past (history imports), in bulk; return how many were new.

    The same rules as :func:`emit` — registered names only, once per (subject, name) — but every row is
    ``is_historical=True``, so flows never react to it: an imported order delivered in 2018 sends no
    "delivered" message today. Rows go in with one multi-row INSERT, in the caller's transaction
    (``write`` lets a bulk caller insert them through its own fast path).
    """
    if not occurrences:
        return 0
    subjects = {o.subject_id for o in occurrences}
    stmt = scoped(select(MilestoneEvent.subject_id, MilestoneEvent.name), MilestoneEvent, store_id).where(
        MilestoneEvent.subject_id.in_(subjects)
    )
    seen: set[tuple[str, str]] = {(subject, name) for subject, name in session.execute(stmt)}
    now = clock.now()
    rows: list[dict[str, Any]] = []
    for occ in occurrences:
        registry.get(occ.name)  # unknown names are a programming error
        if (occ.subject_id, occ.name) in seen:
            continue
        seen.add((occ.subject_id, occ.name))
        rows.append(
            {
                "public_id": ids.new_id("ms"),
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
    table = MilestoneEvent.__table__
    assert isinstance(table, Table)
    if rows and write is not None:
        write(session, table, rows)
    elif rows:
        session.execute(insert(table), rows)
    return len(rows)
