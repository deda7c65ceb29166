"""The return lifecycle as a pure state machine: which action moves which status where.

requested → approved → label_issued → in_transit → received → inspected → resolved, or rejected with a
reason from any open status. Shortcuts the methods need: keep-it returns resolve straight from approved
(nothing travels); in-store returns are received without a label; a parcel's delivery scan may arrive
before its first transit scan (label_issued → received). Every status reached is a milestone, except
``inspected``, which the shopper does not need to hear about.
"""

from enum import StrEnum


class Status(StrEnum):
    requested = "requested"
    approved = "approved"
    label_issued = "label_issued"
    in_transit = "in_transit"
    received = "received"
    inspected = "inspected"
    resolved = "resolved"
    rejected = "rejected"


class Action(StrEnum):
    approve = "approve"
    issue_label = "issue_label"
    ship = "ship"
    receive = "receive"
    inspect = "inspect"
    resolve = "resolve"
    reject = "reject"


class Outcome(StrEnum):
    refunded = "refunded"
    credited = "credited"
    exchanged = "exchanged"
    kept = "kept"


TERMINAL = frozenset({Status.resolved, Status.rejected})
OPEN = frozenset(Status) - TERMINAL

_MOVES: dict[Action, dict[Status, Status]] = {
    Action.approve: {Status.requested: Status.approved},
    Action.issue_label: {Status.approved: Status.label_issued},
    Action.ship: {Status.label_issued: Status.in_transit},
    Action.receive: {
        Status.approved: Status.received,  # in store, or handed over without a tracked parcel
        Status.label_issued: Status.received,
        Status.in_transit: Status.received,
    },
    Action.inspect: {Status.received: Status.inspected},
    Action.resolve: {Status.inspected: Status.resolved, Status.approved: Status.resolved},
    Action.reject: dict.fromkeys(OPEN, Status.rejected),
}

# The order statuses are reached in, for "has this return got at least as far as X".
RANK: dict[Status, int] = {s: i for i, s in enumerate(Status)}

MILESTONES: dict[Status, str] = {
    Status.requested: "return.requested",
    Status.approved: "return.approved",
    Status.label_issued: "return.label_issued",
    Status.in_transit: "return.in_transit",
    Status.received: "return.received",
    Status.resolved: "return.resolved",
    Status.rejected: "return.rejected",
}


class IllegalTransition(ValueError):
    def __init__(self, status: Status, action: Action) -> None:
        allowed = sorted(a.value for a in allowed_actions(status))
        super().__init__(
            f"a return that is {status.value} cannot {action.value.replace('_', ' ')}"
            + (f"; it can: {', '.join(allowed)}" if allowed else "; it is closed")
        )
        self.status = status
        self.action = action


def allowed_actions(status: Status) -> frozenset[Action]:
    return frozenset(action for action, moves in _MOVES.items() if status in moves)


def derive_next(status: Status, action: Action, *, is_keep_it: bool = False) -> Status:
    """The status ``action`` leads to from ``status``; raises :class:`IllegalTransition` otherwise.

    Resolving straight from ``approved`` is only for keep-it returns (nothing comes back to inspect).
    """
    target = _MOVES[action].get(status)
    if target is None or (action is Action.resolve and status is Status.approved and not is_keep_it):
        raise IllegalTransition(status, action)
    return target


def milestones_crossed(before: Status | None, after: Status) -> list[str]:
    """The milestones for moving from ``before`` (None: just created) to ``after``."""
    if before == after:
        return []
    name = MILESTONES.get(after)
    return [name] if name else []
