"""policy.decide: every rule, and properties of quiet hours and caps (hypothesis)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from doorstep.messaging import policy
from doorstep.messaging.policy import Defer, Send, Situation, Suppress

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 12:00 in New York, 14:00 in São Paulo


def situation(**changes: object) -> Situation:
    base = Situation(
        milestone="shipment.out_for_delivery", occurred_at=NOW - timedelta(minutes=5), now=NOW,
        kinds=("sms", "email"), addresses={"email": "ana@example.com", "sms": "+14155550100"},
        consents={"email": True, "sms": True}, time_zone="America/New_York",
    )  # fmt: skip
    return Situation(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_sends_on_the_first_kind_the_shopper_can_receive() -> None:
    assert policy.decide(situation()) == Send("sms", "+14155550100")


def test_falls_back_and_says_why() -> None:
    decision = policy.decide(situation(consents={"email": True}))
    assert decision == Send("email", "ana@example.com", ("sms: no consent",))


def test_the_shoppers_channel_order_wins_over_the_merchants() -> None:
    assert policy.decide(situation(preferred_order=("email", "sms"))) == Send("email", "ana@example.com")


def test_no_reachable_kind_is_suppressed_with_each_reason() -> None:
    decision = policy.decide(situation(addresses={"email": "not-an-address"}, consents={"email": True}))
    assert decision == Suppress("no channel: sms: no phone number; email: invalid address 'not-an-address'")


def test_a_store_without_a_channel_for_a_kind_passes_it_over() -> None:
    assert policy.decide(situation(configured=frozenset({"email"}))) == Send(
        "email", "ana@example.com", ("sms: the store has no channel for it",)
    )


def test_superseded_milestones_are_never_sent() -> None:
    decision = policy.decide(situation(recorded=frozenset({"shipment.shipped", "shipment.delivered"})))
    assert decision == Suppress("superseded by shipment.delivered")


def test_exit_milestones_stop_the_flow() -> None:
    decision = policy.decide(
        situation(
            milestone="shipment.delayed",
            recorded=frozenset({"order.cancelled"}),
            exit_on=("order.cancelled",),
        )
    )
    assert decision == Suppress("the flow exits on order.cancelled")


def test_a_cancelled_order_hears_nothing_more() -> None:
    assert policy.decide(situation(order_cancelled=True)) == Suppress("the order was cancelled")


def test_frequency_preferences() -> None:
    assert policy.decide(situation(frequency="none")) == Suppress("the shopper asked for no updates")
    label = situation(milestone="shipment.label_created")
    assert policy.decide(label) == Suppress("the shopper asked for key moments only")
    assert isinstance(
        policy.decide(situation(milestone="shipment.label_created", frequency="every_update")), Send
    )


def test_stale_milestones_and_disabled_flows_are_suppressed() -> None:
    assert policy.decide(situation(occurred_at=NOW - timedelta(days=4))) == Suppress(
        "stale: the milestone happened 96 h before Doorstep learned of it"
    )
    # A flow's own wait (recorded promptly, decided days later) is not staleness
    waited = situation(
        occurred_at=NOW - timedelta(days=4), recorded_at=NOW - timedelta(days=4) + timedelta(minutes=1)
    )
    assert isinstance(policy.decide(waited), Send)
    assert policy.decide(situation(flow_enabled=False)) == Suppress(
        "the flow is disabled or no longer exists"
    )


def test_quiet_hours_defer_sms_to_the_morning_but_not_email() -> None:
    late = NOW.replace(hour=3)  # 22:00 in New York
    decision = policy.decide(situation(now=late, occurred_at=late))
    assert decision == Defer(datetime(2026, 11, 23, 13, 0, tzinfo=UTC), "quiet hours 21:00-08:00 local")
    assert policy.decide(situation(now=late, occurred_at=late, kinds=("email",))) == Send(
        "email", "ana@example.com"
    )


def test_the_frequency_cap_defers_until_a_slot_frees() -> None:
    sends = [NOW - timedelta(hours=h) for h in (23, 10, 2)]
    decision = policy.decide(situation(recent_sends=sends, cap=3))
    assert decision == Defer(NOW + timedelta(hours=1), "frequency cap: 3 messages in 24 h")
    assert isinstance(policy.decide(situation(recent_sends=sends, cap=4)), Send)


zones = st.sampled_from(
    ["America/New_York", "America/Sao_Paulo", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland"]
)
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)
hours = st.integers(min_value=0, max_value=23)


@settings(max_examples=300, deadline=None)
@given(now=moments, zone=zones, start=hours, end=hours)
def test_quiet_hours_never_drop_and_always_end_outside_them(
    now: datetime, zone: str, start: int, end: int
) -> None:
    decision = policy.decide(situation(now=now, occurred_at=now, quiet_hours=(start, end), time_zone=zone))
    # Never suppressed for quiet hours: sent now, or deferred to a later moment that is itself not quiet
    assert isinstance(decision, Send | Defer)
    if isinstance(decision, Defer):
        assert now < decision.until <= now + timedelta(hours=25)
        assert policy.quiet_until(decision.until, (start, end), zone) is None
    else:
        assert policy.quiet_until(now, (start, end), zone) is None


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=48 * 60), max_size=12),
    cap=st.integers(min_value=1, max_value=6),
)
def test_after_a_cap_deferral_the_window_has_room(offsets: list[int], cap: int) -> None:
    sends = [NOW - timedelta(minutes=m) for m in offsets]
    decision = policy.decide(situation(recent_sends=sends, cap=cap, kinds=("email",)))
    in_window = [t for t in sends if NOW - timedelta(hours=24) < t <= NOW]
    if len(in_window) < cap:
        assert isinstance(decision, Send)
        return
    assert isinstance(decision, Defer)
    assert decision.until > NOW
    later = [t for t in in_window if decision.until - timedelta(hours=24) < t]
    assert len(later) < cap
