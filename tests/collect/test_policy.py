"""The shared retry policy: reading reset headers, backoff, giving up, capping long waits."""

from __future__ import annotations

import logging
from email.utils import formatdate

import pytest

from miner.collect.policy import RateLimited, RetryPolicy, Transient, rate_limit_wait
from miner.errors import SourceError

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z, which the ISO 8601 case below counts from


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "30"}, 30.0),  # delta seconds
        ({"x-rate-limit-reset": str(int(NOW) + 90)}, 90.0),  # X: epoch seconds
        ({"RateLimit-Reset": str(int(NOW) + 45)}, 45.0),  # Bluesky: epoch seconds
        ({"X-RateLimit-Reset": "2027-01-15T08:01:40.123456Z"}, 100.123456),  # Mastodon: ISO 8601
        ({"Retry-After": formatdate(NOW + 60, usegmt=True)}, 60.0),  # HTTP date
        ({"x-rate-limit-reset": str(int(NOW) - 5)}, 0.0),  # already reset
        ({"Retry-After": "soon", "x-rate-limit-reset": str(int(NOW) + 10)}, 10.0),  # garbage skipped
        ({"X-RateLimit-Remaining": "0"}, None),
    ],
)
def test_rate_limit_wait_reads_every_reset_header_style(
    headers: dict[str, str], expected: float | None
) -> None:
    assert rate_limit_wait(headers, NOW) == (pytest.approx(expected) if expected is not None else None)


def failing(*errors: Exception, result: str = "ok"):
    """A request that raises each error in turn, then returns `result`."""
    remaining = list(errors)

    def request() -> str:
        if remaining:
            raise remaining.pop(0)
        return result

    return request


def test_transient_errors_back_off_exponentially_with_jitter() -> None:
    slept: list[float] = []
    policy = RetryPolicy(attempts=5, base_delay=1.0, sleep=slept.append)
    assert policy.call("test", failing(*(Transient("HTTP 503") for _ in range(4)))) == "ok"
    for attempt, delay in enumerate(slept, start=1):
        assert 2 ** (attempt - 1) * 0.5 <= delay <= 2 ** (attempt - 1)


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    assert 30.0 <= policy.backoff(20) <= 60.0


def test_gives_up_with_a_clear_source_error() -> None:
    policy = RetryPolicy(attempts=3, sleep=lambda _s: None)
    with pytest.raises(SourceError, match=r"^bluesky search: HTTP 502 \(gave up after 3 attempts\)$"):
        policy.call("bluesky search", failing(*(Transient("HTTP 502") for _ in range(3))))


def test_other_errors_are_not_retried() -> None:
    slept: list[float] = []
    with pytest.raises(KeyError):
        RetryPolicy(sleep=slept.append).call("test", failing(KeyError("boom")))
    assert slept == []


def test_a_429_without_reset_headers_backs_off() -> None:
    slept: list[float] = []
    RetryPolicy(sleep=slept.append, clock=lambda: NOW).call("test", failing(RateLimited({})))
    assert 0.5 <= slept[0] <= 1.0


def test_a_very_long_reset_is_capped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_rate_wait=900.0, sleep=slept.append, clock=lambda: NOW)
    with caplog.at_level(logging.WARNING, logger="miner.collect.policy"):
        policy.call("x recent search", failing(RateLimited({"x-rate-limit-reset": str(int(NOW) + 7200)})))
    assert slept == [900.0]
    assert "capping at 900 s" in caplog.text and "retry 1/4 in 900.0 s" in caplog.text


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        RetryPolicy(attempts=0)
