"""Flows as data: the shipped defaults, validation, conditions and the timing of steps (pure)."""

from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from doorstep import milestones
from doorstep.flows import conditions, defaults, steps
from doorstep.flows.conditions import Facts
from doorstep.flows.schemas import BusinessHours, Conditions, FlowDefinition, Segment


def test_every_default_flow_is_valid_and_names_a_registered_trigger() -> None:
    flows = defaults.load()
    wanted = {
        "order.placed", "shipment.shipped", "shipment.out_for_delivery", "shipment.delivered",
        "shipment.delayed", "shipment.exception", "shipment.attempt_failed", "shipment.available_for_pickup",
        "shipment.stalled", "shipment.returned",
        "return.requested", "return.approved", "return.label_issued", "return.in_transit", "return.received",
        "return.resolved", "return.rejected", "claim.filed", "claim.resolved",
    }  # fmt: skip
    assert {f.trigger for f in flows.values()} == wanted
    assert all(f.trigger in milestones.MILESTONES for f in flows.values())
    assert flows["in-transit"].enabled is False
    assert flows["return-in-transit"].enabled is False
    assert flows["delayed"].steps[-1].remedy is not None


def test_a_flow_file_with_an_unknown_milestone_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"'shipment\.teleported' is not a milestone"):
        defaults.parse("flows:\n  x:\n    trigger: shipment.teleported\n    steps: [{send: [email]}]\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"trigger": "shipment.delivered", "steps": [{"send": ["pigeon"]}]},
            "'pigeon' is not a channel kind",
        ),
        ({"trigger": "shipment.delivered", "steps": [{"wait": "2h"}]}, "never sends anything"),
        (
            {"trigger": "shipment.delivered", "steps": [{"wait": "soon"}, {"send": ["email"]}]},
            "not a duration",
        ),
        (
            {"trigger": "shipment.delivered", "steps": [{"send": ["email"], "wait": "2h"}]},
            "exactly one thing",
        ),
        (
            {"trigger": "shipment.delivered", "steps": [{"send": ["email"]}, {"send": ["email"]}]},
            "share one message key",
        ),
        (
            {"trigger": "shipment.delivered", "steps": [{"send": ["email"]}, {"wait": "1h"}]},
            "ends with a wait",
        ),
        (
            {"trigger": "order.placed", "steps": [{"send": ["email"]}], "conditions": {"countries": ["USA"]}},
            "alpha-2",
        ),
    ],
)
def test_invalid_flows_say_what_is_wrong(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FlowDefinition.model_validate(body)


def test_conditions_all_must_hold() -> None:
    rule = Conditions(
        min_order_value_minor=5000, countries=("US", "CA"), tags_any=("vip",), tags_none=("wholesale",),
        carriers=("UPS",), segment=Segment.returning, channel_available="sms",
    )  # fmt: skip
    facts = Facts(
        order_total_minor=8000, currency="USD", country="US", tags=frozenset({"VIP"}), carrier="ups",
        segment=Segment.returning, reachable=frozenset({"sms", "email"}),
    )  # fmt: skip
    assert conditions.matches(rule, facts)
    assert conditions.mismatches(rule, Facts(**{**facts.__dict__, "order_total_minor": 4999})) == [
        "order value 4999 below 5000"
    ]
    assert not conditions.matches(rule, Facts(**{**facts.__dict__, "country": "BR"}))
    assert not conditions.matches(rule, Facts(**{**facts.__dict__, "tags": frozenset({"vip", "wholesale"})}))
    assert not conditions.matches(rule, Facts(**{**facts.__dict__, "carrier": "fedex"}))
    assert not conditions.matches(rule, Facts(**{**facts.__dict__, "segment": Segment.new}))
    assert not conditions.matches(rule, Facts(**{**facts.__dict__, "reachable": frozenset({"email"})}))
    assert conditions.matches(Conditions(), Facts())


def test_waits_walk_in_the_shoppers_time_zone() -> None:
    flow = FlowDefinition.model_validate(
        {
            "trigger": "shipment.shipped",
            "steps": [{"wait": "2d"}, {"wait_until": "09:00"}, {"send": ["email"]}],
        }
    )
    # Friday 20 Nov 2026 23:30 UTC = 20:30 in São Paulo: two days later it is Sunday 20:30, so 09:00 Monday.
    due = steps.schedule(
        flow, start=datetime(2026, 11, 20, 23, 30, tzinfo=UTC), time_zone="America/Sao_Paulo"
    )
    assert [(d.index, d.run_at) for d in due] == [(2, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))]


def test_business_hours_skip_the_weekend_and_keep_a_time_already_inside() -> None:
    hours = BusinessHours()
    tz = steps.zone("Europe/Berlin")
    saturday = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert steps.next_business_time(saturday, hours, tz) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    tuesday_noon = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert steps.next_business_time(tuesday_noon, hours, tz) == tuesday_noon


def test_local_time_of_day_holds_across_a_daylight_saving_change() -> None:
    tz = steps.zone("America/New_York")
    # Saturday 31 Oct 2026 14:00 UTC (10:00 EDT): the next 09:00 is Sunday 1 Nov, after the change to EST.
    after = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)
    assert steps.next_local_time(after, time(9), tz) == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
