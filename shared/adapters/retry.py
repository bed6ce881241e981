"""Retries for calls to outside APIs: exponential backoff with jitter, honouring Retry-After.

Each adapter says which failures are worth retrying (`classify`); this module decides when.
google-api-python-client does not retry by default and its `num_retries` ignores
Retry-After, so Gmail, Drive and Calendar calls go through here.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryAdvice:
    """A failure that may pass: wait `after` seconds if the service said so."""

    after: float | None = None


Classifier = Callable[[BaseException], RetryAdvice | None]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _WaitRetryAfterOrBackoff:
    def __init__(self, classify: Classifier, initial: float, maximum: float) -> None:
        self.classify = classify
        self.maximum = maximum
        self.backoff = wait_random_exponential(multiplier=initial, max=maximum)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        advice = self.classify(exc) if exc is not None else None
        if advice is not None and advice.after is not None:
            return min(advice.after, self.maximum)
        return float(self.backoff(state))


def call_with_retries(
    fn: Callable[[], T],
    classify: Classifier,
    *,
    attempts: int = 5,
    initial: float = 0.5,
    maximum: float = 30.0,
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `fn`, retrying failures that `classify` calls transient; re-raise the last one."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s failed, retrying",
            what,
            extra={
                "fields": {
                    "attempt": state.attempt_number,
                    "error": type(exc).__name__ if exc else None,
                    "wait_s": round(state.upcoming_sleep, 3),
                }
            },
        )

    retrying = Retrying(
        retry=retry_if_exception(lambda exc: classify(exc) is not None),
        stop=stop_after_attempt(attempts),
        wait=_WaitRetryAfterOrBackoff(classify, initial, maximum),
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    return retrying(fn)
