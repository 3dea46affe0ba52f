"""urllib3's Retry, bounded by the invocation's deadline."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from urllib3 import HTTPResponse
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import RequestHistory

from luma_download.aggregator.deadline_socket import bounded_by
from luma_download.aggregator.retry_policy import DeadlineRetry, deadline_retry
from luma_download.model import Deadline


@pytest.fixture
def within() -> Iterator[Callable[[float], None]]:
    """``within(seconds)``: the exchange under way has this much time left (until the test ends)."""
    exits = []

    def bind(seconds: float) -> None:
        block = bounded_by(Deadline(seconds))
        block.__enter__()
        exits.append(block)

    yield bind
    for block in reversed(exits):
        block.__exit__(None, None, None)


def retry(attempt_seconds: float = 1.0) -> DeadlineRetry:
    policy = DeadlineRetry(total=2, status_forcelist={503}, backoff_factor=0.2, raise_on_status=False)
    policy.attempt_seconds = attempt_seconds
    return policy


def answer(status: int, retry_after: str | None = None) -> HTTPResponse:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return HTTPResponse(body=b"", headers=headers, status=status, preload_content=False)


def test_a_retry_that_fits_is_allowed(within: Callable[[float], None]) -> None:
    within(10)
    next_policy = retry().increment("GET", "/x", response=answer(503))
    assert next_policy.total == 1
    assert next_policy.attempt_seconds == 1.0  # the attempt's length travels with each new policy


def test_no_retry_when_one_more_attempt_would_not_fit(within: Callable[[float], None]) -> None:
    within(0.5)
    with pytest.raises(MaxRetryError):
        retry(attempt_seconds=1.0).increment("GET", "/x", response=answer(503))


def test_one_policy_serves_exchanges_with_different_deadlines(within: Callable[[float], None]) -> None:
    # The product builds its policy once (deadline_retry); each exchange brings its own deadline.
    policy = deadline_retry(attempt_seconds=1.0)
    within(10)
    assert policy.increment("GET", "/x", response=answer(503)).total == 1
    within(0.5)  # a later exchange, nearly out of time
    with pytest.raises(MaxRetryError):
        policy.increment("GET", "/x", response=answer(503))


def test_a_retry_after_longer_than_the_time_left_is_not_waited(within: Callable[[float], None]) -> None:
    within(5)
    with pytest.raises(MaxRetryError):
        retry(attempt_seconds=1.0).increment("GET", "/x", response=answer(429, "30"))


def test_a_retry_after_that_fits_is_honoured(within: Callable[[float], None]) -> None:
    within(10)
    policy = retry(attempt_seconds=1.0).increment("GET", "/x", response=answer(429, "2"))
    assert policy.get_retry_after(answer(429, "2")) == 2


def test_without_a_deadline_it_is_plain_urllib3_retry() -> None:
    policy = DeadlineRetry(total=1, status_forcelist={503})
    assert not policy.is_exhausted()
    assert policy.increment("GET", "/x", response=answer(503)).total == 0


def test_the_backoff_slept_never_exceeds_the_spare_time(within: Callable[[float], None]) -> None:
    # Given two failures behind (plain urllib3 would back off 20 s) and 1 s to spare after an attempt
    failures = (RequestHistory("GET", "/x", None, 503, None),) * 2
    policy = DeadlineRetry(
        total=5, status_forcelist={503}, backoff_factor=10, backoff_max=60, history=failures
    )
    policy.attempt_seconds = 2.0
    within(3.0)

    assert policy.get_backoff_time() <= 1.0
    assert policy.is_exhausted()  # and it would not retry at all, since 20 s do not fit


@pytest.mark.parametrize("value", ["soon", "-5", "1.5e3", "Mon, 99 Foo 2026"])
def test_a_malformed_retry_after_is_never_waited_for(within: Callable[[float], None], value: str) -> None:
    # urllib3 raises InvalidHeader on these, which used to surface as a 502 for a plain 429.
    within(10)
    policy = retry()
    assert policy.get_retry_after(answer(429, value)) == float("inf")
    with pytest.raises(MaxRetryError):
        policy.increment("GET", "/x", response=answer(429, value))
