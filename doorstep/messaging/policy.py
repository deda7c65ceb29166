"""Whether, how and when to send one message: a pure function of the situation at send time.

:func:`decide` answers :class:`Send` (on which kind, to which address), :class:`Suppress` (with the
reason) or :class:`Defer` (until when, and why). The checks, in order:

1. the flow was disabled or removed since the milestone → suppressed;
2. the order was cancelled (any message but the cancellation itself) → suppressed;
3. a later milestone supersedes this one (never "out for delivery" after "delivered") → suppressed;
4. one of the flow's exit milestones happened → suppressed;
5. the milestone was already older than ``stale_after`` when Doorstep recorded it (a carrier that caught up
   days late, a backfill) → suppressed; a flow's own waits never make it stale;
6. the shopper's frequency: ``none``, or ``key_moments`` and this is not one → suppressed;
7. the first kind, in preference order, with an address, a valid address, consent and a channel the store
   can send on; kinds passed over are listed in the reason; none left → suppressed;
8. quiet hours in the shopper's zone, for SMS and WhatsApp (a phone buzzes; an e-mail waits in the inbox)
   → deferred until they end;
9. the per-shopper frequency cap (``cap`` sends in ``cap_window``) → deferred until a slot frees.

Deferring never drops a message: it is decided again, with fresh state, when the time comes.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from pydantic_core import PydanticCustomError

from doorstep import milestones
from doorstep.core.fields import normalize_email, normalize_phone
from doorstep.flows.steps import zone

PHONE_KINDS = frozenset({"sms", "whatsapp"})
DEFAULT_QUIET_HOURS = (21, 8)  # 21:00-08:00 local, for phones, unless the shopper or store says otherwise
DEFAULT_CAP = 6
DEFAULT_CAP_WINDOW = timedelta(hours=24)
DEFAULT_STALE_AFTER = timedelta(days=3)


@dataclass(frozen=True)
class Send:
    kind: str
    to: str
    passed_over: tuple[str, ...] = ()  # why earlier kinds were not used, e.g. "sms: no consent"

    @property
    def reason(self) -> str | None:
        return "; ".join(self.passed_over) or None


@dataclass(frozen=True)
class Suppress:
    reason: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


Decision = Send | Suppress | Defer


@dataclass(frozen=True)
class Situation:
    """Everything the decision reads, gathered fresh by the service when the job runs."""

    milestone: str
    occurred_at: datetime
    now: datetime
    kinds: tuple[str, ...]  # the send step's kinds, in the merchant's preference order
    recorded_at: datetime | None = None  # when Doorstep recorded the milestone (None: now)
    addresses: Mapping[str, str | None] = field(default_factory=dict)  # kind → e-mail or phone
    consents: Mapping[str, bool] = field(default_factory=dict)  # kind → granted (absent: not given)
    configured: frozenset[str] = frozenset({"email", "sms", "whatsapp"})  # kinds the store can send
    frequency: str = "key_moments"
    preferred_order: tuple[str, ...] | None = None  # the shopper's own channel order, when they set one
    quiet_hours: tuple[int, int] | None = DEFAULT_QUIET_HOURS  # (start, end) local hours
    time_zone: str | None = None
    flow_enabled: bool = True
    order_cancelled: bool = False
    recorded: frozenset[str] = frozenset()  # milestones recorded on the subject and on its order
    exit_on: tuple[str, ...] = ()
    recent_sends: Sequence[datetime] = ()  # this shopper's sends within cap_window before now
    cap: int | None = DEFAULT_CAP
    cap_window: timedelta = DEFAULT_CAP_WINDOW
    stale_after: timedelta | None = DEFAULT_STALE_AFTER


def decide(s: Situation) -> Decision:
    if not s.flow_enabled:
        return Suppress("the flow is disabled or no longer exists")
    if s.order_cancelled and s.milestone != "order.cancelled":
        return Suppress("the order was cancelled")
    superseded = sorted(m for m in s.recorded if s.milestone in milestones.MILESTONES[m].supersedes)
    if superseded:
        return Suppress(f"superseded by {superseded[0]}")
    exits = sorted(set(s.exit_on) & s.recorded)
    if exits:
        return Suppress(f"the flow exits on {exits[0]}")
    learned = s.recorded_at or s.now
    if s.stale_after is not None and learned - s.occurred_at > s.stale_after:
        hours = int((learned - s.occurred_at).total_seconds() // 3600)
        return Suppress(f"stale: the milestone happened {hours} h before Doorstep learned of it")
    if s.frequency == "none":
        return Suppress("the shopper asked for no updates")
    if s.frequency == "key_moments" and not milestones.MILESTONES[s.milestone].is_key_moment:
        return Suppress("the shopper asked for key moments only")
    chosen = choose_kind(s)
    if isinstance(chosen, Suppress):
        return chosen
    if chosen.kind in PHONE_KINDS and s.quiet_hours is not None:
        until = quiet_until(s.now, s.quiet_hours, s.time_zone)
        if until is not None:
            return Defer(until, f"quiet hours {s.quiet_hours[0]:02d}:00-{s.quiet_hours[1]:02d}:00 local")
    if s.cap is not None:
        window = sorted(t for t in s.recent_sends if s.now - s.cap_window < t <= s.now)
        if len(window) >= s.cap:
            until = window[len(window) - s.cap] + s.cap_window
            return Defer(until, f"frequency cap: {len(window)} messages in {_hours(s.cap_window)} h")
    return chosen


def choose_kind(s: Situation) -> Send | Suppress:
    """The first kind the shopper can receive, in order; the reasons for the ones passed over."""
    kinds = list(s.kinds)
    if s.preferred_order is not None:
        rank = {kind: n for n, kind in enumerate(s.preferred_order)}
        kinds = sorted((k for k in kinds if k in rank), key=rank.__getitem__)
        if not kinds:
            return Suppress(f"the shopper accepts none of {', '.join(s.kinds)}")
    passed: list[str] = []
    for kind in kinds:
        problem, address = _check(s, kind)
        if problem is None and address is not None:
            return Send(kind, address, tuple(passed))
        passed.append(f"{kind}: {problem}")
    return Suppress("no channel: " + "; ".join(passed))


def _check(s: Situation, kind: str) -> tuple[str | None, str | None]:
    address = s.addresses.get(kind)
    if not address:
        return ("no e-mail address" if kind == "email" else "no phone number"), None
    try:
        normalized = normalize_email(address) if kind == "email" else normalize_phone(address)
    except PydanticCustomError:
        return f"invalid address {address!r}", None
    if not s.consents.get(kind, False):
        return "no consent", None
    if kind not in s.configured:
        return "the store has no channel for it", None
    return None, normalized


def quiet_until(now: datetime, hours: tuple[int, int], time_zone: str | None) -> datetime | None:
    """When quiet hours end, if ``now`` is within them in the shopper's zone; None otherwise."""
    start, end = hours
    if start == end:
        return None
    tz = zone(time_zone)
    local = now.astimezone(tz)
    inside = (start <= local.hour or local.hour < end) if start > end else (start <= local.hour < end)
    if not inside:
        return None
    day = local.date() if local.hour < end else local.date() + timedelta(days=1)
    # Wall-clock end of quiet hours, made aware in the zone (a DST gap moves it by the zone's rule).
    ends = datetime.combine(day, time(end), tzinfo=tz)
    return ends.astimezone(now.tzinfo)


def _hours(delta: timedelta) -> int:
    return int(delta.total_seconds() // 3600)
