"""The one retry policy every collector uses: wait out rate limits, back off on server and network errors.

Collectors only translate their client's failures into `RateLimited`, `Transient` or (never retried)
`ApiError`; how long to wait, how often to retry and what to log is decided here, once. `sleep` and
`clock` are injectable so tests check the waits without waiting.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from miner.errors import SourceError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Checked in order: Retry-After is the most direct; X sends x-rate-limit-reset (epoch seconds), Bluesky
# ratelimit-reset (epoch seconds), Mastodon x-ratelimit-reset (an ISO 8601 time).
RESET_HEADERS = ("retry-after", "x-rate-limit-reset", "ratelimit-reset", "x-ratelimit-reset")
# A bare number above this is an epoch timestamp (2001-09-09), below it a delay in seconds.
EPOCH_THRESHOLD = 1e9
# Resets are given to the second and clocks drift: one more second avoids a second 429.
RESET_MARGIN_S = 1.0


class RateLimited(Exception):
    """The server answered 429; `headers` may say when the limit resets."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__("rate limited (HTTP 429)")
        self.headers = {k.lower(): v for k, v in headers.items()}


class Transient(Exception):
    """A failure worth retrying: 5xx, a dropped connection, a timeout, a truncated body."""


class ApiError(SourceError):
    """A 4xx answer: retrying the same request will not help. `code` is the API's error name, if any."""

    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until the limit resets according to the headers, or None when they do not say."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in RESET_HEADERS:
        value = lowered.get(name, "").strip()
        reset = _reset_time(value, now) if value else None
        if reset is not None:
            return max(0.0, reset - now)
    return None


def _reset_time(value: str, now: float) -> float | None:
    """Epoch time from delta seconds, epoch seconds, an ISO 8601 time or an HTTP date."""
    try:
        number = float(value)
    except ValueError:
        return _date_header(value)
    return number if number > EPOCH_THRESHOLD else now + number


def _date_header(value: str) -> float | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass(slots=True)
class RetryPolicy:
    """How a collector survives a flaky API; defaults suit the public APIs we call."""

    attempts: int = 5
    base_delay: float = 1.0  # first backoff; doubles per attempt
    max_delay: float = 60.0  # backoff cap, so a long outage costs minutes, not hours
    max_rate_wait: float = 900.0  # X's windows are 15 minutes: never wait longer than one
    sleep: Callable[[float], None] = field(default=time.sleep)
    clock: Callable[[], float] = field(default=time.time)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def call(self, what: str, request: Callable[[], T]) -> T:
        """Run `request`, retrying rate limits and transient failures; SourceError when they persist."""
        for attempt in range(1, self.attempts + 1):
            try:
                return request()
            except RateLimited as exc:
                problem, delay = str(exc), self._rate_delay(exc, attempt, what)
            except Transient as exc:
                problem, delay = str(exc), self.backoff(attempt)
            if attempt < self.attempts:
                log.warning("%s: %s; retry %d/%d in %.1f s", what, problem, attempt, self.attempts - 1, delay)
                self.sleep(delay)
        raise SourceError(f"{what}: {problem} (gave up after {self.attempts} attempts)")

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, so many clients do not retry in lockstep."""
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)

    def _rate_delay(self, exc: RateLimited, attempt: int, what: str) -> float:
        wait = rate_limit_wait(exc.headers, self.clock())
        if wait is None:
            return self.backoff(attempt)
        wait += RESET_MARGIN_S
        if wait > self.max_rate_wait:
            log.warning("%s: server asks to wait %.0f s; capping at %.0f s", what, wait, self.max_rate_wait)
            return self.max_rate_wait
        return wait
