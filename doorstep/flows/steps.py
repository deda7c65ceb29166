"""When each step of a flow runs: a pure walk through its waits, in the shopper's time zone.

Waits only delay what follows; a send or webhook step becomes one job due at the time the walk has
reached. Local times are computed with zoneinfo, so "09:00" stays 09:00 across daylight-saving changes.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from doorstep.flows.schemas import WEEKDAYS, BusinessHours, FlowDefinition, Step


@dataclass(frozen=True)
class Due:
    """An action step (send or webhook), its position in the flow, and when it runs."""

    index: int
    step: Step
    run_at: datetime


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_local_time(after: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The first moment at or after ``after`` whose local clock in ``tz`` reads ``at``."""
    local = after.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tzinfo=tz)
    if candidate < local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return candidate.astimezone(after.tzinfo)


def next_business_time(after: datetime, hours: BusinessHours, tz: ZoneInfo) -> datetime:
    """``after`` itself when it falls within business hours in ``tz``, else the next opening."""
    local = after.astimezone(tz)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in hours.days:
            continue
        opens = datetime.combine(day, time(hours.start), tzinfo=tz)
        closes = (
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
            if hours.end == 24
            else datetime.combine(day, time(hours.end), tzinfo=tz)
        )
        if local < opens:
            return opens.astimezone(after.tzinfo)
        if local < closes:
            return after
    raise ValueError("business hours name no day")  # unreachable: validation requires a day


def schedule(flow: FlowDefinition, *, start: datetime, time_zone: str | None) -> list[Due]:
    """Every action step of ``flow`` with its due time, walking the waits from ``start``."""
    tz = zone(time_zone)
    at = start
    due: list[Due] = []
    for index, step in enumerate(flow.steps):
        if step.duration is not None:
            at = at + step.duration
        elif step.wait_until is not None:
            at = next_local_time(at, step.wait_until, tz)
        elif step.wait_business_hours is not None:
            at = next_business_time(at, step.wait_business_hours, tz)
        else:
            due.append(Due(index, step, at))
    return due
