"""The one shipment status taxonomy (DESIGN §4) and the pure rules that derive state from scans.

Status is derived from checkpoints ordered by the carrier's own time, with a fixed tie-break, so the
same set of scans gives the same state whatever order or how many times they arrived.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class Status(StrEnum):
    pending = "pending"
    info_received = "info_received"
    in_transit = "in_transit"
    out_for_delivery = "out_for_delivery"
    attempt_failed = "attempt_failed"
    available_for_pickup = "available_for_pickup"
    delivered = "delivered"
    exception = "exception"
    returned = "returned"
    expired = "expired"


class Substatus(StrEnum):
    # delivered
    to_door = "to_door"
    to_neighbour = "to_neighbour"
    to_locker = "to_locker"
    signed = "signed"
    # exception
    damaged = "damaged"
    lost = "lost"
    customs_hold = "customs_hold"
    address_issue = "address_issue"
    refused = "refused"
    returning_to_sender = "returning_to_sender"
    weather = "weather"
    other = "other"


SUBSTATUSES: dict[Status, frozenset[Substatus]] = {
    Status.delivered: frozenset({Substatus.to_door, Substatus.to_neighbour, Substatus.to_locker, Substatus.signed}),
    Status.exception: frozenset(
        {
            Substatus.damaged, Substatus.lost, Substatus.customs_hold, Substatus.address_issue,
            Substatus.refused, Substatus.returning_to_sender, Substatus.weather, Substatus.other,
        }
    ),
}  # fmt: skip

TERMINAL: frozenset[Status] = frozenset({Status.delivered, Status.returned, Status.expired})

# Tie-break for scans with the same carrier time: the further along the parcel's journey, the later
# (a problem and its resolution stamped in the same minute resolve to the resolution).
RANK: dict[Status, int] = {
    Status.expired: 0, Status.pending: 1, Status.info_received: 2, Status.in_transit: 3, Status.exception: 4,
    Status.out_for_delivery: 5, Status.attempt_failed: 6, Status.available_for_pickup: 7, Status.delivered: 8,
    Status.returned: 9,
}  # fmt: skip

# Which milestone a scan of each status proves was reached (any physical scan also proves "shipped").
_REACHES: dict[Status, tuple[str, ...]] = {
    Status.pending: (),
    Status.info_received: ("shipment.label_created",),
    Status.in_transit: ("shipment.shipped",),
    Status.out_for_delivery: ("shipment.shipped", "shipment.out_for_delivery"),
    Status.attempt_failed: ("shipment.shipped", "shipment.attempt_failed"),
    Status.available_for_pickup: ("shipment.shipped", "shipment.available_for_pickup"),
    Status.delivered: ("shipment.shipped", "shipment.delivered"),
    Status.exception: ("shipment.exception",),
    Status.returned: ("shipment.shipped", "shipment.returned"),
    Status.expired: (),
}

# Order milestones are reported in, so that emitted lists read like the parcel's journey.
MILESTONE_ORDER: tuple[str, ...] = (
    "shipment.label_created", "shipment.shipped", "shipment.exception",
    "shipment.out_for_delivery", "shipment.attempt_failed", "shipment.available_for_pickup",
    "shipment.delivered", "shipment.returned", "shipment.delayed", "shipment.stalled",
)  # fmt: skip


def is_valid_pair(status: Status, substatus: Substatus | None) -> bool:
    if substatus is None:
        return True
    return substatus in SUBSTATUSES.get(status, frozenset())


@dataclass(frozen=True)
class Scan:
    """What status derivation needs from a checkpoint."""

    occurred_at: datetime
    status: Status
    substatus: Substatus | None
    fingerprint: str


@dataclass(frozen=True)
class ShipmentState:
    status: Status = Status.pending
    substatus: Substatus | None = None
    status_changed_at: datetime | None = None
    last_checkpoint_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    # Each milestone the scans prove, with the carrier time of the first scan that proved it.
    reached_at: tuple[tuple[str, datetime], ...] = ()

    @property
    def reached(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.reached_at)


def _order_key(scan: Scan) -> tuple[datetime, int, str]:
    return (scan.occurred_at, RANK[scan.status], scan.fingerprint)


def derive_state(scans: Iterable[Scan]) -> ShipmentState:
    """Fold scans (any order, duplicates allowed) into the shipment's state."""
    ordered = sorted({s.fingerprint: s for s in scans}.values(), key=_order_key)
    if not ordered:
        return ShipmentState()
    latest = ordered[-1]
    changed_at = latest.occurred_at
    for scan in reversed(ordered):
        if scan.status is not latest.status:
            break
        changed_at = scan.occurred_at
    reached: dict[str, datetime] = {}
    for scan in ordered:
        for name in _REACHES[scan.status]:
            reached.setdefault(name, scan.occurred_at)
    return ShipmentState(
        status=latest.status,
        substatus=latest.substatus,
        status_changed_at=changed_at,
        last_checkpoint_at=latest.occurred_at,
        shipped_at=reached.get("shipment.shipped"),
        delivered_at=latest.occurred_at if latest.status is Status.delivered else None,
        reached_at=tuple(sorted(reached.items())),
    )


def milestones_crossed(before: ShipmentState, after: ShipmentState) -> list[str]:
    """Milestones reached by ``after`` and not by ``before``, in journey order."""
    new = after.reached - before.reached
    return [name for name in MILESTONE_ORDER if name in new]


def milestones_moved_earlier(before: ShipmentState, after: ShipmentState) -> list[str]:
    """Milestones already reached whose first proof is now earlier (an older scan arrived late)."""
    earlier = dict(before.reached_at)
    return [name for name, at in after.reached_at if name in earlier and at < earlier[name]]


def derive_fingerprint(
    occurred_at: datetime,
    code: str,
    message: str | None,
    city: str | None,
    postal_code: str | None,
    country: str | None,
) -> str:
    """Identity of one scan: the same scan delivered twice (or by two sources) is stored once."""
    parts = (
        occurred_at.astimezone(UTC).isoformat(),
        code.strip().lower(),
        " ".join((message or "").lower().split()),
        (city or "").strip().lower(),
        (postal_code or "").replace(" ", "").lower(),
        (country or "").upper(),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
