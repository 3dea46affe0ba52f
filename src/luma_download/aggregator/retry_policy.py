"""When the aggregator is asked again: urllib3 ``Retry``, with every wait bounded by the deadline."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.util import Retry

from luma_download.aggregator.deadline_socket import current_deadline

RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_RETRIES = 2


class DeadlineRetry(Retry):
    """urllib3 ``Retry`` that never starts a wait or an attempt the deadline cannot hold.

    The deadline is the exchange's under way (``deadline_socket.bounded_by``), so one policy serves
    every request. A retry is allowed only while the backoff (or the server's ``Retry-After``) plus
    one more full attempt (``attempt_seconds``) still fits; otherwise the last answer is returned as is.
    """

    attempt_seconds: float = 0.0

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.attempt_seconds = self.attempt_seconds
        return retry

    def _spare(self) -> float:
        deadline = current_deadline()
        return float("inf") if deadline is None else deadline.remaining() - self.attempt_seconds

    def parse_retry_after(self, retry_after: str) -> float:
        # A malformed or negative Retry-After is not waited for: the answer is mapped as it came.
        try:
            return super().parse_retry_after(retry_after)
        except InvalidHeader:
            return float("inf")

    def get_backoff_time(self) -> float:
        # Jitter makes each call differ: cap the value actually slept, not just the one checked.
        return min(super().get_backoff_time(), max(0.0, self._spare()))

    def is_exhausted(self) -> bool:
        return super().is_exhausted() or self._spare() < Retry.get_backoff_time(self)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and self.respect_retry_after_header:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self._spare():
                raise MaxRetryError(_pool, url, ResponseError("no time to wait for Retry-After"))  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)


def deadline_retry(attempt_seconds: float) -> DeadlineRetry:
    """At most two retries of connection errors and 5xx, with jittered backoff, no redirects.

    ``attempt_seconds``: what one attempt may take (connect and read timeouts).
    """
    retries = DeadlineRetry(
        total=MAX_RETRIES,
        redirect=False,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=0.2,
        backoff_jitter=0.2,
        backoff_max=2.0,
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    retries.attempt_seconds = attempt_seconds
    return retries
