"""When to ask a carrier again (pure): often near delivery, rarely when quiet, never when done."""

from datetime import date, datetime, timedelta

from doorstep.shipments.status import TERMINAL, Status

EXPIRE_AFTER = timedelta(days=30)


def next_poll_at(
    *, status: Status, last_activity: datetime, expected_on: date | None, now: datetime
) -> datetime | None:
    """The next time to poll, or None to stop (terminal status, or silent for longer than EXPIRE_AFTER)."""
    if status in TERMINAL:
        return None
    quiet = now - last_activity
    if quiet > EXPIRE_AFTER:
        return None
    if status in (Status.out_for_delivery, Status.attempt_failed):
        interval = timedelta(minutes=30)
    elif expected_on is not None and expected_on <= (now + timedelta(days=1)).date():
        interval = timedelta(hours=1)
    elif status is Status.exception:
        interval = timedelta(hours=2)
    elif status in (Status.in_transit, Status.available_for_pickup):
        interval = timedelta(hours=3)
    else:  # pending, info_received: labels often wait days for the first scan
        interval = timedelta(hours=6)
    if quiet > timedelta(days=3):
        interval = max(interval, timedelta(hours=12))
    return now + interval
