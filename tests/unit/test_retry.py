from datetime import UTC, datetime

import pytest

from shared.adapters.retry import RetryAdvice, call_with_retries, parse_retry_after


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Sat, 21 Nov 2026 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


def test_retries_transient_failures_waiting_what_the_service_asked() -> None:
    waits: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise TimeoutError
        return "ok"

    result = call_with_retries(
        flaky, lambda exc: RetryAdvice(after=1.5), sleep=waits.append, attempts=5
    )
    assert result == "ok"
    assert waits == [1.5, 1.5]


def test_permanent_failures_are_not_retried() -> None:
    waits: list[float] = []
    with pytest.raises(PermissionError):
        call_with_retries(
            lambda: (_ for _ in ()).throw(PermissionError()),
            lambda exc: None,
            sleep=waits.append,
        )
    assert waits == []


def test_gives_up_after_the_attempt_limit() -> None:
    waits: list[float] = []
    with pytest.raises(TimeoutError):
        call_with_retries(
            lambda: (_ for _ in ()).throw(TimeoutError()),
            lambda exc: RetryAdvice(),
            sleep=waits.append,
            attempts=3,
            initial=0.1,
            maximum=1.0,
        )
    assert len(waits) == 2
    assert all(0 <= w <= 1.0 for w in waits)
