"""When a failed job runs again: a pure function of (exception, attempts), unit-tested without a database.

Only errors on the allow-list are retried (a dropped connection, a timeout, a provider's 429 or 5xx, a
database that was busy, or a handler saying :class:`Retryable`); anything else is a bug or a permanent
refusal, and the job goes ``dead`` at once with its reason, where an operator sees it. Retries back off
exponentially with jitter (half fixed, half random) up to a cap; after ``max_attempts`` the job is dead.
"""

import random
from datetime import datetime, timedelta

import httpx
from sqlalchemy.exc import OperationalError

BASE = timedelta(seconds=10)
CAP = timedelta(hours=1)


class Retryable(Exception):
    """Raised by a handler for a transient failure; ``after`` overrides the backoff (e.g. Retry-After)."""

    def __init__(self, reason: str, *, after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.after = after


RETRYABLE: tuple[type[BaseException], ...] = (
    Retryable,
    httpx.TransportError,  # connect, read and write errors and timeouts
    OperationalError,  # the database was busy or the connection dropped
    TimeoutError,
    ConnectionError,
)
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, RETRYABLE)


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Delay before the next attempt after ``attempts`` runs: 10 s, 20 s, 40 s, … capped at 1 h, jittered."""
    ceiling = min(CAP, BASE * 2 ** max(attempts - 1, 0))
    fraction = float((rng or random).random())  # jitter, not a secret
    delay: timedelta = ceiling / 2 + ceiling / 2 * fraction
    return delay


def next_run(
    exc: BaseException,
    *,
    attempts: int,
    max_attempts: int,
    now: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to run again after the ``attempts``-th run raised ``exc``; None means the job is dead."""
    if attempts >= max_attempts or not is_retryable(exc):
        return None
    if isinstance(exc, Retryable) and exc.after is not None:
        return now + exc.after
    return now + backoff(attempts, rng=rng)


def describe(exc: BaseException) -> str:
    """The reason recorded on the job: type and first line only (database errors carry parameters)."""
    message = str(exc).splitlines()[0][:500] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
