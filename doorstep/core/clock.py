"""The one source of "now", so tests can move time (time-machine patches datetime.now)."""

from datetime import UTC, datetime


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive values are refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: a time zone offset is required")
    return value.astimezone(UTC)


def ensure_aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes for values stored as UTC; reattach UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
