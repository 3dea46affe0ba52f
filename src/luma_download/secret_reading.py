"""One secret read from Secrets Manager through Powertools: cached, shared, waited for until a deadline.

The aggregator token (``aggregator.secret_token``) and the CloudFront private key
(``archive.cdn_links.SigningKey``) are read this way. A read that has to go to Secrets Manager runs on
a thread of its own, and the request waits for it only as long as its deadline allows: a hanging
Secrets Manager costs the request its remaining time, not the SDK's retries (the read itself ends by
the SDK's own timeouts). Callers that need a read while one is in flight (a batch's workers) wait for
that one: one paid ``GetSecretValue``.

Errors name the secret by what it is for (``what``: "token", "CloudFront key"), never by its value.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError

from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from luma_download.errors import (
    ConfigurationError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    aws_error_code,
)
from luma_download.model import Deadline
from luma_download.off_thread import start

# Secrets Manager's passing faults: retryable (503), not a misconfiguration.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class SecretReader:
    """One secret: ``get`` answers the last read while it is fresh (``max_age`` seconds), else reads."""

    def __init__(self, provider: BaseProvider, secret_id: str, max_age: int, *, what: str) -> None:
        self.what = what
        self._provider = provider
        self._secret_id = secret_id
        self._max_age = max_age
        # The value last read and the instant it goes stale, as one tuple: a reader never sees
        # one's value with another's age. The provider hands back the same object while it caches it.
        self._cached: tuple[object, float] | None = None
        self._lock = threading.Lock()
        # The read now going to Secrets Manager, for concurrent callers to share.
        self._reading: Future[object] | None = None

    def clear(self) -> None:
        """Forget the cached read (as a new container would start); the provider's cache too."""
        self._provider.clear_cache()  # type: ignore[no-untyped-call]
        self._cached = None

    def get(self, deadline: Deadline) -> object:
        """The secret's value: the last read's while it is fresh, else read before ``deadline``.

        A fresh value is answered without asking the provider: its cache may have aged out first,
        and then it would fetch right here, bounded by the SDK's timeouts instead of ``deadline``.
        """
        cached = self._cached
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        return self.read(deadline, force_fetch=False)

    def in_flight(self) -> Future[object] | None:
        """The read on its way to Secrets Manager now (another caller's), if any."""
        return self._reading

    def read(self, deadline: Deadline, *, force_fetch: bool) -> object:
        """The secret, read on a thread of its own (or the read in flight, joined), waited for until
        ``deadline``. A read given up on is not joined later: a stuck read holds up no later invocation;
        it ends by the SDK's own timeouts, its answer unused."""
        self.time_left(deadline)
        return self.wait(self.begin(force_fetch=force_fetch), deadline)

    def begin(self, *, force_fetch: bool) -> Future[object]:
        """Start a read, or join the one in flight; ``wait`` for its answer."""
        with self._lock:
            future = self._reading
            if future is None:
                # Forgotten before it settles: a caller from then on finds the fresh cache, or reads anew.
                future = self._reading = start(
                    lambda: self._read(force_fetch=force_fetch),
                    name="secret-read",
                    before_settling=self._forget,
                )
        return future

    def wait(self, future: Future[object], deadline: Deadline) -> object:
        """``future``'s value (a read from ``begin``), waited for until ``deadline``."""
        remaining = self.time_left(deadline)
        try:
            return future.result(timeout=remaining)
        except FutureTimeoutError:
            self._forget(future)
            raise UpstreamTimeoutError(
                "Secrets Manager did not answer in time", detail=f"GetSecretValue ({self.what}): no answer"
            ) from None

    def time_left(self, deadline: Deadline) -> float:
        """What ``deadline`` leaves to wait; none left: ``UpstreamTimeoutError``, naming the secret."""
        remaining = deadline.remaining()
        if remaining <= 0:
            raise UpstreamTimeoutError(f"out of time before reading the {self.what}")
        return remaining

    def _forget(self, future: Future[object]) -> None:
        with self._lock:
            if self._reading is future:
                self._reading = None

    def _read(self, *, force_fetch: bool) -> object:
        # Counted from before the call: ends no later than the provider's own cache of what it fetches.
        fresh_until = time.monotonic() + self._max_age
        try:
            raw = self._provider.get(self._secret_id, max_age=self._max_age, force_fetch=force_fetch)
        except GetParameterError as exc:
            raise secret_error(exc.__context__, self.what) from None
        cached = self._cached
        if cached is None or cached[0] is not raw:
            self._cached = (raw, fresh_until)  # a value fetched now (a cached one keeps its own age)
        return raw


def secret_error(cause: BaseException | None, what: str) -> Exception:
    """Powertools wraps the SDK's error; its implicit context says what really happened."""
    # Refused, reset, closed early, timed out: the transport failed, not the configuration.
    if isinstance(cause, BotocoreConnectionError | HTTPClientError):
        return UpstreamUnavailableError(
            "Secrets Manager is unreachable",
            retry_after=5,
            detail=f"GetSecretValue ({what}): {type(cause).__name__}",
        )
    if isinstance(cause, ClientError):
        error_code = aws_error_code(cause, "ClientError")
    else:
        error_code = type(cause).__name__
    if error_code in TRANSIENT_ERROR_CODES:
        return UpstreamUnavailableError(
            "Secrets Manager is unavailable; try again",
            retry_after=5,
            detail=f"GetSecretValue ({what}): {error_code}",
        )
    return ConfigurationError(f"{what} secret could not be read ({error_code})")
