"""Promised delivery dates and business-day arithmetic (pure).

A promise comes from the order or shipment when the merchant sends one; otherwise from the store's
transit days for the service level, counted in business days with the destination country's holidays.
"""

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import holidays

DEFAULT_TRANSIT_DAYS = 5
DEFAULT_STALL_BUSINESS_DAYS = 3


@lru_cache(maxsize=64)
def _calendar(country: str, region: str | None, year: int) -> frozenset[date]:
    try:
        days = holidays.country_holidays(country, subdiv=region, years=[year, year + 1])
    except (NotImplementedError, KeyError):
        try:
            days = holidays.country_holidays(country, years=[year, year + 1])
        except (NotImplementedError, KeyError):
            return frozenset()
    return frozenset(days.keys())


def is_business_day(day: date, country: str | None, region: str | None = None) -> bool:
    if day.weekday() >= 5:
        return False
    return not country or day not in _calendar(country.upper(), region, day.year)


def add_business_days(start: date, days: int, country: str | None, region: str | None = None) -> date:
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current, country, region):
            remaining -= 1
    return current


def business_days_between(start: date, end: date, country: str | None, region: str | None = None) -> int:
    """Business days after ``start`` up to and including ``end`` (0 when end <= start)."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_business_day(current, country, region):
            count += 1
    return count


def transit_days(policies: Mapping[str, Any], service: str | None) -> int:
    """The store's transit days for a service level (policies["transit_days"] = {"Ground": 5, "default": 4})."""
    table = policies.get("transit_days") or {}
    if not isinstance(table, Mapping):
        return DEFAULT_TRANSIT_DAYS
    for key in (service, (service or "").lower(), "default"):
        value = table.get(key) if key else None
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_TRANSIT_DAYS


def derive_promise(
    shipped: datetime,
    *,
    service: str | None,
    policies: Mapping[str, Any],
    country: str | None,
    region: str | None,
) -> date:
    return add_business_days(shipped.date(), transit_days(policies, service), country, region)


def stall_business_days(policies: Mapping[str, Any]) -> int:
    value = policies.get("stall_business_days")
    return value if isinstance(value, int) and value > 0 else DEFAULT_STALL_BUSINESS_DAYS


def delay_reason(
    *, is_terminal: bool, promised_on: date | None, expected_on: date | None, today: date
) -> str | None:
    """Why a parcel is now expected after its promise, or None when it is not (or already arrived)."""
    if is_terminal or promised_on is None:
        return None
    if expected_on is not None and expected_on > promised_on:
        return f"the carrier now expects delivery on {expected_on.isoformat()}, after the promised {promised_on.isoformat()}"
    if expected_on is None and today > promised_on:
        return f"not delivered by the promised {promised_on.isoformat()}"
    return None


def stall_reason(
    *,
    is_terminal: bool,
    last_activity: datetime,
    now: datetime,
    business_days: int,
    country: str | None,
    region: str | None,
) -> str | None:
    """Why a parcel counts as stalled (no scan for too many business days), or None."""
    if is_terminal:
        return None
    quiet = business_days_between(last_activity.date(), now.date(), country, region)
    if quiet >= business_days:
        return f"no carrier scan for {quiet} business days (since {last_activity.date().isoformat()})"
    return None
