"""The retry policy is pure: no database, no clock."""

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from doorstep.jobs import retry

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "https://provider.test/send")
    return httpx.HTTPStatusError("boom", request=request, response=httpx.Response(code, request=request))


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (retry.Retryable("provider busy"), True),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.ConnectError("refused"), True),
        (OperationalError("UPDATE", {}, Exception("database is locked")), True),
        (TimeoutError(), True),
        (_status_error(503), True),
        (_status_error(429), True),
        (_status_error(400), False),
        (_status_error(404), False),
        (KeyError("missing"), False),
        (ValueError("bad input"), False),
    ],
)
def test_only_allow_listed_errors_are_retried(exc: BaseException, retryable: bool) -> None:
    when = retry.next_run(exc, attempts=1, max_attempts=5, now=NOW)
    assert (when is not None) is retryable


def test_backoff_doubles_with_jitter_between_half_and_full_and_is_capped() -> None:
    rng = random.Random(7)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (12, 3600), (40, 3600)]:
        for _ in range(50):
            delay = retry.backoff(attempts, rng=rng)
            assert timedelta(seconds=ceiling / 2) <= delay <= timedelta(seconds=ceiling)


def test_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    delays = {retry.backoff(3, rng=rng) for _ in range(20)}
    assert len(delays) > 10


def test_the_last_attempt_is_dead_even_for_a_retryable_error() -> None:
    assert retry.next_run(retry.Retryable("x"), attempts=5, max_attempts=5, now=NOW) is None
    assert retry.next_run(retry.Retryable("x"), attempts=4, max_attempts=5, now=NOW) is not None


def test_retryable_after_overrides_the_backoff() -> None:
    exc = retry.Retryable("rate limited", after=timedelta(minutes=7))
    assert retry.next_run(exc, attempts=1, max_attempts=5, now=NOW) == NOW + timedelta(minutes=7)


def test_describe_keeps_the_type_and_first_line_only() -> None:
    exc = OperationalError("INSERT INTO customers VALUES (?)", {"email": "a@b.test"}, Exception("locked"))
    assert retry.describe(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert "a@b.test" not in retry.describe(exc)
    assert retry.describe(KeyError()) == "KeyError"
