"""The return state machine, pure: hypothesis drives random action sequences through it."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doorstep.returns import lifecycle
from doorstep.returns.lifecycle import RANK, TERMINAL, Action, IllegalTransition, Status, derive_next

HAPPY = [Action.approve, Action.issue_label, Action.ship, Action.receive, Action.inspect, Action.resolve]


def test_the_happy_path_visits_every_status_in_order() -> None:
    status, seen = Status.requested, [Status.requested]
    for action in HAPPY:
        status = derive_next(status, action)
        seen.append(status)
    assert seen == [s for s in Status if s is not Status.rejected]


def test_resolving_without_inspection_is_only_for_keep_it() -> None:
    with pytest.raises(IllegalTransition, match="cannot resolve"):
        derive_next(Status.approved, Action.resolve)
    assert derive_next(Status.approved, Action.resolve, is_keep_it=True) is Status.resolved


def test_closed_returns_accept_nothing() -> None:
    for status in TERMINAL:
        assert lifecycle.allowed_actions(status) == frozenset()
        with pytest.raises(IllegalTransition, match="it is closed"):
            derive_next(status, Action.reject)


@given(st.lists(st.sampled_from(list(Action)), max_size=30), st.booleans())
def test_any_action_sequence_only_moves_forward_and_stops_at_a_terminal(
    actions: list[Action], keep_it: bool
) -> None:
    status = Status.requested
    for action in actions:
        try:
            after = derive_next(status, action, is_keep_it=keep_it)
        except IllegalTransition:
            continue  # refused: nothing changes
        assert status not in TERMINAL
        # statuses only move forward, except a rejection, which may come from any open status
        assert RANK[after] > RANK[status] or after is Status.rejected
        names = lifecycle.milestones_crossed(status, after)
        assert len(names) == (0 if after is Status.inspected else 1)
        status = after
    assert lifecycle.milestones_crossed(status, status) == []


@given(st.sampled_from(list(Status)), st.sampled_from(list(Action)))
def test_illegal_moves_explain_what_is_allowed(status: Status, action: Action) -> None:
    if action in lifecycle.allowed_actions(status):
        return
    with pytest.raises(IllegalTransition) as caught:
        derive_next(status, action)
    assert status.value in str(caught.value)
    for allowed in lifecycle.allowed_actions(status):
        assert allowed.value in str(caught.value)
